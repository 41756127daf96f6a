/**
 * Runs the CLI against a test environment and, optionally, strikes when a chosen line appears on its stderr
 * (the `▶ phase` / `✔ phase` lines): kill -9 the deployer (and its SSH master, as a dying runner takes its
 * connections with it), kill only the SSH master connection, or kill the sshd processes serving that
 * connection on the host side. No hooks in the product: the deployer is a plain process that gets killed.
 *
 * Each run gets its own TMPDIR, so the SSH work directory (control socket) of that run — and only its
 * processes — can be found and ended afterwards.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, sleep } from '../harness/proc.js';
import { sshMastersFor } from '../e2e/action-runner.js';
import { CLI, ROOT, cliArgs, type TestEnv } from '../e2e/support.js';

export type Strike = 'deployer' | 'ssh-master' | 'sshd-session';

export interface KillPlan {
  /** the stderr line to act on (first match) */
  on?: RegExp;
  /** or: act once one of this run's SSH commands matching this is running (e.g. the image upload) */
  onCommand?: RegExp;
  /** wait this long after the line before acting */
  delayMs?: number;
  what: Strike;
}

export interface DeployerRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  pid: number;
  ms: number;
  /** every stderr line with the epoch ms it arrived at (to place traffic failures in a phase) */
  timeline: { at: number; line: string }[];
  /** what was done, when the plan's line appeared */
  struck?: { line: string; what: Strike; pids: number[]; atMs: number };
}

export interface RunOptions {
  kill?: KillPlan;
  /** extra environment (after the defaults) */
  env?: Record<string, string>;
  /** replaces the environment's config file */
  config?: string;
  /** replaces the sample repo */
  repo?: string;
  timeoutMs?: number;
}

/** every control path under a run's TMPDIR (SshHost puts its work dir there) */
function controlPaths(tmp: string): string[] {
  if (!existsSync(tmp)) return [];
  return readdirSync(tmp)
    .filter((d) => d.startsWith('tgd-'))
    .map((d) => join(tmp, d, 'c'));
}

export function mastersUnder(tmp: string): number[] {
  return controlPaths(tmp).flatMap((c) => sshMastersFor(c));
}

/** processes whose command line names this run's TMPDIR and matches `re` (the deployer's ssh sessions) */
export function commandsUnder(tmp: string, re: RegExp): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let line: string;
    try {
      line = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (line.includes(`ControlPath=${tmp}/`) && re.test(line)) out.push(Number(p));
  }
  return out;
}

function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sshd processes (privileged monitor and session child) that hold the server end of the given client's
 * TCP connections, found with `ss` by the client's local port.
 */
export async function sshdPeersOf(clientPid: number): Promise<number[]> {
  const ss = await run(['ss', '-tnpH'], { check: false });
  const lines = ss.stdout.split('\n');
  const ports = lines
    .filter((l) => l.includes(`pid=${clientPid},`))
    .map((l) => /^\S+\s+\d+\s+\d+\s+127\.0\.0\.1:(\d+)\s/.exec(l)?.[1])
    .filter((p): p is string => !!p);
  const pids = new Set<number>();
  for (const port of ports) {
    for (const l of lines) {
      const cols = l.trim().split(/\s+/);
      if (cols[4] !== `127.0.0.1:${port}` || !l.includes('"sshd"')) continue;
      for (const m of l.matchAll(/"sshd",pid=(\d+)/g)) pids.add(Number(m[1]));
    }
  }
  return [...pids];
}

export function runDeployer(env: TestEnv, args: string[], o: RunOptions = {}): Promise<DeployerRun> {
  const tmp = mkdtempSync(join(tmpdir(), 'tgd-fault-run-'));
  const argv = cliArgs(env, args, { config: o.config, repo: o.repo });
  const started = Date.now();
  // "--" as in the CLI's #! line: node would otherwise take a missing --env-file of ours for its own and exit 9
  const child = spawn(process.execPath, ['--import', 'tsx', '--', CLI, ...argv], {
    cwd: ROOT,
    env: { HOME: process.env.HOME ?? '/root', ...env.info.runnerEnv, TMPDIR: tmp, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid ?? 0;
  let stdout = '';
  let stderr = '';
  let pending = '';
  let partial = '';
  const timeline: DeployerRun['timeline'] = [];
  let struck: DeployerRun['struck'];
  let striking = false;

  const strike = async (line: string, plan: KillPlan) => {
    if (plan.delayMs) await sleep(plan.delayMs);
    const atMs = Date.now() - started;
    let pids: number[];
    if (plan.what === 'deployer') {
      kill(pid);
      // the runner is gone, and its connections with it
      pids = [pid, ...mastersUnder(tmp).filter((p) => kill(p))];
    } else if (plan.what === 'ssh-master') {
      pids = mastersUnder(tmp).filter((p) => kill(p));
    } else {
      const masters = mastersUnder(tmp);
      pids = (await Promise.all(masters.map(sshdPeersOf))).flat().filter((p) => kill(p));
    }
    struck = { line, what: plan.what, pids, atMs };
  };

  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString('utf8');
    stderr += text;
    const at = Date.now();
    const all = (partial + text).split('\n');
    partial = all.pop() ?? '';
    for (const line of all) timeline.push({ at, line });
    if (!o.kill || striking) return;
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    const hit = o.kill.on && lines.find((l) => o.kill!.on!.test(l));
    if (hit) {
      striking = true;
      void strike(hit, o.kill);
    }
  });

  let watcher: NodeJS.Timeout | undefined;
  if (o.kill?.onCommand) {
    const re = o.kill.onCommand;
    watcher = setInterval(() => {
      if (striking) return;
      const found = commandsUnder(tmp, re);
      if (found.length) {
        striking = true;
        void strike(`command ${re.source} running (pid ${found.join(',')})`, o.kill!);
      }
    }, 50);
  }

  return new Promise((resolve) => {
    const timer = setTimeout(() => kill(pid), o.timeoutMs ?? 300_000);
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      if (watcher) clearInterval(watcher);
      // a strike that was still waiting on its delay when the deployer ended: let it finish reporting
      for (let i = 0; i < 100 && striking && !struck; i++) await sleep(20);
      // whatever this run left connected (a killed deployer's master persists for minutes) ends with it
      for (const p of mastersUnder(tmp)) kill(p);
      rmSync(tmp, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr, pid, ms: Date.now() - started, struck, timeline });
    });
  });
}

/** the ✔/✘ phase lines of a run, for the report: "lock, image, …" */
export function phasesDone(stderr: string): string[] {
  return [...stderr.matchAll(/^✔ (.+?) \(/gm)].map((m) => m[1]!);
}

/** the phase a run was in at an epoch ms: the last `▶ name` line before it, or undefined outside the run */
export function phaseAt(run: DeployerRun, at: number): string | undefined {
  if (run.timeline.length === 0 || at < run.timeline[0]!.at - 2000) return undefined;
  let phase: string | undefined;
  for (const e of run.timeline) {
    if (e.at > at) break;
    const m = /^[▶✔✘] (.+?)(?: \(|$)/.exec(e.line);
    if (m) phase = e.line.startsWith('▶') ? m[1] : `after ${m[1]}`;
  }
  return phase;
}
