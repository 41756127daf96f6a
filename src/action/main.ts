import * as core from '@actions/core';
import { parseDuration } from '../config/duration.js';
import { ConfigError, ENV_INPUT_SOURCE } from '../config/problems.js';
import {
  deploy,
  failedReport,
  formatStatus,
  rollback,
  snapshotCommand,
  status,
  unlock,
  versions,
  type EngineContext,
  type OperationReport,
  type SnapshotSub,
} from '../engine/index.js';
import { DeployError, describeError, exitCodeOf } from '../errors.js';
import { postDeploymentStatus } from '../github/deployment-status.js';
import { makeCiGate } from '../github/gate-adapter.js';
import { escapeCode, escapeText, renderSummary } from '../github/summary.js';
import { Redactor } from '../log/redact.js';
import { ciRunUrl, openSession, type Session, type SessionOptions } from '../session.js';
import { actionsBuildCache } from './build-cache.js';
import { ActionReporter } from './reporter.js';
import { readInputs, splitList, type Inputs } from './inputs.js';
import { STATE_SSH } from './post.js';

/** The action's main step: inputs → session → engine → outputs, summary and deployment status. */
export async function run(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const started = Date.now();
  const redactor = new Redactor();
  redactor.setSink((s) => core.setSecret(s));
  let session: Session | undefined;
  let inputs: Inputs | undefined;
  try {
    inputs = readInputs(env);
    redactor.add(inputs['ssh-private-key'].trim());
    redactor.add(inputs['ssh-passphrase']);
    redactor.add(inputs['github-token']);
    redactor.add(inputs['webhook-secret']);
    redactor.add(inputs['rclone-config']);
    redactor.add(inputs['snapshot-identity']);
    session = openSession(sessionOptions(inputs, env, redactor));
    session.ctx.buildCache = actionsBuildCache(env, env.GITHUB_SHA);
    await COMMANDS[inputs.command](session, { inputs, env, redactor });
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) {
        // an annotation can point only at a file of the repository, not at the env-file input's content
        const at = p.file === ENV_INPUT_SOURCE ? {} : { file: p.file, startLine: p.line };
        const where = p.file === ENV_INPUT_SOURCE ? `${p.file}${p.line ? `:${p.line}` : ''} ` : '';
        const fix = p.remedy ? ` — fix: ${p.remedy}` : '';
        core.error(redactor.redact(`${where}${p.path ? `${p.path}: ` : ''}${p.message}${fix}`), {
          title: 'togather-deploy configuration',
          ...at,
        });
      }
    }
    core.setFailed(redactor.redact(describeError(e)));
    process.exitCode = exitCodeOf(e);
    if (inputs?.command === 'deploy')
      await reportFailure(failureReport(e, inputs.environment, redactor, Date.now() - started), e, {
        inputs,
        env,
        redactor,
      }).catch(() => undefined);
  } finally {
    await session?.close().catch(() => undefined);
  }
}

function sessionOptions(i: Inputs, env: NodeJS.ProcessEnv, redactor: Redactor): SessionOptions {
  return {
    configPath: i.config,
    environment: i.environment,
    envFileContent: i['env-file'] || undefined,
    credentials: {
      privateKey: i['ssh-private-key'],
      knownHosts: i['ssh-known-hosts'],
      passphrase: i['ssh-passphrase'] || undefined,
    },
    actor: env.GITHUB_ACTOR ? `${env.GITHUB_ACTOR} (GitHub Actions run ${env.GITHUB_RUN_ID ?? '?'})` : 'github-actions',
    dryRun: i['dry-run'],
    redactor,
    makeReporter: (r) => new ActionReporter(r),
    repoDir: env.GITHUB_WORKSPACE,
    onSshPrepared: (host) => core.saveState(STATE_SSH, JSON.stringify(host.session)),
    webhookSecret: i['webhook-secret'] || undefined,
    offsite: {
      rcloneConfig: i['rclone-config'] || env.TOGATHER_RCLONE_CONFIG,
      identity: i['snapshot-identity'] || env.TOGATHER_SNAPSHOT_IDENTITY,
    },
  };
}

