import { ExitCode } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { Layout } from '../stack/layout.js';
import type { LockView } from '../stack/lock.js';
import { targetFor } from './target.js';

export interface UnlockRequest {
  /** the operator confirmed up front (CLI --yes, action confirm = environment name) */
  confirmed: boolean;
  /** asked when not confirmed up front; absent = refuse */
  ask?: (question: string) => Promise<boolean>;
  /**
   * where the lock is shown, before anything is asked: the operator must see whose lock it is first. The CLI
   * shows it on stdout next to its prompt; absent = the reporter.
   */
  show?: (text: string) => void;
}

export interface UnlockOutcome {
  /** not-locked: nothing to do; refused: not confirmed, left in place; changed: not the lock that was shown any more */
  result: 'not-locked' | 'refused' | 'changed' | 'removed';
  /** the lock as it was found and shown */
  view: LockView;
  /** 0, refused (13) or lock (5) */
  exitCode: number;
}

/**
 * `unlock`: shows the lock, asks (or refuses without a confirmation), then removes exactly the lock it showed;
 * forceRemoveLock records who removed whose lock in the host's audit.jsonl. The adapters word the outcome.
 */
export async function unlock(ctx: EngineContext, req: UnlockRequest): Promise<UnlockOutcome> {
  const show = req.show ?? ((text: string) => ctx.reporter.info(text));
  await ctx.host.connect?.();
  const layout = new Layout(ctx.cfg);
  const target = targetFor(ctx);
  const view = await target.lockView(ctx, layout);
  if (view.kind === 'free') {
    show(`${ctx.cfg.environment} is not locked`);
    return { result: 'not-locked', view, exitCode: 0 };
  }
  show(target.describeLock(view));
  const ok =
    req.confirmed || (req.ask ? await req.ask('remove it? only if that operation is really gone [y/N] ') : false);
  if (!ok) return { result: 'refused', view, exitCode: ExitCode.refused };
  if (!(await target.removeLock(ctx, layout, view))) return { result: 'changed', view, exitCode: ExitCode.lock };
  return { result: 'removed', view, exitCode: 0 };
}
