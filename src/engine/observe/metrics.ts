import { script } from '../../host/host.js';
import type { DeploymentEvent } from '../../notify/event.js';
import type { EngineContext } from '../context.js';
import { readFileCmd } from '../stack/files.js';
import type { Layout } from '../stack/layout.js';

/*
 * Deployment metrics for Prometheus, written by the deployer into the node exporter's textfile-collector
 * directory on the host (<root>/monitoring/textfile). The file is the only memory the counters have: each
 * outcome reads it, adds one and rewrites it atomically (the collector must never see half a file). A lost
 * file restarts the counters at zero, which PromQL's rate()/increase() treat as a counter reset.
 */

export const METRICS_FILE = 'togather_deploy.prom';
export const DEPLOY_OUTCOMES = ['completed', 'failed', 'rolled_back'] as const;
export const ROLLBACK_TRIGGERS = ['watch', 'manual'] as const;
type Outcome = (typeof DEPLOY_OUTCOMES)[number];
type Trigger = (typeof ROLLBACK_TRIGGERS)[number];

/** every metric name the file can hold: the dashboards and alert rules may query these and nothing else of ours */
export const DEPLOY_METRICS = {
  togather_deploy_info: 'gauge',
  togather_deployments_total: 'counter',
  togather_rollbacks_total: 'counter',
  togather_deploy_last_duration_seconds: 'gauge',
  togather_deploy_last_timestamp_seconds: 'gauge',
  togather_deploy_last_success: 'gauge',
  togather_deploy_last_outcome: 'gauge',
  togather_deploy_watch_rollback_seconds: 'gauge',
} as const;

const HELP: Record<keyof typeof DEPLOY_METRICS, string> = {
  togather_deploy_info:
    'The version serving after the last successful deploy or rollback (always 1; the data is in the labels).',
  togather_deployments_total: 'Deploys by outcome: completed, failed, rolled_back (failed its watch window).',
  togather_rollbacks_total:
    'Rollbacks by trigger: watch (automatic, after the watch window failed) or manual (rollback command).',
  togather_deploy_last_duration_seconds: 'Wall-clock duration of the last deploy or rollback.',
  togather_deploy_last_timestamp_seconds: 'When the last deploy or rollback finished (unix time).',
  togather_deploy_last_success: '1 when the last deploy or rollback succeeded, else 0.',
  togather_deploy_last_outcome: 'Outcome of the last operation (1 on the matching outcome label, 0 on the others).',
  togather_deploy_watch_rollback_seconds:
    'Last automatic rollback: seconds from the first failed watch probe to the previous version serving again.',
};

export interface DeployMetricsState {
  deployments: Record<Outcome, number>;
  rollbacks: Record<Trigger, number>;
  info?: { version: string; colour: string; deployment_id: string };
  lastDuration?: number;
  lastTimestamp?: number;
  lastOutcome?: Outcome;
  watchRollbackSeconds?: number;
}

function emptyState(): DeployMetricsState {
  return { deployments: { completed: 0, failed: 0, rolled_back: 0 }, rollbacks: { watch: 0, manual: 0 } };
}

const SAMPLE = /^([a-z_]+)(?:\{(.*)\})?\s+(\S+)$/;

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g))
    out[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
  return out;
}

/** reads back what renderDeployMetrics wrote; anything else in the file is ignored */
export function parseDeployMetrics(text: string): DeployMetricsState {
  const s = emptyState();
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line.trim());
    if (!m) continue;
    const [, name, labelText = '', raw] = m;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const l = parseLabels(labelText);
    if (name === 'togather_deployments_total' && (DEPLOY_OUTCOMES as readonly string[]).includes(l.outcome ?? ''))
      s.deployments[l.outcome as Outcome] = value;
    else if (name === 'togather_rollbacks_total' && (ROLLBACK_TRIGGERS as readonly string[]).includes(l.trigger ?? ''))
      s.rollbacks[l.trigger as Trigger] = value;
    else if (name === 'togather_deploy_info' && l.version && l.colour)
      s.info = { version: l.version, colour: l.colour, deployment_id: l.deployment_id ?? '' };
    else if (name === 'togather_deploy_last_duration_seconds') s.lastDuration = value;
    else if (name === 'togather_deploy_last_timestamp_seconds') s.lastTimestamp = value;
    else if (
      name === 'togather_deploy_last_outcome' &&
      value === 1 &&
      (DEPLOY_OUTCOMES as readonly string[]).includes(l.outcome ?? '')
    )
      s.lastOutcome = l.outcome as Outcome;
    else if (name === 'togather_deploy_watch_rollback_seconds') s.watchRollbackSeconds = value;
  }
  return s;
}

