import type { NotifyEventName } from '../config/schema.js';

export type { NotifyEventName } from '../config/schema.js';

/**
 * The JSON body every channel is built from (contracts.md: event, deployment_id, version, timestamp, metadata),
 * plus what an operator needs to act on it without opening the run. Built only from the deployment's record
 * and redacted as a whole before it leaves the runner: it carries names, SHAs and timings, never a setting.
 */
export interface DeploymentEvent {
  schema_version: 1;
  event: NotifyEventName;
  deployment_id: string;
  environment: string;
  /** full SHA the operation puts live: the release for a deploy, the restored version for rolled_back */
  version: string | null;
  /** the SHA that served before the operation (for rolled_back: the release that was abandoned) */
  previous_version: string | null;
  /** colour `version` runs in */
  colour: 'blue' | 'green' | null;
  timestamp: string;
  duration_seconds: number | null;
  failure: { class: string; exit_code: number; reason: string } | null;
  run_url: string | null;
  metadata: {
    ref?: string;
    actor?: string;
    host?: string;
    url?: string;
    /** what started the operation: deploy, rollback command, watch window; snapshot-check: the staleness alert */
    trigger?: 'deploy' | 'rollback' | 'watch' | 'snapshot-check';
    [key: string]: string | number | boolean | null | undefined;
  };
}

/** what a caller supplies; the rest (timestamp, environment, run URL, schema) is filled in by the engine */
export type EventInput = Pick<DeploymentEvent, 'event' | 'deployment_id'> &
  Partial<
    Pick<DeploymentEvent, 'version' | 'previous_version' | 'colour' | 'duration_seconds' | 'failure' | 'metadata'>
  >;

const SHORT = (sha: string | null) => (sha ? sha.slice(0, 12) : '?');

/** one line a human reads in a phone notification */
export function headline(e: DeploymentEvent): string {
  switch (e.event) {
    case 'deployment.started':
      return `deploying ${SHORT(e.version)}${e.metadata.ref ? ` (${e.metadata.ref})` : ''} to ${e.environment}`;
    case 'deployment.completed':
      return `${SHORT(e.version)}${e.metadata.ref ? ` (${e.metadata.ref})` : ''} is live on ${e.environment}${e.colour ? ` (${e.colour})` : ''}`;
    case 'deployment.failed':
      if (e.metadata.trigger === 'snapshot-check') return `snapshots of ${e.environment} are stale`;
      return `deploy of ${SHORT(e.version)} to ${e.environment} failed${e.failure ? ` (exit ${e.failure.exit_code}, ${e.failure.class})` : ''}`;
    case 'deployment.rolled_back':
      return `${e.environment} rolled back to ${SHORT(e.version)}${e.colour ? ` on ${e.colour}` : ''}, away from ${SHORT(e.previous_version)}`;
  }
}

/** the text of an ntfy message: the headline, then the details that fit on a phone */
export function messageText(e: DeploymentEvent): string {
  const lines = [headline(e)];
  if (e.failure) lines.push(`reason: ${e.failure.reason.split('\n')[0]!.slice(0, 300)}`);
  if (e.previous_version && e.event !== 'deployment.rolled_back') lines.push(`previous: ${SHORT(e.previous_version)}`);
  if (typeof e.metadata.serving_after_seconds === 'number')
    lines.push(`old version serving ${e.metadata.serving_after_seconds.toFixed(1)} s after the first failed probe`);
  if (e.duration_seconds !== null) lines.push(`took ${e.duration_seconds.toFixed(1)} s`);
  if (e.metadata.actor) lines.push(`by ${e.metadata.actor}`);
  lines.push(`deployment ${e.deployment_id}`);
  return lines.join('\n');
}

export const EVENT_SHORT: Record<NotifyEventName, 'started' | 'completed' | 'failed' | 'rolled_back'> = {
  'deployment.started': 'started',
  'deployment.completed': 'completed',
  'deployment.failed': 'failed',
  'deployment.rolled_back': 'rolled_back',
};
