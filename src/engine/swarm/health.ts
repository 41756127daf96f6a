import { DeployError } from '../../errors.js';
import type { SwarmProviderConfig } from '../../config/schema.js';
import type { EngineContext } from '../context.js';
import {
  commitMatches,
  judgeHealth,
  probesPerRound,
  type HealthExpectation,
  type HealthVerdict,
} from '../release/health.js';
import type { Layout } from '../stack/layout.js';
import { short, type Colour } from '../types.js';
import { parseProbeEach, probeEachCmd, serviceLogsCmd, servicePsCmd, swarmNames, swarmTasksCmd } from './commands.js';
import { judgeTasks, parseTasks } from './tasks.js';

/** what the service's tasks and last log lines say, for an error message (redacted) */
export async function diagnose(ctx: EngineContext, service: string): Promise<string> {
  const [ps, logs] = await Promise.all([
    ctx.host.run(servicePsCmd(service), { check: false, timeoutMs: 20_000 }),
    ctx.host.run(serviceLogsCmd(service, 15), { check: false, timeoutMs: 20_000 }),
  ]);
  const lines = [
    ...ps.stdout.trim().split('\n').slice(0, 6),
    ...(logs.stdout + logs.stderr).trim().split('\n').slice(-15),
  ].filter((l) => l.trim());
  return ctx.redactor.redact(lines.map((l) => `    ${l.slice(0, 300)}`).join('\n'));
}

/**
 * The new colour's tasks, judged before any request may reach them: every wanted task running on a Ready node
 * (with our own limit, provider.scale_timeout: swarm itself would wait forever), then each probed on its overlay
 * address from the tools container until `consecutive` health answers in a row pass, judged by the app's
 * contract as on one host. A task that fails, is rejected or cannot be placed fails the gate at once.
 */
export async function swarmHealthGate(
  ctx: EngineContext,
  layout: Layout,
  p: SwarmProviderConfig,
  colour: Colour,
  sha: string,
  expect: HealthExpectation = {},
  serving?: string,
  /** judge only tasks created since (a warm colour's history is older) */
  sinceS?: number,
): Promise<HealthVerdict> {
  const h = ctx.cfg.config.app.health;
  const names = swarmNames(layout.stack);
  const service = names.app(colour);
  const started = ctx.clock.now();
  // placing and starting the tasks may take scale_timeout; once they run, the app has start_timeout to be healthy
  const scaleDeadline = started + p.scale_timeout;
  let deadline = scaleDeadline;
  const leaves = serving ? `; ${serving}.` : '.';
  const fail = async (what: string, remedy: string): Promise<never> => {
    const why = await diagnose(ctx, service);
    throw new DeployError('health', `the new ${colour} colour ${what}${leaves}${why ? `\n${why}` : ''}`, remedy);
  };
  let last: string;
  let probes = 0;
  let stuck = 0;
  for (;;) {
    const listing = parseTasks((await ctx.host.run(swarmTasksCmd(service), { check: false })).stdout);
    const tasks = judgeTasks(listing, {
      replicas: p.replicas,
      network: names.overlay,
      ...(sinceS !== undefined ? { sinceS } : {}),
    });
    if (tasks.kind === 'failed')
      return fail(`failed: ${tasks.reason}`, 'fix the release (or the placement) and deploy again');
    if (tasks.kind === 'waiting') last = tasks.reason;
    else {
      if (deadline === scaleDeadline) deadline = Math.min(scaleDeadline, ctx.clock.now() + h.start_timeout);
      const n = probesPerRound(h);
      const r = await ctx.host.run(
        probeEachCmd({
          tools: names.tools,
          ips: tasks.tasks.map((t) => t.ip),
          port: ctx.cfg.config.app.port,
          path: h.path,
          timeoutMs: h.timeout,
          consecutive: h.consecutive,
          probes: n,
          intervalMs: h.interval,
        }),
        { check: false, timeoutMs: n * (h.timeout + h.interval) + 15_000 },
      );
      const results = parseProbeEach(r.stdout);
      const verdicts = tasks.tasks.map((t) => {
        const probe = results.get(t.ip);
        probes += probe?.probes ?? 0;
        const v = probe ? judgeHealth(probe.code, probe.body, h, expect) : undefined;
        return { task: t, probe, verdict: v };
      });
      const wrong = verdicts.find((v) => v.verdict?.ok && !commitMatches(v.verdict.gitCommit, sha));
      if (wrong)
        return fail(
          `reports commit ${wrong.verdict!.gitCommit}, not ${short(sha)}: the image is not the build of this commit`,
          'rebuild the image from this commit',
        );
      const passed = verdicts.filter((v) => v.verdict?.ok && (v.probe?.passes ?? 0) >= h.consecutive);
      if (passed.length === verdicts.length) {
        ctx.reporter.info(`${colour}: ${verdicts.length} task(s) healthy after ${probes} probes`);
        return passed[0]!.verdict!;
      }
      const bad = verdicts.find((v) => !v.verdict?.ok) ?? verdicts.find((v) => !passed.includes(v))!;
      last = `task ${bad.task.id.slice(0, 12)} at ${bad.task.ip}: ${bad.verdict?.reason ?? bad.probe?.error ?? 'no answer'}`;
      stuck = verdicts.some((v) => v.verdict?.permanent) ? stuck + 1 : 0;
      if (stuck >= h.consecutive) {
        const permanent = verdicts.find((v) => v.verdict?.permanent)!.verdict!.permanent!;
        return fail(
          `reports what no wait can change: ${ctx.redactor.redact(permanent.what)}`,
          permanent.remedy ?? 'fix the release and deploy again',
        );
      }
    }
    if (ctx.clock.now() >= deadline)
      return fail(
        `did not become healthy within ${Math.round((ctx.clock.now() - started) / 1000)}s: ${ctx.redactor.redact(last)}`,
        'look at the task list and logs above; raise provider.scale_timeout only if the tasks are merely slow to start',
      );
    await ctx.clock.sleep(Math.max(h.interval, 250));
  }
}
