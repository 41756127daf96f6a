import { hostname } from 'node:os';
import { ulid } from 'ulid';
import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import {
  auditAppendCmd,
  lockAcquireCmd,
  lockForceRemoveCmd,
  lockHeartbeatCmd,
  lockInspectCmd,
  lockReleaseCmd,
  lockRemoveNoInfoCmd,
  lockTakeoverCmd,
  lockTakeoverNoInfoCmd,
} from './commands.js';
import type { Layout } from './layout.js';

export interface LockInfo {
  lock_id: string;
  environment: string;
  acquired_at: string;
  acquired_by: string;
  deployment_id: string;
  operation: string;
  pid: number;
  hostname: string;
  expires_at: string;
}

/*
 * The lock is a directory: mkdir is atomic on every POSIX filesystem, so exactly one deployer creates it.
 * Its info.json says who holds it until when; its heartbeat file is touched by the holder every
 * HEARTBEAT_MS, so a holder that died (killed runner, lost machine) is recognised long before the expiry.
 * Ages are measured with the host's clock only, so clock skew between deployers does not matter.
 * Taking over a dead or expired lock is itself guarded by an atomic mkdir named after the stale lock's id,
 * so two deployers that both see the same stale lock cannot both win, and a deployer never removes a lock it
 * does not hold (the id must match). The scripts are in commands.ts.
 */
export const HEARTBEAT_MS = 15_000;
/** a holder silent for this long is dead: several missed heartbeats, not one slow SSH round trip */
export const HEARTBEAT_DEAD_S = 120;

/** a lock directory older than this with no info.json was left by a holder that died while creating it */
export const NOINFO_STALE_S = 30;

export function describeHolder(info: LockInfo | undefined): string {
  if (!info) return 'an unknown holder (the lock has no readable info.json)';
  return (
    `${info.acquired_by} (${info.operation} ${info.deployment_id}, pid ${info.pid} on ${info.hostname}) ` +
    `since ${info.acquired_at}, expires ${info.expires_at}`
  );
}

function heartbeatAge(text: string): number | undefined {
  const m = /^heartbeat_age=(-?\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** why a held lock may be taken over, or undefined when its holder must be presumed alive */
export function staleReason(
  holder: LockInfo,
  ageS: number | undefined,
  nowMs: number,
  me = hostname(),
): string | undefined {
  if (Date.parse(holder.expires_at) < nowMs) return 'it expired';
  if (holder.hostname === me && !pidAlive(holder.pid)) return `its process ${holder.pid} on this machine is gone`;
  if (ageS !== undefined && ageS > HEARTBEAT_DEAD_S) return `its holder has sent no heartbeat for ${ageS}s`;
  return undefined;
}

function parseInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text.split('\nheartbeat_age=')[0]!) as LockInfo;
    return typeof v.lock_id === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** who takes the lock, from when until when: a fresh lock id each attempt */
export function newLockInfo(ctx: EngineContext, deploymentId: string, operation: string, now: number): LockInfo {
  return {
    lock_id: ulid(),
    environment: ctx.cfg.environment,
    acquired_at: new Date(now).toISOString(),
    acquired_by: ctx.actor,
    deployment_id: deploymentId,
    operation,
    pid: process.pid,
    hostname: hostname(),
    expires_at: new Date(now + ctx.cfg.config.deployment.lock.timeout).toISOString(),
  };
}

export class DeployLock {
  private held?: LockInfo;
  private beat?: NodeJS.Timeout;
  constructor(
    private readonly ctx: EngineContext,
    private readonly layout: Layout,
  ) {}

  get info(): LockInfo | undefined {
    return this.held;
  }

  async acquire(deploymentId: string, operation: string): Promise<LockInfo> {
    const { ctx, layout } = this;
    const policy = ctx.cfg.config.deployment.lock;
    const deadline = ctx.clock.now() + policy.wait;
    for (;;) {
      const now = ctx.clock.now();
      const info = newLockInfo(ctx, deploymentId, operation, now);
      const r = await ctx.host.run(lockAcquireCmd(layout), { stdin: JSON.stringify(info), check: false });
      if (r.code === 0) {
        this.held = info;
        this.beat = setInterval(() => {
          void ctx.host.run(lockHeartbeatCmd(layout, info.lock_id), { check: false }).catch(() => undefined);
        }, HEARTBEAT_MS);
        this.beat.unref();
        return info;
      }
      if (r.code !== 4)
        throw new DeployError('lock', `could not create the lock at ${layout.lockDir}: ${r.stderr.trim()}`);
      const holder = parseInfo(r.stdout);
      const stale = holder && staleReason(holder, heartbeatAge(r.stdout), now);
      if (holder && stale) {
        const t = await ctx.host.run(lockTakeoverCmd(layout, holder.lock_id), { check: false });
        if (t.code === 0) {
          ctx.reporter.warn(`took over the lock of ${ctx.cfg.environment} because ${stale}: ${describeHolder(holder)}`);
          ctx.hostLog?.add('lock.takeover', { reason: stale, holder });
        }
        continue;
      }
      const mtime = /^dir_mtime=(\d+)$/m.exec(r.stdout)?.[1];
      const age = heartbeatAge(r.stdout);
      if (!holder && mtime && age !== undefined && age > NOINFO_STALE_S) {
        const t = await ctx.host.run(lockTakeoverNoInfoCmd(layout, mtime), { check: false });
        if (t.code === 0)
          ctx.reporter.warn(
            `took over a lock directory of ${ctx.cfg.environment} that had no info.json for ${age}s (its holder died while creating it)`,
          );
        continue;
      }
      if (!holder) {
        // mkdir lost the race against a holder that has not written info.json yet: look again shortly
        await ctx.clock.sleep(200);
        if (ctx.clock.now() < deadline + 2000) continue;
      }
      if (ctx.clock.now() >= deadline) {
        throw new DeployError(
          'lock',
          `${ctx.cfg.environment} is locked by ${describeHolder(holder)}`,
          'wait for that operation to finish; if it died, the lock expires by itself, or run `togather-deploy unlock` after checking nothing is running',
        );
      }
      await ctx.clock.sleep(Math.min(2000, Math.max(100, deadline - ctx.clock.now())));
    }
  }

  async release(): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    this.beat = undefined;
    if (!this.held) return;
    const r = await this.ctx.host.run(lockReleaseCmd(this.layout, this.held.lock_id), { check: false });
    if (r.code !== 0)
      this.ctx.reporter.warn('the deploy lock was no longer ours at release (taken over after expiry?); left it alone');
    this.held = undefined;
  }
}

