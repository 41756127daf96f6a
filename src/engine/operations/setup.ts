import { quoteArgv } from '../../util/shell.js';
import type { EngineContext } from '../context.js';
import {
  judgeReadiness,
  readReadinessFacts,
  type Judged,
  type ReadinessFacts,
  type SetupCheck,
} from '../release/host-readiness.js';
import { mkdirsCmd } from '../stack/commands.js';
import { Layout } from '../stack/layout.js';

export type { SetupCheck } from '../release/host-readiness.js';

export interface SetupRequest {
  /** run the root fixes of the failing checks with `sudo -n` (never Docker's own install script) */
  install: boolean;
  /** this machine's time in ms, for the clock-skew check; default ctx.clock */
  localNow?: number;
}

export interface SetupReport {
  environment: string;
  host: string;
  /** no check failed: the first deploy can run */
  ready: boolean;
  /** setup created or installed something on the host */
  changed: boolean;
  checks: SetupCheck[];
}

/**
 * `setup`: checks over SSH what the host needs before the first deploy, creates the environment's directory
 * (mode 0700, as the deploy's own writes would) and, for what needs root, prints the exact commands, or runs them
 * with `sudo -n` under --install. Costs one round trip when the host is ready (two probes sent side by side).
 *
 * No deploy lock: the lock lives inside the very directory setup may create, and nothing setup does can race a
 * deploy. The probes are read-only; `mkdir -p` of the directory is idempotent (the deploy runs the same); the
 * root fixes touch packages, groups and services, never the stack's files, state or containers.
 */
export async function setup(ctx: EngineContext, req: SetupRequest): Promise<SetupReport> {
  const layout = new Layout(ctx.cfg);
  const started = ctx.clock.now();
  const localNow = () => (req.localNow ?? started) + (ctx.clock.now() - started);
  const judge = (facts: ReadinessFacts, at: number, created: boolean): Judged[] =>
    judgeReadiness(facts, {
      layout,
      minFreeMb: ctx.cfg.config.deployment.min_free_mb,
      proxy: ctx.cfg.proxy,
      localNowMs: at,
      user: ctx.cfg.env.user,
      created,
      dryRun: ctx.dryRun,
    });

  const sentAt = localNow();
  const facts = await readReadinessFacts(ctx, layout, req.install);
  let created = false;
  if (facts.probe.stack_dir === 'absent' && !ctx.dryRun) {
    const r = await ctx.host.run(mkdirsCmd(layout.root), { check: false, timeoutMs: 15_000 });
    if (r.code === 0) {
      created = true;
      facts.probe.stack_dir = 'present';
    }
  }
  let judged = judge(facts, sentAt, created);
  const extra: SetupCheck[] = [];

  if (req.install) {
    const todo = judged.filter((j) => j.check.status === 'fail' && j.install?.length);
    if (facts.probe.sudo !== 'yes') {
      // said only when something needed it: a ready host without sudo has nothing to add
      if (todo.length)
        extra.push({
          name: 'sudo',
          status: 'warn',
          detail:
            'passwordless sudo (sudo -n) is not available to the deploy user: run the root commands above yourself',
        });
    } else if (todo.length && !ctx.dryRun) {
      judged = await installFixes(ctx, todo, judged, async () => {
        const at = localNow();
        return judge(await readReadinessFacts(ctx, layout, true), at, created);
      });
    }
  }

  const checks = [...judged.map((j) => j.check), ...extra].map((c) => redactCheck(ctx, c));
  return {
    environment: ctx.cfg.environment,
    host: ctx.host.name,
    ready: !checks.some((c) => c.status === 'fail'),
    changed: checks.some((c) => c.status === 'created' || c.status === 'installed'),
    checks,
  };
}

/**
 * Runs each failing check's root commands with `sudo -n`, in order, stopping a check's list at its first
 * failure; then probes once more. A check that failed before and passes now is 'installed'.
 */
async function installFixes(
  ctx: EngineContext,
  todo: Judged[],
  before: Judged[],
  reprobe: () => Promise<Judged[]>,
): Promise<Judged[]> {
  const failures = new Map<string, string>();
  for (const j of todo) {
    for (const c of j.install ?? []) {
      ctx.reporter.info(`${j.check.name}: running ${quoteArgv(c.argv)}`);
      const r = await ctx.host.run(c, { check: false, timeoutMs: 600_000 });
      if (r.code !== 0) {
        const last = r.stderr.trim().split('\n').at(-1)?.slice(0, 200) ?? '';
        failures.set(j.check.name, `\`${quoteArgv(c.argv)}\` failed (exit ${r.code})${last ? `: ${last}` : ''}`);
        break;
      }
    }
  }
  const tried = new Set(todo.map((j) => j.check.name));
  const failedBefore = new Set(before.filter((j) => j.check.status === 'fail').map((j) => j.check.name));
  return (await reprobe()).map((j) => {
    const name = j.check.name;
    if (!tried.has(name) || !failedBefore.has(name)) return j;
    if (j.check.status === 'ok') return { ...j, check: { ...j.check, status: 'installed' } };
    const why = failures.get(name);
    return why ? { ...j, check: { ...j.check, detail: `${j.check.detail}; ${why}` } } : j;
  });
}

function redactCheck(ctx: EngineContext, c: SetupCheck): SetupCheck {
  const r = (s: string) => ctx.redactor.redact(s);
  return { ...c, detail: r(c.detail), ...(c.fix ? { fix: c.fix.map(r) } : {}) };
}

const MARK: Record<SetupCheck['status'], string> = { ok: '✔', created: '+', installed: '+', warn: '!', fail: '✘' };

/** one line per check (✔ ok, + created or installed, ! warning, ✘ failure), its root commands indented, then the verdict */
export function formatSetup(r: SetupReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(
      `${MARK[c.status]} ${c.name.padEnd(width)}  ${c.status === 'installed' ? 'installed: ' : ''}${c.detail}`,
    );
    for (const f of c.fix ?? []) if (c.status === 'fail' || c.status === 'warn') lines.push(`      ${f}`);
  }
  const failed = r.checks.filter((c) => c.status === 'fail');
  if (!failed.length) lines.push(`ready: ${r.environment} on ${r.host}`);
  else if (failed.every((c) => c.fix?.length))
    lines.push(
      `not ready: ${failed.length} item(s) need root — run the commands above as root, ` +
        'or rerun with --install (needs passwordless sudo)',
    );
  else
    lines.push(
      `not ready: ${failed.length} item(s) to fix (see above)` +
        (failed.some((c) => c.fix?.length)
          ? '; run the commands above as root, or rerun with --install (needs passwordless sudo)'
          : ''),
    );
  return lines.join('\n');
}
