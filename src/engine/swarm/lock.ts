import { hostname } from 'node:os';
import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { appendFileCmd } from '../stack/commands.js';
import { describeHolder, HEARTBEAT_MS, newLockInfo, staleReason, type LockInfo, type LockView } from '../stack/lock.js';
import {
  LOCK_LABEL,
  lockCreateCmd,
  lockHeartbeatCmd,
  lockInspectCmd,
  lockRemoveHeldCmd,
  removeServiceCmd,
  swarmNames,
} from './commands.js';

/*
 * The deploy lock of a swarm environment: a service with 0 replicas named <stack>-deploy-lock. Swarm creates a
 * service name once, atomically (Raft), whichever manager is asked, so exactly one deployer holds it. Its labels
 * say who holds it until when; the holder's heartbeat is a label-only update, which moves the service's
 * UpdatedAt on the managers' clock, so a dead holder is recognised (HEARTBEAT_DEAD_S, stack/lock.ts) whatever
 * the runners' clocks say. Takeover and release remove the service by its ID: of two deployers that both see the
 * same stale lock only one removal succeeds, and neither can remove a newer lock (a new service has a new ID).
 * The service is outside the stack's namespace, so `stack deploy` never touches it.
 */

export interface SwarmLockParams {
  stack: string;
  /** any image the manager holds (images.gate): the service runs no task, and --no-resolve-image */
  image: string;
  /** audit.jsonl on the manager, where unlock records who removed whose lock */
  auditFile?: string;
}

/** what a lock service's inspection says: its service ID, its holder (undefined: not our labels), ages */
export interface HeldLock {
  serviceId: string;
  holder?: LockInfo;
  /** seconds since the last heartbeat (or creation), by the managers' clock */
  beatAgeS: number;
  /** the manager's clock, epoch seconds */
  nowS: number;
}

/** the lock as unlock and status see it: stack/lock.ts's LockView, with the service ID to remove */
export type SwarmLockView =
  | { kind: 'free' }
  | { kind: 'held'; holder: LockInfo; serviceId: string; ageS: number }
  | { kind: 'no-info'; ageS: number; serviceId: string };

const key = (k: string) => `${LOCK_LABEL}.${k}`;

/** the holder as labels: every LockInfo field, one label each */
export function lockLabels(info: LockInfo): Record<string, string> {
  return {
    [key('id')]: info.lock_id,
    [key('environment')]: info.environment,
    [key('acquired_at')]: info.acquired_at,
    [key('by')]: info.acquired_by,
    [key('deployment')]: info.deployment_id,
    [key('operation')]: info.operation,
    [key('pid')]: String(info.pid),
    [key('host')]: info.hostname,
    [key('expires_at')]: info.expires_at,
  };
}

/** the holder back from the labels; undefined when they are not a holder's (a service someone made by hand) */
export function parseLockLabels(labels: Record<string, unknown>): LockInfo | undefined {
  const get = (k: string) => {
    const v = labels[key(k)];
    return typeof v === 'string' ? v : undefined;
  };
  const lockId = get('id');
  if (!lockId) return undefined;
  return {
    lock_id: lockId,
    environment: get('environment') ?? '?',
    acquired_at: get('acquired_at') ?? '?',
    acquired_by: get('by') ?? '?',
    deployment_id: get('deployment') ?? '?',
    operation: get('operation') ?? '?',
    pid: Number(get('pid') ?? NaN),
    hostname: get('host') ?? '?',
    expires_at: get('expires_at') ?? '?',
  };
}

/** held=<ID> <updated, epoch s> <labels JSON> and now=<epoch s>, as the lock scripts print them */
export function parseHeld(out: string): HeldLock | undefined {
  const m = /^held=([a-z0-9]+) (-?\d+) (.*)$/m.exec(out);
  if (!m) return undefined;
  const nowS = Number(/^now=(\d+)$/m.exec(out)?.[1] ?? m[2]);
  let labels: Record<string, unknown> = {};
  try {
    const v = JSON.parse(m[3]!) as unknown;
    if (v && typeof v === 'object') labels = v as Record<string, unknown>;
  } catch {
    // unreadable labels: no holder we can name
  }
  return { serviceId: m[1]!, holder: parseLockLabels(labels), beatAgeS: Math.max(0, nowS - Number(m[2])), nowS };
}

/** why a lock service may be taken over: stack/lock.ts's rules, the heartbeat's age by the managers' clock */
export function swarmStaleReason(held: HeldLock, nowMs: number, me = hostname()): string | undefined {
  return held.holder ? staleReason(held.holder, held.beatAgeS, nowMs, me) : undefined;
}

/** unlock's and status's words for a swarm lock view (a labelless service is never taken over by itself) */
export function describeSwarmLockView(v: SwarmLockView): string {
  if (v.kind === 'held') return `lock held by ${describeHolder(v.holder)}; last heartbeat ${v.ageS}s ago`;
  if (v.kind === 'no-info')
    return (
      `a lock service ${v.serviceId.slice(0, 12)} without holder labels, updated ${v.ageS}s ago ` +
      '(made by hand?); deploys are refused until `togather-deploy unlock` removes it'
    );
  return 'not locked';
}

export class SwarmLock {
  private held?: LockInfo;
  private serviceId?: string;
  private beat?: NodeJS.Timeout;
  private beats = 0;
  private lostIt = false;
  private readonly service: string;

  constructor(
    private readonly ctx: EngineContext,
    private readonly p: SwarmLockParams,
  ) {
    this.service = swarmNames(p.stack).lock;
  }

  get info(): LockInfo | undefined {
    return this.held;
  }

  /** the lock service's ID while held */
  get id(): string | undefined {
    return this.serviceId;
  }

