/**
 * Runs the action bundle the way the GitHub runner does: under Node 24, with every input of action.yml as an
 * INPUT_<NAME> variable (upper-cased, hyphens kept, defaults filled in), the workspace as working directory,
 * and fresh file-command files (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY, GITHUB_ENV, GITHUB_PATH) per
 * step. The post step gets each `name=value` the main step saved to GITHUB_STATE as env STATE_<name>.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ROOT, type TestEnv } from './support.js';

export const NODE24 = join(ROOT, 'node_modules/node/bin/node');
/** the committed bundle; TOGATHER_TEST_BUNDLE points at a scratch build while iterating on the sources */
export const BUNDLE = process.env.TOGATHER_TEST_BUNDLE ?? join(ROOT, 'dist/index.js');

export interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
  /** GITHUB_OUTPUT, parsed */
  outputs: Record<string, string>;
  /** GITHUB_STATE, parsed */
  state: Record<string, string>;
  summary: string;
  /** raw text of every file-command file, for leak searches */
  files: string;
  ms: number;
  /** stdout without the ::add-mask:: commands, which the runner consumes and never shows */
  log: string;
}

export interface StepOptions {
  inputs: Record<string, string>;
  /** GITHUB_* context and anything else the job's environment has (DOCKER_HOST, …) */
  env: Record<string, string>;
  workspace: string;
  /** the job token: what `${{ github.token }}` (the github-token input's default) evaluates to */
  token?: string;
  /** STATE_* values for a post step */
  state?: Record<string, string>;
  bundle?: string;
  /** called with the child once it runs (e.g. to kill it at a chosen moment) */
  onSpawn?: (child: ReturnType<typeof spawn>, files: { state: string }) => void;
}

interface ActionYml {
  inputs: Record<string, { default?: string; required?: boolean }>;
}

const actionYml = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

/** INPUT_* as the runner sets them: given values, else action.yml's defaults (expressions evaluated) */
export function inputEnv(given: Record<string, string>, context: { token?: string }): Record<string, string> {
  for (const k of Object.keys(given)) if (!(k in actionYml.inputs)) throw new Error(`action.yml has no input ${k}`);
  const env: Record<string, string> = {};
  for (const [name, spec] of Object.entries(actionYml.inputs)) {
    let v = given[name] ?? spec.default ?? '';
    v = v.replace(/\$\{\{\s*github\.token\s*\}\}/g, context.token ?? '');
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = v;
  }
  return env;
}

/** the runner's file-command format: `name<<DELIM` … `DELIM`, or the older `name=value` */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc;
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]!);
      out[name!] = value.join('\n');
    } else if (line.includes('=')) {
      const at = line.indexOf('=');
      out[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return out;
}

export function runStep(o: StepOptions): Promise<StepResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-runner-'));
  const files = {
    output: join(dir, 'output'),
    state: join(dir, 'state'),
    summary: join(dir, 'summary'),
    env: join(dir, 'env'),
    path: join(dir, 'path'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    RUNNER_OS: 'Linux',
    RUNNER_TEMP: mkdtempSync(join(tmpdir(), 'tgd-runner-temp-')),
    GITHUB_WORKSPACE: o.workspace,
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_ENV: files.env,
    GITHUB_PATH: files.path,
    GITHUB_ACTION: 'deploy',
    GITHUB_ACTION_PATH: ROOT,
    ...o.env,
    ...inputEnv(o.inputs, { token: o.token }),
  };
  for (const [k, v] of Object.entries(o.state ?? {})) env[`STATE_${k}`] = v;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(NODE24, [o.bundle ?? BUNDLE], { cwd: o.workspace, env, stdio: ['ignore', 'pipe', 'pipe'] });
    o.onSpawn?.(child, files);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => {
      const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
      resolve({
        code: code ?? (signal ? 128 + 9 : 1),
        stdout,
        stderr,
        outputs: parseFileCommands(read(files.output)),
        state: parseFileCommands(read(files.state)),
        summary: read(files.summary),
        files: Object.values(files).map(read).join('\n'),
        ms: Date.now() - started,
        log: stdout
          .split('\n')
          .filter((l) => !l.startsWith('::add-mask::'))
          // workflow commands carry their message escaped (% CR LF); the runner shows it unescaped
          .map((l) => (l.startsWith('::') ? l.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%') : l))
          .join('\n'),
      });
    });
  });
}

/** A checkout of the sample repo, as actions/checkout leaves it: the commit detached, tags fetched. */
export function checkoutWorkspace(repoDir: string, sha: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-workspace-'));
  execFileSync('git', ['clone', '-q', '--no-checkout', repoDir, dir], { stdio: 'pipe' });
  execFileSync('git', ['-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', sha], {
    cwd: dir,
    stdio: 'pipe',
  });
  return dir;
}

/**
 * GITHUB_WORKSPACE for an environment: the sample repo checked out at `sha`, the environment's config at the
 * action's default path (config/deployment.yml) without env_file, so the env file comes only from the input.
 */
export function actionWorkspace(env: TestEnv, sha: string): string {
  const workspace = checkoutWorkspace(env.repo.dir, sha);
  const config = parse(readFileSync(env.configPath, 'utf8')) as {
    environments: Record<string, Record<string, unknown>>;
  };
  delete config.environments[env.name]!.env_file;
  mkdirSync(join(workspace, 'config'), { recursive: true });
  writeFileSync(join(workspace, 'config/deployment.yml'), stringify(config));
  return workspace;
}

/** pids of ssh processes whose command line names this control path as a master (-M or ControlMaster=yes) */
export function sshMastersFor(controlPath: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const joined = argv.join(' ');
    // a master that went to the background renames itself "ssh: <control path> [mux]"
    if (joined.startsWith(`ssh: ${controlPath} `)) pids.push(Number(p));
    else if (
      /(^|\/)ssh$/.test(argv[0] ?? '') &&
      joined.includes(`ControlPath=${controlPath}`) &&
      (argv.includes('-M') || joined.includes('ControlMaster=yes'))
    )
      pids.push(Number(p));
  }
  return pids;
}

/**
 * One run of the bundle for a deploy that should be refused: valid baseline inputs (the environment's own
 * env file, key and pinned host key, version v2, no CI check) with the case's inputs laid over them.
 */
export function runDeployStep(
  env: TestEnv,
  workspace: string,
  envFileText: string,
  inputs: Record<string, string>,
): Promise<StepResult> {
  return runStep({
    inputs: {
      environment: env.name,
      'env-file': envFileText,
      'ssh-private-key': readFileSync(env.info.ssh.privateKeyPath, 'utf8'),
      'ssh-known-hosts': env.info.ssh.knownHostsLine,
      version: 'v2',
      'skip-ci-check': 'true',
      ...inputs,
    },
    env: { ...env.info.runnerEnv, GITHUB_REPOSITORY: 'togather/server', GITHUB_SHA: env.repo.shas.v1 },
    workspace,
  });
}
