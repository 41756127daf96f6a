import type { ResolvedConfig } from '../config/load.js';
import type { Host, Local } from '../host/host.js';
import type { Redactor } from '../log/redact.js';
import type { Reporter } from '../log/reporter.js';
import type { Notifier } from '../notify/notifier.js';

/** A directory of build-layer cache that outlives the runner (the action backs it with @actions/cache). */
export interface BuildCache {
  dir: string;
  restore(): Promise<boolean>;
  save(): Promise<void>;
}

/** The operation's log on the host (stack/hostlog.ts): events are buffered, then written once per phase. */
export interface EventLog {
  add(event: string, data?: Record<string, unknown>): void;
  flush(): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** What the off-host snapshot copies take from the deployer's environment (secrets: never shown anywhere). */
export interface OffsiteKeys {
  /** variables for rclone, e.g. RCLONE_CONFIG naming the rclone.conf given; absent: rclone's own environment */
  rcloneEnv?: Record<string, string>;
  /** age identities that decrypt the copies: only fetching one back needs them */
  identities: string[];
}

/** Everything an engine operation needs, built by the adapters (action, CLI) and by tests. */
export interface EngineContext {
  cfg: ResolvedConfig;
  host: Host;
  local: Local;
  reporter: Reporter;
  redactor: Redactor;
  clock: Clock;
  /** who is deploying: GitHub actor, or user@machine for the CLI */
  actor: string;
  /** DOCKER_HOST etc. for the local docker client (the runner's engine) */
  localDockerEnv?: Record<string, string>;
  dryRun: boolean;
  /** set once the deployment's host log exists */
  hostLog?: EventLog;
  /** layer cache for builds on this machine; the action provides one on GitHub runners */
  buildCache?: BuildCache;
  /** sends deployment events from the runner (webhook, ntfy); absent when none is configured */
  notifier?: Notifier;
  /** link to the CI run driving this operation, for notifications */
  runUrl?: string;
  /** rclone's configuration and the age identities, for database.snapshots.offsite */
  offsiteKeys?: OffsiteKeys;
  /** provider.kind swarm: the other nodes that run the app, each over its own pinned SSH (opened on first use) */
  nodeHosts?: () => { name: string; host: Host }[];
}
