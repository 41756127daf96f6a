import { short, type DeploymentRecord, type EnvironmentState } from '../types.js';

export interface RollbackCandidate {
  version: string;
  ref?: string;
  deployed_at: string;
  deployed_by: string;
  status: DeploymentRecord['status'];
  kind: DeploymentRecord['kind'];
  imagePresent: boolean;
  /** the version the rollback picks when none is named */
  isDefault: boolean;
}

/**
 * What can be rolled back to: versions from the history that served successfully (not the current one),
 * newest first, one entry per version, and whether their image is still on the host.
 */
export function rollbackCandidates(state: EnvironmentState, imagesOnHost: Set<string>): RollbackCandidate[] {
  const seen = new Set<string>();
  const current = state.current?.version;
  const out: RollbackCandidate[] = [];
  for (const h of state.history) {
    if (h.version === current || seen.has(h.version)) continue;
    if (h.status !== 'superseded' && h.status !== 'active') continue;
    seen.add(h.version);
    out.push({
      version: h.version,
      ref: h.ref,
      deployed_at: h.deployed_at,
      deployed_by: h.deployed_by,
      status: h.status,
      kind: h.kind,
      imagePresent: imagesOnHost.has(h.version),
      isDefault: false,
    });
  }
  // the default is the recorded previous version, else the newest one that can still be started
  const def =
    out.find((c) => c.version === state.previous?.version && c.imagePresent) ?? out.find((c) => c.imagePresent);
  if (def) def.isDefault = true;
  return out;
}

export function pickCandidate(
  candidates: RollbackCandidate[],
  wanted: string | undefined,
): RollbackCandidate | undefined {
  if (!wanted) return candidates.find((c) => c.isDefault);
  const w = wanted.trim().toLowerCase();
  return candidates.find(
    (c) =>
      c.version === w ||
      (w.length >= 7 && /^[0-9a-f]+$/.test(w) && c.version.startsWith(w)) ||
      c.ref?.toLowerCase() === w,
  );
}

export function formatCandidates(candidates: RollbackCandidate[], now = Date.now()): string {
  if (candidates.length === 0) return '  (none: no earlier successful deployment in the history)';
  return candidates
    .map((c) => {
      const age = humanAge(now - Date.parse(c.deployed_at));
      const flags = [c.isDefault ? 'default' : '', c.imagePresent ? '' : 'image gone — cannot roll back']
        .filter(Boolean)
        .join(', ');
      return (
        `  ${short(c.version)}  ${(c.ref ?? '').padEnd(10)}  ${age.padStart(8)} ago  ` +
        `${c.status}${c.kind === 'rollback' ? ' (rollback)' : ''}  by ${c.deployed_by}${flags ? `  [${flags}]` : ''}`
      );
    })
    .join('\n');
}

function humanAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** Deployments newer than the target that ran migrations: rolling back crosses them. Oldest first. */
export function migrationsCrossed(state: EnvironmentState, target: string): DeploymentRecord[] {
  const i = state.history.findIndex(
    (h) => h.version === target && (h.status === 'superseded' || h.status === 'active'),
  );
  const newer = i < 0 ? state.history : state.history.slice(0, i);
  return newer.filter((h) => (h.migrations?.ran ?? 0) > 0).reverse();
}