/** What a command reads besides the session: the step's inputs, its environment and the redactor of its secrets. */
export interface Step {
  inputs: Inputs;
  env: NodeJS.ProcessEnv;
  redactor: Redactor;
}

type Command = Inputs['command'];

/** snapshot = snapshot-create; snapshot-X runs the engine's snapshot X */
async function snapshotStep({ ctx }: Session, { inputs: i, redactor }: Step): Promise<void> {
  const sub = (i.command === 'snapshot' ? 'create' : i.command.slice('snapshot-'.length)) as SnapshotSub;
  const out = await snapshotCommand(ctx, {
    sub,
    file: i.snapshot || undefined,
    stopApp: i['stop-app'],
    fromOffsite: i['from-offsite'],
    confirmed: i.confirm === i.environment,
  });
  const text = redactor.redact(out.text);
  core.info(text);
  const data = out.data as { snapshot?: { file?: string }; restored?: string };
  core.setOutput('snapshot', data.snapshot?.file ?? data.restored ?? '');
  core.setOutput('duration-seconds', (out.report.durationMs / 1000).toFixed(1));
  await core.summary
    .addHeading(`togather-deploy snapshot ${escapeText(sub)}: ${escapeText(i.environment)}`, 3)
    .addCodeBlock(escapeCode(text))
    .write();
}

/** Each command: inputs → the engine's request, and its report → outputs, log and job summary. */
const COMMANDS: Record<Command, (session: Session, step: Step) => Promise<void>> = {
  deploy: async ({ ctx }, step) => {
    const { inputs: i, env } = step;
    const gate = makeCiGate(env, ctx.reporter, {
      token: i['github-token'] || undefined,
      required: splitList(i['required-checks']),
      timeoutMs: parseDuration(i['ci-timeout']),
    });
    if (!gate && !i['skip-ci-check']) {
      throw new DeployError(
        'ciGate',
        'cannot check that this commit passed CI: no github-token or GITHUB_REPOSITORY',
        'pass github-token (the default is the job token), or set skip-ci-check: true deliberately',
      );
    }
    const report = await deploy(ctx, {
      version: i.version || env.GITHUB_SHA || 'HEAD',
      skipCiCheck: i['skip-ci-check'],
      skipMigrations: i['skip-migrations'],
      force: i.force,
      ciGate: gate,
    });
    await publish(report, step);
  },
  rollback: (session, step) => rollbackStep(session, step),
  versions: async (session, { inputs: i, redactor }) => {
    await session.host.connect();
    await versionsSummary(session.ctx, i.environment, redactor);
  },
  snapshot: snapshotStep,
  'snapshot-create': snapshotStep,
  'snapshot-list': snapshotStep,
  'snapshot-verify': snapshotStep,
  'snapshot-cleanup': snapshotStep,
  'snapshot-restore': snapshotStep,
  'snapshot-copy': snapshotStep,
  'snapshot-check': snapshotStep,
  status: async (session, { inputs: i, redactor }) => {
    await session.host.connect();
    const s = await status(session.ctx);
    core.info(formatStatus(s));
    core.setOutput('version', s.state.current?.version ?? '');
    core.setOutput('colour', s.live ?? '');
    core.setOutput('previous-version', s.state.previous?.version ?? '');
    await core.summary
      .addHeading(`togather-deploy status: ${escapeText(i.environment)}`, 3)
      .addCodeBlock(escapeCode(redactor.redact(formatStatus(s))))
      .write();
  },
  unlock: async ({ ctx }, { inputs: i }) => {
    // no prompt in a workflow: the confirm input is the only confirmation
    const r = await unlock(ctx, { confirmed: i.confirm === i.environment });
    if (r.result === 'refused')
      throw new DeployError(
        'refused',
        'unlock needs confirmation',
        `set confirm: ${i.environment} to remove this lock`,
      );
    if (r.result === 'changed')
      throw new DeployError('lock', 'the lock changed meanwhile (or is being taken right now); nothing removed');
    if (r.result === 'removed') core.info(`lock removed by ${ctx.actor}`);
  },
};

/** The engine verbs the rollback step calls: the real ones, or fakes in the unit tests. */
export interface RollbackVerbs {
  rollback: typeof rollback;
  versions: typeof versions;
}