  /** a heartbeat found the lock gone: someone took it over (or removed it with unlock) */
  get lost(): boolean {
    return this.lostIt;
  }

  async acquire(deploymentId: string, operation: string): Promise<LockInfo> {
    const { ctx } = this;
    const policy = ctx.cfg.config.deployment.lock;
    const deadline = ctx.clock.now() + policy.wait;
    let vanished = 0;
    for (;;) {
      const now = ctx.clock.now();
      const info = newLockInfo(ctx, deploymentId, operation, now);
      const r = await ctx.host.run(lockCreateCmd(this.service, this.p.image, lockLabels(info)), {
        check: false,
        timeoutMs: 60_000,
      });
      const id = /^id=([a-z0-9]+)$/m.exec(r.stdout)?.[1];
      if (r.code === 0 && id) {
        this.held = info;
        this.serviceId = id;
        this.lostIt = false;
        this.beat = setInterval(() => void this.heartbeat().catch(() => undefined), HEARTBEAT_MS);
        this.beat.unref();
        return info;
      }
      // the create failed and no lock was there to blame: released in between (look again) or a real failure
      if (r.code === 3 && ++vanished < 3) continue;
      const held = r.code === 4 ? parseHeld(r.stdout) : undefined;
      if (!held) {
        throw new DeployError(
          'lock',
          `could not create the lock service ${this.service}: ${ctx.redactor.redact((r.stderr || r.stdout).trim()) || `exit code ${r.code}`}`,
        );
      }
      const stale = swarmStaleReason(held, now);
      if (held.holder && stale) {
        // by ID: if another deployer took it over first, this removal fails and the next create tells
        const t = await ctx.host.run(removeServiceCmd(held.serviceId), { check: false, timeoutMs: 60_000 });
        if (t.code === 0) {
          ctx.reporter.warn(
            `took over the lock of ${ctx.cfg.environment} because ${stale}: ${describeHolder(held.holder)}`,
          );
          ctx.hostLog?.add('lock.takeover', { reason: stale, holder: held.holder, service: held.serviceId });
        }
        continue;
      }
      if (ctx.clock.now() >= deadline) {
        const who = held.holder
          ? describeHolder(held.holder)
          : `a service named ${this.service} without holder labels (ID ${held.serviceId})`;
        throw new DeployError(
          'lock',
          `${ctx.cfg.environment} is locked by ${who}`,
          'wait for that operation to finish; if it died, the lock expires by itself, or run `togather-deploy unlock` after checking nothing is running',
        );
      }
      await ctx.clock.sleep(Math.min(2000, Math.max(100, deadline - ctx.clock.now())));
    }
  }

  /** one heartbeat now (the timer sends one every HEARTBEAT_MS); false once the lock is no longer ours */
  async heartbeat(): Promise<boolean> {
    if (!this.serviceId || this.lostIt) return false;
    const r = await this.ctx.host.run(lockHeartbeatCmd(this.serviceId, ++this.beats), {
      check: false,
      timeoutMs: 30_000,
    });
    if (r.code === 0) return true;
    if (/no such service|not found/i.test(r.stderr)) {
      this.lostIt = true;
      if (this.beat) clearInterval(this.beat);
      this.beat = undefined;
      this.ctx.reporter.warn(
        `the deploy lock of ${this.ctx.cfg.environment} is gone (taken over or removed by unlock): stop deploying`,
      );
      return false;
    }
    return true; // a failed round trip is not a lost lock; the next beat tries again
  }

  async release(): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    this.beat = undefined;
    if (!this.held || !this.serviceId) return;
    const r = await this.ctx.host.run(removeServiceCmd(this.serviceId), { check: false, timeoutMs: 60_000 });
    if (r.code !== 0)
      this.ctx.reporter.warn('the deploy lock was no longer ours at release (taken over after expiry?); left it alone');
    this.held = undefined;
    this.serviceId = undefined;
  }

  /** what unlock and status show */
  async inspect(): Promise<SwarmLockView> {
    const r = await this.ctx.host.run(lockInspectCmd(this.service), { check: false, timeoutMs: 30_000 });
    const held = r.code === 0 ? parseHeld(r.stdout) : undefined;
    if (!held) return { kind: 'free' };
    if (held.holder) return { kind: 'held', holder: held.holder, serviceId: held.serviceId, ageS: held.beatAgeS };
    return { kind: 'no-info', ageS: held.beatAgeS, serviceId: held.serviceId };
  }

  /**
   * unlock: removes exactly the lock that was shown — by its service ID, or, for a view without one, the lock
   * service whose lock id is the shown holder's — and records who removed whose lock in the audit file.
   */
  async forceRemove(view: LockView | SwarmLockView): Promise<boolean> {
    if (view.kind === 'free') return false;
    const serviceId = 'serviceId' in view ? view.serviceId : undefined;
    const command = serviceId
      ? removeServiceCmd(serviceId)
      : view.kind === 'held'
        ? lockRemoveHeldCmd(this.service, view.holder.lock_id)
        : undefined;
    if (!command) return false;
    const r = await this.ctx.host.run(command, { check: false, timeoutMs: 60_000 });
    if (r.code === 0 && this.p.auditFile) {
      const removed = view.kind === 'held' ? view.holder : { no_info_age_s: view.ageS };
      const line = JSON.stringify({
        ts: new Date(this.ctx.clock.now()).toISOString(),
        action: 'unlock',
        by: this.ctx.actor,
        removed,
        service: serviceId,
      });
      await this.ctx.host.run(appendFileCmd(this.p.auditFile), {
        stdin: this.ctx.redactor.redact(line) + '\n',
        check: false,
      });
    }
    return r.code === 0;
  }
}