export async function readLock(ctx: EngineContext, layout: Layout): Promise<LockInfo | undefined> {
  const view = await inspectLock(ctx, layout);
  return view.kind === 'held' ? view.holder : undefined;
}

/** what `unlock` finds: a holder, a directory its creator left without info.json, or no lock */
export type LockView = { kind: 'free' } | { kind: 'held'; holder: LockInfo } | { kind: 'no-info'; ageS: number };

export async function inspectLock(ctx: EngineContext, layout: Layout): Promise<LockView> {
  const r = await ctx.host.run(lockInspectCmd(layout), { check: false });
  const holder = r.code === 0 ? parseInfo(r.stdout) : undefined;
  if (holder) return { kind: 'held', holder };
  const age = /^noinfo_age=(-?\d+)$/m.exec(r.stdout)?.[1];
  if (r.code === 4 && age !== undefined) return { kind: 'no-info', ageS: Number(age) };
  if (r.code === 0) return { kind: 'no-info', ageS: 0 }; // an unreadable info.json: shown, never guessed at
  return { kind: 'free' };
}

export function describeLockView(v: LockView): string {
  if (v.kind === 'held') return `lock held by ${describeHolder(v.holder)}`;
  if (v.kind === 'no-info') {
    return (
      `a lock directory without holder information, ${v.ageS}s old (its creator died while taking it, or is taking it right now); ` +
      `the next operation takes it over after ${NOINFO_STALE_S}s`
    );
  }
  return 'not locked';
}

/**
 * unlock command: removes exactly the lock that was shown to the operator — by id, or a directory still without
 * info.json that is old enough not to be a holder in the middle of taking it — nothing newer.
 */
export async function forceRemoveLock(ctx: EngineContext, layout: Layout, view: LockView): Promise<boolean> {
  if (view.kind === 'free') return false;
  if (view.kind === 'no-info' && view.ageS < NOINFO_STALE_S) return false;
  const r = await ctx.host.run(
    view.kind === 'held' ? lockForceRemoveCmd(layout, view.holder.lock_id) : lockRemoveNoInfoCmd(layout),
    { check: false },
  );
  const holder = view.kind === 'held' ? view.holder : { no_info_age_s: view.ageS };
  if (r.code === 0) {
    // who removed whose lock stays on the host
    const line = JSON.stringify({ ts: new Date().toISOString(), action: 'unlock', by: ctx.actor, removed: holder });
    await ctx.host.run(auditAppendCmd(layout), { stdin: ctx.redactor.redact(line) + '\n', check: false });
  }
  return r.code === 0;
}
