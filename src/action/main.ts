import * as core from '@actions/core';
import { parseDuration } from '../config/duration.js';
import { ConfigError, ENV_INPUT_SOURCE } from '../config/problems.js';
import { Layout, deploy, describeLockView, failedReport, forceRemoveLock, formatCandidates, formatStatus, inspectLock, listVersions, rollback, snapshotCommand, status, type EngineContext, type OperationReport, type SnapshotSub } from '../engine/index.js';
import { DeployError, describeError, exitCodeOf } from '../errors.js';
import { postDeploymentStatus } from '../github/deployment-status.js';
import { makeCiGate } from '../github/gate-adapter.js';
import { renderSummary } from '../github/summary.js';
import { Redactor } from '../log/redact.js';
import { openSession, type Session } from '../session.js';
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
    const i = inputs;
    session = openSession({
      configPath: i.config,
      environment: i.environment,
      envFileContent: i['env-file'] || undefined,
      credentials: { privateKey: i['ssh-private-key'], knownHosts: i['ssh-known-hosts'], passphrase: i['ssh-passphrase'] || undefined },
      actor: env.GITHUB_ACTOR ? `${env.GITHUB_ACTOR} (GitHub Actions run ${env.GITHUB_RUN_ID ?? '?'})` : 'github-actions',
      dryRun: i['dry-run'],
      redactor,
      makeReporter: (r) => new ActionReporter(r),
      repoDir: env.GITHUB_WORKSPACE,
      onSshPrepared: (host) => core.saveState(STATE_SSH, JSON.stringify(host.session)),
      webhookSecret: i['webhook-secret'] || undefined,
    });
    const { ctx } = session;
    ctx.buildCache = actionsBuildCache(env, env.GITHUB_SHA);
    switch (i.command) {
      case 'deploy': {
        const gate = makeCiGate(env, ctx.reporter, { token: i['github-token'] || undefined, required: splitList(i['required-checks']), timeoutMs: parseDuration(i['ci-timeout']) });
        if (!gate && !i['skip-ci-check']) {
          throw new DeployError('ciGate', 'cannot check that this commit passed CI: no github-token or GITHUB_REPOSITORY', 'pass github-token (the default is the job token), or set skip-ci-check: true deliberately');
        }
        const report = await deploy(ctx, { version: i.version || env.GITHUB_SHA || 'HEAD', skipCiCheck: i['skip-ci-check'], skipMigrations: i['skip-migrations'], force: i.force, ciGate: gate });
        await publish(report, env, inputs, redactor);
        break;
      }
      case 'rollback': {
        try {
          const report = await rollback(ctx, { version: i.version || undefined, confirmed: i.confirm === i.environment });
          await publish(report, env, inputs, redactor);
        } catch (e) {
          // with no or an unknown version, the summary shows what can be rolled back to: the picker
          if (e instanceof DeployError && e.kind === 'refused') await versionsSummary(ctx, i.environment, redactor).catch(() => undefined);
          throw e;
        }
        break;
      }
      case 'versions': {
        await session.host.connect();
        await versionsSummary(ctx, i.environment, redactor);
        break;
      }
      case 'snapshot':
      case 'snapshot-create':
      case 'snapshot-list':
      case 'snapshot-verify':
      case 'snapshot-cleanup':
      case 'snapshot-restore': {
        const sub = (i.command === 'snapshot' ? 'create' : i.command.slice('snapshot-'.length)) as SnapshotSub;
        const out = await snapshotCommand(ctx, { sub, file: i.snapshot || undefined, stopApp: i['stop-app'], confirmed: i.confirm === i.environment });
        const text = redactor.redact(out.text);
        core.info(text);
        const data = out.data as { snapshot?: { file?: string }; restored?: string };
        core.setOutput('snapshot', data.snapshot?.file ?? data.restored ?? '');
        core.setOutput('duration-seconds', (out.report.durationMs / 1000).toFixed(1));
        await core.summary.addHeading(`togather-deploy snapshot ${escapeHtml(sub)}: ${escapeHtml(i.environment)}`, 3).addCodeBlock(escapeHtml(text)).write();
        break;
      }
      case 'status': {
        await session.host.connect();
        const s = await status(ctx);
        core.info(formatStatus(s));
        core.setOutput('version', s.state.current?.version ?? '');
        core.setOutput('colour', s.live ?? '');
        core.setOutput('previous-version', s.state.previous?.version ?? '');
        await core.summary.addHeading(`togather-deploy status: ${escapeHtml(i.environment)}`, 3).addCodeBlock(escapeHtml(redactor.redact(formatStatus(s)))).write();
        break;
      }
      case 'unlock': {
        await session.host.connect();
        const layout = new Layout(ctx.cfg);
        const view = await inspectLock(ctx, layout);
        if (view.kind === 'free') {
          core.info(`${i.environment} is not locked`);
          break;
        }
        core.info(describeLockView(view));
        if (i.confirm !== i.environment) {
          throw new DeployError('refused', 'unlock needs confirmation', `set confirm: ${i.environment} to remove this lock`);
        }
        if (!(await forceRemoveLock(ctx, layout, view))) throw new DeployError('lock', 'the lock changed meanwhile (or is being taken right now); nothing removed');
        core.info(`lock removed by ${ctx.actor}`);
        break;
      }
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) {
        // an annotation can point only at a file of the repository, not at the env-file input's content
        const at = p.file === ENV_INPUT_SOURCE ? {} : { file: p.file, startLine: p.line };
        core.error(redactor.redact(`${p.file === ENV_INPUT_SOURCE ? `${p.file}${p.line ? `:${p.line}` : ''} ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}${p.remedy ? ` — fix: ${p.remedy}` : ''}`), { title: 'togather-deploy configuration', ...at });
      }
    }
    core.setFailed(redactor.redact(describeError(e)));
    process.exitCode = exitCodeOf(e);
    if (inputs?.command === 'deploy') await reportFailure(failureReport(e, inputs.environment, redactor, Date.now() - started), e, env, inputs, redactor).catch(() => undefined);
  } finally {
    await session?.host.close().catch(() => undefined);
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function runUrl(env: NodeJS.ProcessEnv): string | undefined {
  return env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
}

async function publish(report: OperationReport, env: NodeJS.ProcessEnv, inputs: Inputs, redactor: Redactor): Promise<void> {
  core.setOutput('deployment-id', report.deploymentId ?? '');
  core.setOutput('version', report.version ?? '');
  core.setOutput('colour', report.colour ?? '');
  core.setOutput('previous-version', report.previousVersion ?? '');
  core.setOutput('url', report.url ?? '');
  core.setOutput('duration-seconds', (report.durationMs / 1000).toFixed(1));
  core.setOutput('snapshot', report.record?.snapshot ?? '');
  await core.summary.addRaw(redactor.redact(renderSummary(report, { runUrl: runUrl(env) }))).write();
  if (!inputs['dry-run']) await deploymentStatus('success', report.message, report.url, env, inputs, redactor);
}

/** A failed deploy's report: the engine's own when it got that far (its phases, what serves), else this step's time. */
export function failureReport(e: unknown, environment: string, redactor: Redactor, elapsedMs: number): OperationReport {
  const report = failedReport(e);
  if (report) return { ...report, message: redactor.redact(report.message) };
  return { operation: 'deploy', ok: false, exitCode: exitCodeOf(e), environment, durationMs: elapsedMs, phases: [], message: redactor.redact(describeError(e)) };
}

async function reportFailure(report: OperationReport, e: unknown, env: NodeJS.ProcessEnv, inputs: Inputs, redactor: Redactor): Promise<void> {
  await core.summary.addRaw(redactor.redact(renderSummary(report, { runUrl: runUrl(env) }))).write();
  if (!inputs['dry-run'] && !(e instanceof ConfigError)) await deploymentStatus('failure', report.message, undefined, env, inputs, redactor);
}

async function deploymentStatus(state: 'success' | 'failure', message: string, url: string | undefined, env: NodeJS.ProcessEnv, inputs: Inputs, redactor: Redactor): Promise<void> {
  const token = inputs['github-token'];
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? '').split('/');
  if (!token || !owner || !repo || !env.GITHUB_SHA) return;
  const r = await postDeploymentStatus({
    apiUrl: env.GITHUB_API_URL ?? 'https://api.github.com',
    token,
    owner,
    repo,
    sha: env.GITHUB_SHA,
    environment: inputs.environment,
    state,
    environmentUrl: url,
    logUrl: runUrl(env),
    description: message,
    redact: (t) => redactor.redact(t),
  });
  if (r.warning) core.warning(redactor.redact(r.warning));
}

/** the rollback picker in the job summary: versions with age, outcome and whether their image is still there */
async function versionsSummary(ctx: EngineContext, environment: string, redactor: Redactor): Promise<void> {
  const v = await listVersions(ctx);
  const text = `current: ${v.current ? `${v.current.version} (${v.current.ref ?? ''}) since ${v.current.deployed_at}` : 'none'}\ncan roll back to:\n${formatCandidates(v.candidates)}`;
  core.info(text);
  await core.summary
    .addHeading(`Versions of ${escapeHtml(environment)} that can be rolled back to`, 3)
    .addCodeBlock(escapeHtml(redactor.redact(text)))
    .addRaw('<p>Run the rollback workflow again with one of these in <code>version</code> (empty = the default).</p>')
    .write();
}
