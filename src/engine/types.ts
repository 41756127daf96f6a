import type { PhaseTiming } from '../log/reporter.js';

export type Colour = 'blue' | 'green';
export const otherColour = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

export type DeploymentStatus = 'deploying' | 'active' | 'failed' | 'rolled_back' | 'superseded';
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'unknown';

/** One entry of an environment's history, as kept in state.json on the host (never holds a secret). */
export interface DeploymentRecord {
  id: string; // ULID
  kind: 'deploy' | 'rollback';
  environment: string;
  version: string; // full 40-hex SHA
  ref?: string; // what the operator asked for (tag, branch, short SHA), if different
  image: string;
  colour: Colour;
  deployed_at: string; // ISO 8601
  deployed_by: string;
  status: DeploymentStatus;
  health_status: HealthStatus;
  previous_version?: string;
  failure?: { class: string; exit_code: number; message: string };
  phases: PhaseTiming[];
  duration_seconds?: number;
  flags: { dry_run?: boolean; skip_ci_check?: boolean; skip_migrations?: boolean; force?: boolean };
  migrations?: { from?: number; to?: number; ran: number; dirty?: boolean };
  snapshot?: string;
  rollback_count?: number;
}

export interface EnvironmentState {
  schema: 1;
  environment: string;
  current?: DeploymentRecord;
  previous?: DeploymentRecord;
  history: DeploymentRecord[]; // newest first
  updated_at: string;
}

/** What a finished operation reports to its adapter (outputs, summary, notifications). */
export interface OperationReport {
  operation: 'deploy' | 'rollback' | 'status' | 'versions' | 'unlock' | 'snapshot' | 'plan';
  ok: boolean;
  exitCode: number;
  environment: string;
  deploymentId?: string;
  version?: string;
  colour?: Colour;
  previousVersion?: string;
  url?: string;
  durationMs: number;
  /** commands sent to the host by the whole operation (one SSH session each), when the host counts them */
  roundTrips?: number;
  phases: PhaseTiming[];
  message: string;
  record?: DeploymentRecord;
  /** commands a dry run would run, redacted */
  plan?: string[];
  /**
   * after a failure, what the proxy routes to: the version that served before, the new one (the failure came
   * after the switch), or nothing at all; undefined when the failure came before the host's stack was read
   */
  serving?: 'previous' | 'new' | 'none';
}

/** a commit as people read it: the first 12 hex digits (undefined stays undefined, for `short(x?.version) ?? '…'`) */
export function short(sha: string): string;
export function short(sha: string | undefined): string | undefined;
export function short(sha: string | undefined): string | undefined {
  return sha?.slice(0, 12);
}

/** milliseconds as seconds with one decimal, as records and events carry them */
export const seconds = (ms: number): number => Math.round(ms / 100) / 10;
