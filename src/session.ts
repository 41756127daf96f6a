import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type ResolvedConfig } from './config/load.js';
import { checkIdentity } from './crypto/age.js';
import { ConfigError } from './config/problems.js';
import { monitoringProblems, realClock, type Clock, type EngineContext, type OffsiteKeys } from './engine/index.js';
import { LocalMachine } from './host/local.js';
import { SshHost, type SshCredentials } from './host/ssh.js';
import { Redactor } from './log/redact.js';
import type { Reporter } from './log/reporter.js';
import { Notifier } from './notify/notifier.js';
import { resolveNotifySettings } from './notify/settings.js';

/** What both adapters (action, CLI) gather before the engine runs. */
export interface SessionOptions {
  configPath: string;
  environment: string;
  envFileContent?: string;
  envFilePath?: string;
  overrides?: Record<string, string>;
  credentials: SshCredentials;
  actor: string;
  dryRun: boolean;
  redactor: Redactor;
  makeReporter: (redactor: Redactor) => Reporter;
  /** the clone used to resolve versions and build images */
  repoDir?: string;
  clock?: Clock;
  /** where SSH key copies and the control socket live; a fresh private temp dir by default */
  sshWorkDir?: string;
  onSshPrepared?: (host: SshHost) => void;
  /** the action's webhook-secret input (HMAC key of notifications.webhook) */
  webhookSecret?: string;
  /** database.snapshots.offsite: an rclone.conf's content and the age identity (secret key) for restores */
  offsite?: { rcloneConfig?: string; identity?: string };
}

export interface Session {
  ctx: EngineContext;
  host: SshHost;
  cfg: ResolvedConfig;
  /** closes every SSH connection the session opened: the host's, and a swarm's node connections */
  close(): Promise<void>;
}

/**
 * Loads and validates all configuration first (a ConfigError lists every problem and nothing is touched),
 * then prepares — but does not open — the SSH connection.
 */
export function openSession(o: SessionOptions): Session {
  const redactor = o.redactor;
  const reporter = o.makeReporter(redactor);
  const cfg = loadConfig({
    configPath: o.configPath,
    environment: o.environment,
    envFileContent: o.envFileContent,
    envFilePath: o.envFilePath,
    processEnv: process.env,
    overrides: o.overrides,
    redactor,
    cwd: o.repoDir,
  });
  // before anything can print them: the channels' URLs and keys become secrets, and a missing one is a config error
  const notifySettings = resolveNotifySettings(cfg, {
    processEnv: process.env,
    webhookSecret: o.webhookSecret,
    redactor,
  });
  const monitoring = monitoringProblems(cfg, process.env);
  if (monitoring.length) throw new ConfigError(monitoring);
  const identities = offsiteIdentities(o.offsite?.identity, redactor);
  const host = SshHost.prepare({
    target: { host: cfg.env.host, port: cfg.env.port, user: cfg.env.user },
    credentials: o.credentials,
    redactor,
    workDir: o.sshWorkDir,
    log: (l) => reporter.warn(l),
  });
  o.onSshPrepared?.(host);
  const offsiteKeys = offsiteKeysOf(o.offsite, identities, host.session.workDir, redactor);
  const ctx: EngineContext = {
    cfg,
    host,
    local: new LocalMachine(redactor, process.env, o.repoDir),
    reporter,
    redactor,
    clock: o.clock ?? realClock,
    actor: o.actor,
    // the local docker client follows DOCKER_HOST like any docker command would
    localDockerEnv: {},
    dryRun: o.dryRun,
    runUrl: ciRunUrl(process.env),
    ...(offsiteKeys ? { offsiteKeys } : {}),
  };
  const notifier = new Notifier(notifySettings, { userAgent: 'togather-deploy' });
  if (notifier.enabled) ctx.notifier = notifier;
  const nodes = swarmNodeHosts(cfg, o, redactor, (l) => reporter.warn(l));
  if (nodes) ctx.nodeHosts = nodes.get;
  const close = async () => {
    await Promise.all((nodes?.opened() ?? []).map((n) => n.close().catch(() => undefined)));
    await host.close();
  };
  return { ctx, host, cfg, close };
}

/**
 * provider.kind swarm: an SSH host per listed node, with the environment's key and pinned known_hosts, through
 * the manager unless the node says `via: direct`. Prepared on first use (only image shipping and pruning need
 * them), so an operation that never ships opens none.
 */
function swarmNodeHosts(
  cfg: ResolvedConfig,
  o: SessionOptions,
  redactor: Redactor,
  log: (line: string) => void,
): { get: () => { name: string; host: SshHost }[]; opened: () => SshHost[] } | undefined {
  const p = cfg.provider;
  if (p.kind !== 'swarm' || p.nodes.length === 0) return undefined;
  const manager = { host: cfg.env.host, port: cfg.env.port, user: cfg.env.user };
  let hosts: { name: string; host: SshHost }[] | undefined;
  const get = () =>
    (hosts ??= p.nodes.map((n) => ({
      name: n.host,
      host: SshHost.prepare({
        target: { host: n.host, port: n.port ?? cfg.env.port, user: n.user ?? cfg.env.user },
        credentials: o.credentials,
        redactor,
        log,
        ...(n.via === 'manager' ? { via: manager } : {}),
      }),
    })));
  return { get, opened: () => (hosts ?? []).map((h) => h.host) };
}

/** rclone.conf lines whose value is a credential (rclone obscures passwords, but obscured is not encrypted) */
const RCLONE_SECRET_KEY =
  /^\s*[A-Za-z0-9_]*(pass|secret|key|token|account|user|client_id)[A-Za-z0-9_]*\s*=\s*(\S.*?)\s*$/i;

/** the age identities (one a line, # comments allowed): registered with the redactor, then checked */
export function offsiteIdentities(text: string | undefined, redactor: Redactor): string[] {
  const identities = (text ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  identities.forEach((id) => redactor.add(id));
  identities.forEach((id) => checkIdentity(id));
  return identities;
}

/**
 * The off-site copies' secrets for the engine. The rclone.conf is registered with the redactor, then written
 * 0600 into the session's private directory beside the SSH key, which close() (and the action's post step)
 * removes; rclone finds it through RCLONE_CONFIG.
 */
export function offsiteKeysOf(
  o: SessionOptions['offsite'],
  identities: string[],
  workDir: string,
  redactor: Redactor,
): OffsiteKeys | undefined {
  if (!o?.rcloneConfig) return identities.length ? { identities } : undefined;
  redactor.add(o.rcloneConfig);
  for (const line of o.rcloneConfig.split(/\r?\n/)) redactor.add(RCLONE_SECRET_KEY.exec(line)?.[2]);
  const path = join(workDir, 'rclone.conf');
  writeFileSync(path, o.rcloneConfig.replace(/\r\n/g, '\n'), { mode: 0o600 });
  return { identities, rcloneEnv: { RCLONE_CONFIG: path } };
}

/** the GitHub Actions run this process belongs to, if any (the CLI can run inside a workflow too) */
export function ciRunUrl(env: Record<string, string | undefined>): string | undefined {
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repo, GITHUB_RUN_ID: run } = env;
  return server && repo && run ? `${server}/${repo}/actions/runs/${run}` : undefined;
}
