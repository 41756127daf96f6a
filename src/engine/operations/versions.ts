import type { EngineContext } from '../context.js';
import { formatCandidates, type RollbackCandidate } from '../stack/history.js';
import { short, type DeploymentRecord } from '../types.js';
import { listVersions } from './rollback.js';

export interface VersionsView {
  current?: DeploymentRecord;
  candidates: RollbackCandidate[];
}

export interface VersionsOutcome {
  /** machine-readable (--json) */
  data: VersionsView;
  /** what the adapters print: the current version, then the rollback picker */
  text: string;
}

/**
 * `versions`: what can be rolled back to, as data and as the text both adapters show. It does not connect:
 * the action also runs it on the connection of a rollback that was refused, to show the picker.
 */
export async function versions(ctx: EngineContext): Promise<VersionsOutcome> {
  const data = await listVersions(ctx);
  const c = data.current;
  const current = c ? `${short(c.version)}${c.ref ? ` (${c.ref})` : ''} since ${c.deployed_at}` : 'none';
  return { data, text: `current: ${current}\ncan roll back to:\n${formatCandidates(data.candidates)}` };
}