/**
 * A rollback, and the picker around it: a dry run, or a rollback refused for want of a version that can be
 * rolled back to, also writes the candidates to the job summary, so the next run can name one.
 */
export async function rollbackStep(
  { ctx }: Pick<Session, 'ctx'>,
  step: Step,
  verbs: RollbackVerbs = { rollback, versions },
): Promise<void> {
  const { inputs: i, redactor } = step;
  let report: OperationReport;
  try {
    report = await verbs.rollback(ctx, { version: i.version || undefined, confirmed: i.confirm === i.environment });
  } catch (e) {
    // with no or an unknown version, the summary shows what can be rolled back to: the picker
    if (e instanceof DeployError && e.kind === 'refused')
      await versionsSummary(ctx, i.environment, redactor, verbs.versions).catch(() => undefined);
    throw e;
  }
  await publish(report, step);
  if (i['dry-run'])
    await versionsSummary(ctx, i.environment, redactor, verbs.versions).catch((e: unknown) =>
      core.warning(redactor.redact(`could not list the versions that can be rolled back to: ${describeError(e)}`)),
    );
}

async function publish(report: OperationReport, { inputs, env, redactor }: Step): Promise<void> {
  core.setOutput('deployment-id', report.deploymentId ?? '');
  core.setOutput('version', report.version ?? '');
  core.setOutput('colour', report.colour ?? '');
  core.setOutput('previous-version', report.previousVersion ?? '');
  core.setOutput('url', report.url ?? '');
  core.setOutput('duration-seconds', (report.durationMs / 1000).toFixed(1));
  core.setOutput('snapshot', report.record?.snapshot ?? '');
  await core.summary.addRaw(redactor.redact(renderSummary(report, { runUrl: ciRunUrl(env) }))).write();
  if (!inputs['dry-run']) await deploymentStatus('success', report.message, report.url, { inputs, env, redactor });
}

/** A failed deploy's report: the engine's own when it got that far (its phases, what serves), else this step's time. */
export function failureReport(e: unknown, environment: string, redactor: Redactor, elapsedMs: number): OperationReport {
  const report = failedReport(e);
  if (report) return { ...report, message: redactor.redact(report.message) };
  return {
    operation: 'deploy',
    ok: false,
    exitCode: exitCodeOf(e),
    environment,
    durationMs: elapsedMs,
    phases: [],
    message: redactor.redact(describeError(e)),
  };
}

async function reportFailure(report: OperationReport, e: unknown, step: Step): Promise<void> {
  const { inputs, env, redactor } = step;
  await core.summary.addRaw(redactor.redact(renderSummary(report, { runUrl: ciRunUrl(env) }))).write();
  if (!inputs['dry-run'] && !(e instanceof ConfigError))
    await deploymentStatus('failure', report.message, undefined, step);
}

async function deploymentStatus(
  state: 'success' | 'failure',
  message: string,
  url: string | undefined,
  { inputs, env, redactor }: Step,
): Promise<void> {
  const token = inputs['github-token'];
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  if (!token || !owner || !repo || !env.GITHUB_SHA) return;
  const r = await postDeploymentStatus({
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    token,
    owner,
    repo,
    sha: env.GITHUB_SHA,
    // the deployment GitHub created for this job is on the job's GitHub environment
    environment: inputs['github-environment'] || inputs.environment,
    state,
    environmentUrl: url,
    logUrl: ciRunUrl(env),
    description: message,
    redact: (t) => redactor.redact(t),
  });
  if (r.warning) core.warning(redactor.redact(r.warning));
}

/** the rollback picker in the job summary: versions with age, outcome and whether their image is still there */
async function versionsSummary(
  ctx: EngineContext,
  environment: string,
  redactor: Redactor,
  list: typeof versions = versions,
): Promise<void> {
  const { text } = await list(ctx);
  core.info(text);
  await core.summary
    .addHeading(`Versions of ${escapeText(environment)} that can be rolled back to`, 3)
    .addCodeBlock(escapeCode(redactor.redact(text)))
    .addRaw('<p>Run the rollback workflow again with one of these in <code>version</code> (empty = the default).</p>')
    .write();
}
