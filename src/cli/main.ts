import { existsSync } from 'node:fs';
import { userInfo, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/problems.js';
import {
  targetFor,
  Layout,
  SNAPSHOT_SUBCOMMANDS,
  cleanup,
  deploy,
  failedReport,
  formatSetup,
  formatStatus,
  rollback,
  setup,
  snapshotCommand,
  status,
  unlock,
  versions,
  type OperationReport,
  type SnapshotSub,
} from '../engine/index.js';
import { DeployError, ExitCode, describeError, exitCodeOf } from '../errors.js';
import { ConsoleReporter } from '../log/console-reporter.js';
import { Redactor } from '../log/redact.js';
import { openSession, type Session } from '../session.js';

const USAGE = `togather-deploy — zero-downtime blue-green deploys of the Togather server over SSH

usage: togather-deploy init [--dir DIR] [init options]
       togather-deploy <command> <environment> [options]
       togather-deploy snapshot <create|list|verify|cleanup|restore|copy|check> <environment> [file] [options]

commands:
  init        in your server repository: write config/deployment.yml, env files with CHANGE_ME secrets,
              config/known_hosts (host keys scanned, fingerprints confirmed), .gitignore lines, the app
              Dockerfile if there is none, and the deploy, rollback and snapshot caller workflows; never
              overwrites without --force, so it can be rerun
  deploy      build/ship the version, health-gate it, switch the proxy, retire the old colour
  rollback    back to the previous good version, or --version V from the history; same gate and switch
  versions    what can be rolled back to, with age and outcome
  status      what serves now, previous version, proxy answer, lock holder (--json for machines)
  validate    check the config, env file, SSH key and pinned host key without connecting (--json)
  setup       check over SSH what the host needs (Docker, compose, disk, ports, clock, log rotation), create the
              stack directory, print the root commands for the rest (--install runs them with passwordless sudo)
  unlock      remove a held lock after showing its holder (asks, or --yes); recorded in audit.jsonl
  cleanup     remove old images, logs and lock leftovers per retention (--dry-run lists them)
  snapshot create|list|verify|cleanup <environment>
              database snapshots: take one (pg_dump, verified, then retention; copied off the host when
              database.snapshots.offsite is set), list (host and off-site), check, apply retention (both)
  snapshot copy <environment> [file]
              encrypt a snapshot (default: the newest) with age and upload it with rclone (offsite)
  snapshot check <environment>
              fail (exit 8) and notify when the newest snapshot is older than database.snapshots.max_age
  snapshot restore <environment> <file> --stop-app [--from-offsite]
              put a snapshot back: asks (or --yes), stops the app meanwhile, takes a safety snapshot first;
              --from-offsite fetches, decrypts and verifies the off-site copy first

init options (asked on a terminal when not given):
      --dir DIR            the repository to write into (default .)
      --environments LIST  comma-separated environment names (default staging,production)
      --host [ENV=]HOST    SSH host of every environment, or of one (repeatable)
      --domain ENV=NAME    public name of an environment, for automatic HTTPS (repeatable; none: plain HTTP)
      --user USER          deploy user on the hosts (default deploy)
      --ssh-port N         SSH port (default 22)
      --http-port [ENV=]N  the proxy's HTTP port, of every environment or of one (repeatable; default 80)
      --https-port [ENV=]N the proxy's HTTPS port, likewise (default 443); two environments on one server
                           without the front proxy need different ports, and only the one on 80/443 gets
                           automatic HTTPS
      --front              every environment behind its host's shared front proxy, which holds 80/443 and
                           every certificate (each needs a --domain); the default when environments share a
                           server and each has a domain and no port flag (asked on a terminal)
      --no-front           never the front proxy: environments sharing a server need their own ports
      --image REPO         image repository without tag (default ghcr.io/<owner>/<repo> of the git origin)
      --fingerprint FP     a host key fingerprint (SHA256:…) you verified, accepted without asking (repeatable)
      --non-interactive    ask nothing: take flags and defaults; a host key needs --fingerprint
      --force              overwrite files that differ (never an env file holding your values)

options:
  -c, --config FILE        deployment.yml (default config/deployment.yml)
      --version REF        commit SHA, tag or branch to deploy (default HEAD)
      --env-file FILE      the environment's env file (default: environments.<env>.env_file)
  -i, --identity FILE      SSH private key of the deploy user
      --known-hosts FILE   known_hosts pinning the host key (default: known_hosts beside the config, as init
                           writes it; unknown keys are refused)
      --passphrase-env VAR read the key's passphrase from this environment variable
      --set KEY=VALUE      override an app setting (repeatable; wins over env file and environment)
      --repo DIR           the git clone to resolve and build versions from (default .)
      --dry-run            validate, connect, preflight and print the plan; change nothing
      --skip-ci-check      deploy without the CI check (recorded in the history)
      --skip-migrations    do not run migrations (recorded in the history)
      --force              redeploy a version that is already live
      --install            setup: run the root commands with sudo -n (never Docker's own installer)
      --stop-app           snapshot restore: stop the app for the restore, bring it back after
      --from-offsite       snapshot restore: fetch the file from the off-site copies first
      --json               machine-readable output (status, versions, validate, setup, snapshot)
  -y, --yes                answer yes to confirmations
  -v, --verbose            debug output
  -h, --help               this text

The CI check needs GITHUB_TOKEN and GITHUB_REPOSITORY (owner/repo) in the environment; without them a deploy
is refused unless --skip-ci-check is given. Off-site snapshot copies use rclone's own configuration
(RCLONE_CONFIG_<NAME>_* variables) or the rclone.conf content in TOGATHER_RCLONE_CONFIG; restoring one needs
the age secret key in TOGATHER_SNAPSHOT_IDENTITY. Exit codes: docs/troubleshooting.md.`;

const OPTIONS = {
  config: { type: 'string', short: 'c', default: 'config/deployment.yml' },
  version: { type: 'string' },
  'env-file': { type: 'string' },
  identity: { type: 'string', short: 'i' },
  'known-hosts': { type: 'string' },
  'passphrase-env': { type: 'string' },
  set: { type: 'string', multiple: true },
  repo: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  'skip-ci-check': { type: 'boolean', default: false },
  'skip-migrations': { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  'stop-app': { type: 'boolean', default: false },
  'from-offsite': { type: 'boolean', default: false },
  install: { type: 'boolean', default: false },
  dir: { type: 'string', default: '.' },
  environments: { type: 'string' },
  host: { type: 'string', multiple: true },
  domain: { type: 'string', multiple: true },
  user: { type: 'string' },
  'ssh-port': { type: 'string' },
  'http-port': { type: 'string', multiple: true },
  'https-port': { type: 'string', multiple: true },
  front: { type: 'boolean', default: false },
  'no-front': { type: 'boolean', default: false },
  image: { type: 'string' },
  fingerprint: { type: 'string', multiple: true },
  'non-interactive': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  yes: { type: 'boolean', short: 'y', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
} as const;

function parseCommandLine(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
}

type Options = ReturnType<typeof parseCommandLine>['values'];

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return ExitCode.config;
  }
  const { values: o, positionals } = parsed;
  if (o.help || positionals.length === 0) {
    process.stdout.write(USAGE + '\n');
    return o.help ? 0 : ExitCode.config;
  }
  const [command] = positionals;
  // init runs before there is a config or an environment to open a session for
  if (command === 'init') return runInit(o, positionals[1]);
  // snapshot takes a subcommand before the environment: togather-deploy snapshot restore staging FILE
  const snapshotSub = command === 'snapshot' ? positionals[1] : undefined;
  const environment = command === 'snapshot' ? positionals[2] : positionals[1];
  if (command === 'snapshot' && !(SNAPSHOT_SUBCOMMANDS as readonly string[]).includes(snapshotSub ?? '')) {
    process.stderr.write(
      `snapshot: say what to do: ${SNAPSHOT_SUBCOMMANDS.join(', ')} (e.g. togather-deploy snapshot list staging)\n`,
    );
    return ExitCode.config;
  }
  if (!isCommand(command)) {
    process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`);
    return ExitCode.config;
  }
  if (!environment) {
    process.stderr.write(`${command}: name the environment, e.g. togather-deploy ${command} staging\n`);
    return ExitCode.config;
  }
  const overrides = parseOverrides(o.set ?? []);
  if (!overrides) return ExitCode.config;
  const redactor = new Redactor();
  const passphrase = o['passphrase-env'] ? process.env[o['passphrase-env']] : undefined;
  let session: Session | undefined;
  try {
    session = openSession({
      configPath: o.config!,
      environment,
      envFilePath: o['env-file'],
      overrides,
      credentials: {
        privateKeyPath: o.identity,
        knownHostsPath: o['known-hosts'] ?? pinnedBesideConfig(o.config!),
        passphrase,
      },
      actor: `${safeUser()}@${hostname()}`,
      dryRun: o['dry-run']!,
      redactor,
      makeReporter: (r) => new ConsoleReporter(r, undefined, o.verbose),
      repoDir: o.repo,
      offsite: { rcloneConfig: process.env.TOGATHER_RCLONE_CONFIG, identity: process.env.TOGATHER_SNAPSHOT_IDENTITY },
    });
    return await COMMANDS[command](session, {
      o,
      snapshotSub: snapshotSub as SnapshotSub | undefined,
      file: positionals[3],
      redactor,
    });
  } catch (e) {
    const text = redactor.redact(describeError(e));
    const report = failedReport(e); // what ran before the failure, and for how long (stderr: stdout stays the result's)
    if (report && !o.json) process.stderr.write(`\n${phaseLines(report).join('\n')}\n`);
    process.stderr.write(e instanceof ConfigError ? `${text}\n` : `\nerror: ${text}\n`);
    return exitCodeOf(e);
  } finally {
    await session?.close().catch(() => undefined);
  }
}

/** `togather-deploy init [dir]`: the scaffolder, with questions on a terminal and ssh-keyscan for the host keys */
async function runInit(o: Options, dirArg: string | undefined): Promise<number> {
  // loaded on demand, like the GitHub client below: every command's start-up pays for what it imports
  const { defaultScanHostKeys, initCommand } = await import('../init/command.js');
  const { terminalAsk } = await import('../init/terminal.js');
  return initCommand(
    {
      dir: dirArg ?? o.dir!,
      ...(o.environments !== undefined ? { environments: o.environments } : {}),
      host: o.host ?? [],
      domain: o.domain ?? [],
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o['ssh-port'] !== undefined ? { sshPort: o['ssh-port'] } : {}),
      httpPort: o['http-port'] ?? [],
      httpsPort: o['https-port'] ?? [],
      ...(o.image !== undefined ? { image: o.image } : {}),
      fingerprint: o.fingerprint ?? [],
      nonInteractive: o['non-interactive']!,
      force: o.force!,
      front: o.front!,
      noFront: o['no-front']!,
    },
    {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
      ask: o['non-interactive'] ? undefined : terminalAsk(),
      scanHostKeys: defaultScanHostKeys,
    },
  );
}

/** the known_hosts `togather-deploy init` writes beside the config: used when --known-hosts is not given */
function pinnedBesideConfig(configPath: string): string | undefined {
  const path = join(dirname(configPath), 'known_hosts');
  return existsSync(path) ? path : undefined;
}

/** --set KEY=VALUE, repeatable; undefined (after saying why) when one is not KEY=VALUE */
function parseOverrides(pairs: string[]): Record<string, string> | undefined {
  const overrides: Record<string, string> = {};
  for (const kv of pairs) {
    const i = kv.indexOf('=');
    if (i <= 0) {
      process.stderr.write(`--set ${kv}: write KEY=VALUE\n`);
      return undefined;
    }
    overrides[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return overrides;
}

/** What the command line asked for, besides the session. */
interface CommandLine {
  o: Options;
  /** snapshot: the subcommand, and the file after the environment */
  snapshotSub?: SnapshotSub;
  file?: string;
  redactor: Redactor;
}

type Command = 'deploy' | 'rollback' | 'versions' | 'status' | 'unlock' | 'cleanup' | 'snapshot' | 'validate' | 'setup';

function isCommand(c: string | undefined): c is Command {
  return c !== undefined && Object.hasOwn(COMMANDS, c);
}

/** a prompt only where someone can answer it; absent, the engine refuses what needs a confirmation */
const askOnTerminal = (): ((question: string) => Promise<boolean>) | undefined =>
  process.stdin.isTTY ? (q) => confirm(q) : undefined;

/** Each command: options → the engine's request, and its report → stdout and the exit code. */
const COMMANDS: Record<Command, (session: Session, line: CommandLine) => Promise<number>> = {
  deploy: async ({ ctx }, { o }) => {
    // on demand: the GitHub client (octokit and undici) is about a third of the CLI's start-up, and only the
    // deploy's CI check needs it
    const { makeCiGate } = await import('../github/gate-adapter.js');
    const gate = makeCiGate(process.env, ctx.reporter);
    if (!gate && !o['skip-ci-check']) {
      throw new DeployError(
        'ciGate',
        'cannot check that this commit passed CI: GITHUB_TOKEN and GITHUB_REPOSITORY are not set',
        'set them, or pass --skip-ci-check to deploy an untested commit deliberately (it is recorded)',
      );
    }
    const report = await deploy(ctx, {
      version: o.version ?? 'HEAD',
      skipCiCheck: o['skip-ci-check'],
      skipMigrations: o['skip-migrations'],
      force: o.force,
      ciGate: gate,
    });
    printReport(report, o.json!);
    return report.exitCode;
  },
  rollback: async ({ ctx }, { o }) => {
    const report = await rollback(ctx, { version: o.version, confirmed: o.yes, ask: askOnTerminal() });
    printReport(report, o.json!);
    return report.exitCode;
  },
  versions: async (session, { o }) => {
    await session.host.connect();
    const v = await versions(session.ctx);
    process.stdout.write((o.json ? JSON.stringify(v.data, null, 2) : v.text) + '\n');
    return 0;
  },
  cleanup: async (session, { o }) => {
    const { ctx } = session;
    await session.host.connect();
    const layout = new Layout(ctx.cfg);
    const lock = targetFor(ctx).lock(ctx, layout);
    if (!o['dry-run']) await lock.acquire('cleanup', 'cleanup');
    try {
      const plan = await cleanup(ctx, o['dry-run']!);
      if (o.json) process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
    } finally {
      await lock.release();
    }
    return 0;
  },
  snapshot: async ({ ctx }, { o, snapshotSub, file, redactor }) => {
    const out = await snapshotCommand(ctx, {
      sub: snapshotSub!,
      file,
      stopApp: o['stop-app'],
      fromOffsite: o['from-offsite'],
      confirmed: o.yes,
      ask: askOnTerminal(),
    });
    process.stdout.write(
      (o.json ? JSON.stringify(redactor.redactDeep(out.data), null, 2) : redactor.redact(out.text)) + '\n',
    );
    return out.report.exitCode;
  },
  // everything checkable without a network or a token: the session has loaded and checked the config, the env
  // file, the notification and monitoring settings and the SSH material; what is left is the pinned host key
  validate: async ({ cfg, host }, { o }) => {
    const started = Date.now();
    const keys = await host.pinnedKeys();
    if (!keys.length) {
      throw new DeployError(
        'config',
        `${host.knownHostsPath} has no key for ${cfg.env.host} (port ${cfg.env.port}): the first connection would be refused`,
        `add the host's line with ssh-keyscan -p ${cfg.env.port} ${cfg.env.host}, after checking its fingerprint`,
      );
    }
    const summary = {
      environment: cfg.environment,
      config: cfg.configPath,
      host: host.name,
      path: cfg.hostPath,
      hostKeys: keys,
      image: cfg.config.app.image,
      dockerfile: cfg.config.app.build?.dockerfile ?? 'a prebuilt image (no build)',
      settings: Object.keys(cfg.appEnv).length,
      envFile: cfg.envFileSource,
    };
    if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    else {
      const lines = [
        `valid: ${cfg.environment} (${cfg.configPath})`,
        `  host       ${host.name}, stack in ${cfg.hostPath}`,
        `  host key   pinned in ${host.knownHostsPath}: ${keys.join(', ')}`,
        `  app        image ${summary.image}, built from ${summary.dockerfile}`,
        `  settings   ${summary.settings} from ${cfg.envFileSource} (values not shown)`,
        `  checked in ${Date.now() - started} ms after loading; nothing was connected to`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  },
  setup: async (session, { o }) => {
    await session.host.connect();
    const r = await setup(session.ctx, { install: o.install! });
    process.stdout.write((o.json ? JSON.stringify(r, null, 2) : formatSetup(r)) + '\n');
    return r.ready ? 0 : ExitCode.preflight;
  },
  status: async (session, { o, redactor }) => {
    await session.host.connect();
    const s = await status(session.ctx);
    process.stdout.write((o.json ? JSON.stringify(redactor.redactDeep(s), null, 2) : formatStatus(s)) + '\n');
    return 0;
  },
  unlock: async ({ ctx }, { o }) => {
    const r = await unlock(ctx, {
      confirmed: o.yes,
      ask: askOnTerminal(),
      show: (text) => process.stdout.write(`${text}\n`),
    });
    // the engine has shown the lock, or that there is none; the outcome is worded here
    const said = {
      'not-locked': '',
      refused: 'left in place',
      changed: 'the lock changed meanwhile, or is being taken right now; nothing removed',
      removed: `removed (by ${ctx.actor})`,
    }[r.result];
    if (said) process.stdout.write(`${said}\n`);
    return r.exitCode;
  },
};

function printReport(r: OperationReport, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  process.stdout.write(phaseLines(r).join('\n') + '\n');
}

function phaseLines(r: OperationReport): string[] {
  const trips = (n: number | undefined) => (n === undefined ? '' : `, ${n} round trip${n === 1 ? '' : 's'}`);
  const lines = [
    `${r.ok ? 'ok' : 'FAILED'}: ${r.ok ? r.message : r.operation} (${(r.durationMs / 1000).toFixed(1)}s${trips(r.roundTrips)})`,
  ];
  for (const p of r.phases)
    lines.push(
      `  ${p.ok ? '✔' : '✘'} ${p.name.padEnd(18)} ${(p.ms / 1000).toFixed(2)}s${p.trips === undefined ? '' : `  ${p.trips}`}`,
    );
  if (r.url && r.ok) lines.push(`  url: ${r.url}`);
  const colour = r.colour ? ` (${r.colour})` : '';
  if (r.serving)
    lines.push(
      `  serving now: ${{ previous: `the version that served before${colour}`, new: `the new version${colour}`, none: 'nothing' }[r.serving]}`,
    );
  return lines;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  process.stdout.write(question);
  const answer = await new Promise<string>((res) => process.stdin.once('data', (d) => res(String(d))));
  process.stdin.pause();
  return /^y(es)?$/i.test(answer.trim());
}
