/**
 * The engine's public face: the verbs the adapters (action, CLI) may call, with their request and report types.
 * Adapters import from here only; what sits below (operations → release → database | observe → stack) is the
 * engine's own business and may move.
 */
export type { BuildCache, Clock, EngineContext, EventLog, OffsiteKeys } from './context.js';
export { realClock } from './context.js';
export type { Colour, DeploymentRecord, EnvironmentState, OperationReport } from './types.js';
export { deploy, failedReport, type DeployRequest } from './operations/deploy.js';
export { listVersions, rollback, type RollbackRequest } from './operations/rollback.js';
export { formatCandidates, type RollbackCandidate } from './stack/history.js';
export {
  SNAPSHOT_SUBCOMMANDS,
  snapshotCommand,
  type SnapshotRequest,
  type SnapshotSub,
} from './operations/snapshot.js';
export { formatStatus, status, type EnvironmentStatus } from './operations/status.js';
export { cleanup, type CleanupPlan } from './operations/cleanup.js';
export { targetFor } from './operations/target.js';
export { describeLockView, forceRemoveLock, inspectLock, type LockView } from './stack/lock.js';
export { Layout } from './stack/layout.js';
export { monitoringProblems } from './observe/monitoring.js';
export { unlock, type UnlockOutcome, type UnlockRequest } from './operations/unlock.js';
export { versions, type VersionsOutcome, type VersionsView } from './operations/versions.js';
export { formatSetup, setup, type SetupCheck, type SetupReport, type SetupRequest } from './operations/setup.js';
