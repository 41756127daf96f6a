/**
 * Rollback time on an idle host (issue 5's goal: warm ≤ 3 s): no load, the bundled CLI, alternating a warm
 * rollback (the previous version's container still exists: start, health gate, switch) and a cold one (a
 * version whose container is gone: recreated from its image). For each: the CLI's wall time, the core
 * (start + health gate + switch, as the engine's phases report them) and when the proxy first served the
 * target, polled every 25 ms from the moment the CLI was started.
 */
import { join } from 'node:path';
import { hostDocker } from '../harness/host.js';
import { ROOT, type TestEnv } from '../e2e/support.js';
import { runCliStreaming, timeOperation } from './scenario.js';

const BUNDLE = join(ROOT, 'dist', 'cli', 'index.js');

export interface IdleRollback {
  kind: 'warm' | 'cold';
  target: string;
  code: number;
  totalMs: number;
  /** start + health gate + switch */
  coreMs: number;
  /** from the CLI's start to the first response of the target through the proxy */
  servingAfterMs?: number;
  phases: { name: string; ms: number }[];
}

interface Versions {
  current?: { version: string };
  candidates: { version: string; imagePresent: boolean; isDefault: boolean }[];
}

async function versions(env: TestEnv): Promise<Versions> {
  const r = await runCliStreaming(env, ['versions', env.name, '--json'], 60_000, BUNDLE);
  if (r.code !== 0) throw new Error(`versions failed: ${r.stderr.slice(-1000)}`);
  return JSON.parse(r.stdout) as Versions;
}

/** the versions the two colour containers run (their image tags) */
async function inContainers(env: TestEnv): Promise<string[]> {
  const out: string[] = [];
  for (const c of ['blue', 'green']) {
    const r = await hostDocker(env.info, ['inspect', '-f', '{{.Config.Image}}', `${env.stackPrefix}-app-${c}`], {
      check: false,
    });
    if (r.code === 0) out.push(r.stdout.trim().split(':').pop()!);
  }
  return out;
}

async function timed(env: TestEnv, kind: IdleRollback['kind'], target: string, args: string[]): Promise<IdleRollback> {
  let servingAt: number | undefined;
  let polling = true;
  const t0 = Date.now();
  const poller = (async () => {
    while (polling && servingAt === undefined) {
      try {
        const r = await env.get('/version');
        if (r.status === 200 && (JSON.parse(r.body) as { git_commit?: string }).git_commit === target)
          servingAt = Date.now();
      } catch {
        /* not answering yet */
      }
      await new Promise((res) => setTimeout(res, 25));
    }
  })();
  const run = await runCliStreaming(env, args, 240_000, BUNDLE);
  polling = false;
  await poller;
  const op = timeOperation(`${kind} rollback`, run);
  const core = op.phases
    .filter((p) => /^(start (blue|green)|health gate|switch)/.test(p.name))
    .reduce((a, p) => a + p.ms, 0);
  return {
    kind,
    target,
    code: run.code,
    totalMs: op.totalMs,
    coreMs: core,
    servingAfterMs: servingAt && servingAt - t0,
    phases: op.phases.map((p) => ({ name: p.name, ms: p.ms })),
  };
}

export async function idleRollbacks(env: TestEnv, rounds: number, say: (s: string) => void): Promise<IdleRollback[]> {
  const out: IdleRollback[] = [];
  for (let i = 1; i <= rounds; i++) {
    const v = await versions(env);
    const warm = v.candidates.find((c) => c.isDefault);
    if (!warm) throw new Error('no previous version to roll back to');
    say(`  idle ${i}/${rounds}: warm rollback to ${warm.version.slice(0, 7)}…`);
    const w = await timed(env, 'warm', warm.version, ['rollback', env.name, '--yes']);
    out.push(w);
    if (w.code !== 0) throw new Error(`warm rollback failed (exit ${w.code})`);
    const held = await inContainers(env);
    const cold = (await versions(env)).candidates.find((c) => c.imagePresent && !held.includes(c.version));
    if (!cold)
      throw new Error(`no version without a container to roll back to cold (containers run ${held.join(', ')})`);
    say(`  idle ${i}/${rounds}: cold rollback to ${cold.version.slice(0, 7)}…`);
    const c = await timed(env, 'cold', cold.version, ['rollback', env.name, '--version', cold.version, '--yes']);
    out.push(c);
    if (c.code !== 0) throw new Error(`cold rollback failed (exit ${c.code})`);
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
};

export function formatIdleRollbacks(rs: IdleRollback[]): string {
  const f = (ms?: number) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(2)}s`);
  const lines = [
    '== rollback on an idle host (bundled CLI, no load)',
    'kind  target   total   core (start+health+switch)  serving after',
  ];
  for (const r of rs)
    lines.push(
      `${r.kind.padEnd(5)} ${r.target.slice(0, 7)}  ${f(r.totalMs).padStart(6)}  ${f(r.coreMs).padStart(26)}  ${f(r.servingAfterMs).padStart(13)}`,
    );
  for (const kind of ['warm', 'cold'] as const) {
    const of = rs.filter((r) => r.kind === kind);
    if (!of.length) continue;
    lines.push(
      `median ${kind}: total ${f(median(of.map((r) => r.totalMs)))}, core ${f(median(of.map((r) => r.coreMs)))}, ` +
        `serving after ${f(median(of.flatMap((r) => (r.servingAfterMs === undefined ? [] : [r.servingAfterMs]))))}`,
    );
  }
  return lines.join('\n');
}
