import { DeployError } from '../../errors.js';
import type { RunResult } from '../../host/host.js';
import { allInOrder } from '../../util/settled.js';
import { BatchHost } from '../batch.js';
import type { EngineContext } from '../context.js';
import { engineAnswer } from '../engine-api.js';
import { composeCmd, flagCmd, inspectStackCmd, startAppCmd, startGateCmd, stopAppCmd } from './commands.js';
import type { Layout } from './layout.js';
import { otherColour, type Colour } from '../types.js';

export interface ColourFacts {
  /** the gate's flag: Caddy routes to this colour */
  flag: boolean;
  gate: string; // container state or "absent"
  app: string;
  image?: string;
}

export interface StackFacts {
  blue: ColourFacts;
  green: ColourFacts;
  caddy: string;
  db: string;
  /** the image the database container was created from */
  dbImage?: string;
  keeper: string;
}

/** one container of the engine's list (GET /containers/json): the fields the stack's facts need */
interface EngineContainer {
  Names?: string[];
  State?: string;
  Image?: string;
}

/** the stack's containers by their role in INSPECT_STACK's key=value form ("blue.app" = "running <image>") */
function containerLines(list: EngineContainer[], stack: string): Record<string, string> {
  const roles: Record<string, string> = {
    'gate-blue': 'blue.gate',
    'app-blue': 'blue.app',
    'gate-green': 'green.gate',
    'app-green': 'green.app',
    caddy: 'caddy',
    db: 'db',
    keeper: 'keeper',
  };
  const kv: Record<string, string> = {};
  for (const c of list) {
    // the list's names start with "/"; the filter matched a prefix, so only exact names count
    const role = (c.Names ?? []).map((n) => n.replace(/^\//, '')).find((n) => n.startsWith(`${stack}-`));
    const key = role && roles[role.slice(stack.length + 1)];
    if (key && c.State) kv[key] = c.Image ? `${c.State} ${c.Image}` : c.State;
  }
  return kv;
}

/** INSPECT_STACK's answer; `stack` names the project's containers when the engine's list came back */
export function parseStackFacts(out: string, stack?: string): StackFacts {
  const kv: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !line.startsWith('engine=')) kv[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  const listed = engineAnswer<EngineContainer[]>(out);
  if (listed && stack) Object.assign(kv, containerLines(listed, stack));
  const colour = (c: Colour): ColourFacts => {
    const [app = 'absent', image] = (kv[`${c}.app`] ?? 'absent').split(' ');
    return { flag: kv[`${c}.flag`] === 'on', gate: (kv[`${c}.gate`] ?? 'absent').split(' ')[0]!, app, image };
  };
  const state = (k: string) => (kv[k] ?? 'absent').split(' ')[0]!;
  return {
    blue: colour('blue'),
    green: colour('green'),
    caddy: state('caddy'),
    db: state('db'),
    dbImage: kv.db?.split(' ')[1],
    keeper: state('keeper'),
  };
}

export async function inspectStack(ctx: EngineContext, layout: Layout): Promise<StackFacts> {
  const r = await ctx.host.run(inspectStackCmd(layout), { timeoutMs: 30_000 });
  return parseStackFacts(r.stdout, layout.stack);
}

/**
 * The live colour is what the proxy routes to — the gate flags — not what a state file says (a state write
 * can fail after a switch). Both flags on means a switch was interrupted: the state's record breaks the tie.
 */
export function liveColour(facts: StackFacts, stateColour?: Colour): Colour | undefined {
  const on = (['blue', 'green'] as const).filter((c) => facts[c].flag && facts[c].app === 'running');
  if (on.length === 1) return on[0];
  if (on.length === 2) return stateColour ?? 'blue';
  return undefined;
}

/** what a failure before the switch leaves serving, as messages say it: not "the old colour" when there was none */
export function stillServing(live: Colour | undefined): string {
  return live ? 'the old colour keeps serving' : 'nothing was serving before and nothing serves now';
}

/**
 * What a failed compose call said, without its progress lines: compose v2 writes " Container X  Running" (and
 * warnings) to stderr for every service, so its last lines are rarely the cause; v1 prints "Starting X ... done".
 */
export function composeErrorLines(stderr: string, max: number): string[] {
  const progress =
    /^\s*(?:(?:Container|Network|Volume|Image) \S+\s+\S+(?: \S+)?|\S+ is up-to-date|(?:Creating|Starting|Recreating|Stopping|Removing) \S+ \.\.\..*)$/;
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => l.trim() && !progress.test(l) && !/level=warning|^WARN\[/.test(l));
  return lines.slice(-max);
}

// the builders the release steps also run directly (and the plan prints)
export { composeCmd, flagCmd };

export async function setFlag(ctx: EngineContext, layout: Layout, colour: Colour, on: boolean): Promise<void> {
  const r = await ctx.host.run(flagCmd(layout, colour, on), { check: false, timeoutMs: 20_000 });
  if (r.code !== 0) {
    throw new DeployError(
      'switch',
      `could not ${on ? 'route traffic to' : 'take traffic off'} ${colour}: ${ctx.redactor.redact(r.stderr.trim())}`,
    );
  }
}

/**
 * Starts the app of one colour from its image through compose; its gate flag is cleared first. Inside an
 * operation the three commands go in one round trip, each only once the one before it succeeded.
 */
export async function startColour(
  ctx: EngineContext,
  layout: Layout,
  compose: string[],
  colour: Colour,
  facts?: StackFacts,
): Promise<void> {
  const gate = () => ctx.host.run(startGateCmd(compose, layout, colour), { timeoutMs: 120_000 });
  const flagOff = () => ctx.host.run(flagCmd(layout, colour, false), { check: false });
  const app = () => ctx.host.run(startAppCmd(compose, layout, colour), { check: false, timeoutMs: 180_000 });
  let r: RunResult;
  if (ctx.host instanceof BatchHost && !facts?.[colour].flag) {
    [, , r] = await allInOrder(ctx.host.inTurn(gate, flagOff, app));
  } else {
    await gate();
    await flagOff();
    if (facts?.[colour].flag) {
      // left routed by an interrupted switch: let the proxy move its traffic to the other colour before the
      // container is replaced (two health intervals plus the check's timeout)
      const p = ctx.cfg.proxy;
      await ctx.clock.sleep(2 * p.health_interval + p.health_timeout);
    }
    r = await app();
  }
  if (r.code !== 0) {
    throw new DeployError(
      'health',
      `starting the ${colour} colour failed: ${ctx.redactor.redact(composeErrorLines(r.stderr, 5).join(' / '))}`,
    );
  }
}

/** Stops (never removes) a colour's app: its container and image stay for a fast rollback. */
export async function stopColour(ctx: EngineContext, layout: Layout, colour: Colour, timeoutMs: number): Promise<void> {
  await ctx.host.run(stopAppCmd(layout, colour, timeoutMs), { check: false, timeoutMs: timeoutMs + 30_000 });
}

/** compose's .env names both colours' images: the one being started gets the release, the other keeps its own */
export function colourImages(stack: StackFacts, target: Colour, ref: string): Record<Colour, string> {
  const other = otherColour(target);
  const otherImage = stack[other].image && stack[other].app !== 'absent' ? stack[other].image! : ref;
  return { [target]: ref, [other]: otherImage } as Record<Colour, string>;
}