/** the state after one outcome event; started events change nothing */
export function applyEvent(prev: DeployMetricsState, e: DeploymentEvent): DeployMetricsState {
  const s: DeployMetricsState = { ...prev, deployments: { ...prev.deployments }, rollbacks: { ...prev.rollbacks } };
  const manual = e.metadata.trigger === 'rollback';
  let outcome: Outcome;
  switch (e.event) {
    case 'deployment.started':
      return s;
    case 'deployment.completed':
      outcome = 'completed';
      break;
    case 'deployment.failed':
      outcome = 'failed';
      break;
    case 'deployment.rolled_back':
      outcome = 'rolled_back';
      s.rollbacks[manual ? 'manual' : 'watch']++;
      if (!manual && typeof e.metadata.serving_after_seconds === 'number')
        s.watchRollbackSeconds = e.metadata.serving_after_seconds;
      break;
  }
  // a rollback command is not a deploy: it counts as a rollback only
  if (!(manual && outcome === 'rolled_back')) s.deployments[outcome]++;
  if (outcome !== 'failed' && e.version && e.colour)
    s.info = { version: e.version, colour: e.colour, deployment_id: e.deployment_id };
  s.lastOutcome = manual && outcome === 'rolled_back' ? 'completed' : outcome;
  if (e.duration_seconds !== null) s.lastDuration = e.duration_seconds;
  s.lastTimestamp = Math.round(Date.parse(e.timestamp) / 1000);
  return s;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function renderDeployMetrics(environment: string, s: DeployMetricsState): string {
  const out: string[] = [];
  const env = `environment="${esc(environment)}"`;
  const head = (name: keyof typeof DEPLOY_METRICS) =>
    out.push(`# HELP ${name} ${HELP[name]}`, `# TYPE ${name} ${DEPLOY_METRICS[name]}`);
  if (s.info) {
    head('togather_deploy_info');
    out.push(
      `togather_deploy_info{${env},version="${esc(s.info.version)}",colour="${esc(s.info.colour)}",deployment_id="${esc(s.info.deployment_id)}"} 1`,
    );
  }
  head('togather_deployments_total');
  for (const o of DEPLOY_OUTCOMES) out.push(`togather_deployments_total{${env},outcome="${o}"} ${s.deployments[o]}`);
  head('togather_rollbacks_total');
  for (const t of ROLLBACK_TRIGGERS) out.push(`togather_rollbacks_total{${env},trigger="${t}"} ${s.rollbacks[t]}`);
  if (s.lastDuration !== undefined) {
    head('togather_deploy_last_duration_seconds');
    out.push(`togather_deploy_last_duration_seconds{${env}} ${s.lastDuration}`);
  }
  if (s.lastTimestamp !== undefined) {
    head('togather_deploy_last_timestamp_seconds');
    out.push(`togather_deploy_last_timestamp_seconds{${env}} ${s.lastTimestamp}`);
  }
  if (s.lastOutcome) {
    head('togather_deploy_last_success');
    out.push(`togather_deploy_last_success{${env}} ${s.lastOutcome === 'completed' ? 1 : 0}`);
    head('togather_deploy_last_outcome');
    for (const o of DEPLOY_OUTCOMES)
      out.push(`togather_deploy_last_outcome{${env},outcome="${o}"} ${o === s.lastOutcome ? 1 : 0}`);
  }
  if (s.watchRollbackSeconds !== undefined) {
    head('togather_deploy_watch_rollback_seconds');
    out.push(`togather_deploy_watch_rollback_seconds{${env}} ${s.watchRollbackSeconds}`);
  }
  return out.join('\n') + '\n';
}

export function textfileDir(layout: Layout): string {
  return layout.path('monitoring', 'textfile');
}

// readable by a node exporter running as another user: the file holds versions and counts, nothing secret
export const WRITE_TEXTFILE =
  'set -e; mkdir -p -- "$1"; chmod 755 -- "$1"; t="$1/.$2.tmp.$$"; cat > "$t"; chmod 644 "$t"; mv -f -- "$t" "$1/$2"';

/** Updates the textfile with one outcome; only with monitoring enabled. Failures are the caller's to report. */
export async function recordOutcomeMetrics(ctx: EngineContext, layout: Layout, e: DeploymentEvent): Promise<void> {
  if (!ctx.cfg.config.monitoring.enabled || e.event === 'deployment.started') return;
  const dir = textfileDir(layout);
  const r = await ctx.host.run(readFileCmd(`${dir}/${METRICS_FILE}`), { check: false });
  const prev = r.code === 0 ? parseDeployMetrics(r.stdout) : emptyState();
  const text = renderDeployMetrics(ctx.cfg.environment, applyEvent(prev, e));
  await ctx.host.run(script(WRITE_TEXTFILE, dir, METRICS_FILE), { stdin: text });
}
