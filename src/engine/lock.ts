import { hostname } from 'node:os';
import { ulid } from 'ulid';
import { DeployError } from '../errors.js';
import { script } from '../host/host.js';
import type { EngineContext } from './context.js';
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
 * Its info.json says who holds it until when. Taking over an expired lock is itself guarded by an atomic
 * mkdir named after the stale lock's id, so two deployers that both see the same stale lock cannot both win,
 * and a deployer never removes a lock it does not hold (the id must match).
 */
const ACQUIRE = `
mkdir -p -- "$(dirname -- "$1")" || exit 2
if mkdir -- "$1" 2>/dev/null; then cat > "$1/info.json"; exit 0; fi
cat -- "$1/info.json" 2>/dev/null
exit 4
`;
const TAKEOVER = `
mkdir -- "$1.takeover.$2" 2>/dev/null || exit 5
grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null || { rmdir -- "$1.takeover.$2"; exit 5; }
mv -- "$1" "$1.takeover.$2/lock"
`;
const RELEASE = `
grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null || exit 5
mv -- "$1" "$1.released.$2" && rm -rf -- "$1.released.$2"
`;
const READ = `cat -- "$1/info.json" 2>/dev/null || exit 3`;
const FORCE_REMOVE = `
grep -q "\\"lock_id\\":\\"$2\\"" "$1/info.json" 2>/dev/null || exit 5
mv -- "$1" "$1.removed.$2" && rm -rf -- "$1.removed.$2"
`;

export function describeHolder(info: LockInfo | undefined): string {
  if (!info) return 'an unknown holder (the lock has no readable info.json)';
  return `${info.acquired_by} (${info.operation} ${info.deployment_id}, pid ${info.pid} on ${info.hostname}) since ${info.acquired_at}, expires ${info.expires_at}`;
}

function parseInfo(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as LockInfo;
    return typeof v.lock_id === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export class DeployLock {
  private held?: LockInfo;
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
      const info: LockInfo = {
        lock_id: ulid(),
        environment: ctx.cfg.environment,
        acquired_at: new Date(now).toISOString(),
        acquired_by: ctx.actor,
        deployment_id: deploymentId,
        operation,
        pid: process.pid,
        hostname: hostname(),
        expires_at: new Date(now + policy.timeout).toISOString(),
      };
      const r = await ctx.host.run(script(ACQUIRE, layout.lockDir), { stdin: JSON.stringify(info), check: false });
      if (r.code === 0) {
        this.held = info;
        return info;
      }
      if (r.code !== 4) throw new DeployError('lock', `could not create the lock at ${layout.lockDir}: ${r.stderr.trim()}`);
      const holder = parseInfo(r.stdout);
      if (holder && Date.parse(holder.expires_at) < now) {
        const t = await ctx.host.run(script(TAKEOVER, layout.lockDir, holder.lock_id), { check: false });
        if (t.code === 0) ctx.reporter.warn(`took over an expired lock held by ${describeHolder(holder)}`);
        continue;
      }
      if (!holder && r.stdout.trim() === '') {
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
    if (!this.held) return;
    const r = await this.ctx.host.run(script(RELEASE, this.layout.lockDir, this.held.lock_id), { check: false });
    if (r.code !== 0) this.ctx.reporter.warn('the deploy lock was no longer ours at release (taken over after expiry?); left it alone');
    this.held = undefined;
  }
}

export async function readLock(ctx: EngineContext, layout: Layout): Promise<LockInfo | undefined> {
  const r = await ctx.host.run(script(READ, layout.lockDir), { check: false });
  return r.code === 0 ? parseInfo(r.stdout) : undefined;
}

/** unlock command: removes exactly the lock that was shown to the operator (by id), nothing newer */
export async function forceRemoveLock(ctx: EngineContext, layout: Layout, lockId: string): Promise<boolean> {
  const r = await ctx.host.run(script(FORCE_REMOVE, layout.lockDir, lockId), { check: false });
  return r.code === 0;
}
