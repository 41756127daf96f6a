import { stringify } from 'yaml';
import type { ResolvedConfig } from '../../config/load.js';
import type { ConfigProblem } from '../../config/problems.js';
import { DeployError, describeError } from '../../errors.js';
import { cmd, script, type Command } from '../../host/host.js';
import type { NotifySettings } from '../../notify/notifier.js';
import { assetDir, readAsset, readDir } from '../assets.js';
import { join } from 'node:path';
import type { EngineContext } from '../context.js';
import type { Layout } from '../stack/layout.js';
import { renderEnvFile, writeHostFiles, type HostFile } from '../stack/files.js';

/*
 * The monitoring stack (docker/monitoring) beside an environment's app stack: Prometheus, Alertmanager, a node
 * exporter (whose textfile collector reads the deployer's togather_deploy_* metrics), a PostgreSQL exporter and
 * Grafana with provisioned dashboards. Its own compose project on the app stack's network. Static files come
 * from docker/monitoring; what depends on the configuration (scrape targets, receivers, secrets) is rendered here.
 */

export const MONITORING_DIR = 'monitoring';

/**
 * The app's metrics the alert rules and dashboards rely on: what the Togather server exports on /metrics (its
 * internal/metrics package: HTTP middleware, health checks, database pool, build info). Tests check every
 * query against this list, the exporters' real output and the deployer's own metrics.
 */
export const APP_METRICS = [
  'togather_app_info',
  'togather_health_status',
  'togather_health_check_status',
  'togather_health_check_latency_ms',
  'togather_http_requests_total',
  'togather_http_request_duration_seconds',
  'togather_http_requests_in_flight',
  'togather_db_connections_open',
  'togather_db_connections_in_use',
  'togather_db_connections_idle',
  'togather_db_connections_max_open',
  'togather_db_query_duration_seconds',
  'togather_db_errors_total',
] as const;

export function monitoringProject(layout: Layout): string {
  return `${layout.stack}-monitoring`;
}

/** compose v1 names a project's network <project>_<network>; the app stack's is "togather" */
export function appNetwork(layout: Layout): string {
  return `${layout.stack.replace(/[^a-z0-9_-]/g, '')}_togather`;
}

export function renderPrometheusConfig(ctx: Pick<EngineContext, 'cfg'>): string {
  const m = ctx.cfg.config.monitoring;
  const port = ctx.cfg.config.app.port;
  const every = `${Math.max(1, Math.round(m.scrape_interval / 1000))}s`;
  const doc = {
    global: {
      scrape_interval: every,
      evaluation_interval: every,
      external_labels: { environment: ctx.cfg.environment },
    },
    rule_files: ['/etc/prometheus/rules/*.yml'],
    alerting: { alertmanagers: [{ static_configs: [{ targets: ['alertmanager:9093'] }] }] },
    scrape_configs: [
      {
        // both colours: only the live one runs, so the retired one shows as down (the alert rules know)
        job_name: 'togather',
        metrics_path: m.metrics_path,
        static_configs: [
          { targets: [`app-blue:${port}`], labels: { colour: 'blue' } },
          { targets: [`app-green:${port}`], labels: { colour: 'green' } },
        ],
      },
      { job_name: 'node', static_configs: [{ targets: ['node-exporter:9100'] }] },
      ...(hasDatabaseUrl(ctx)
        ? [{ job_name: 'postgres', static_configs: [{ targets: ['postgres-exporter:9187'] }] }]
        : []),
      { job_name: 'prometheus', static_configs: [{ targets: ['localhost:9090'] }] },
    ],
  };
  return `# Written by togather-deploy from deployment.yml (monitoring:) on every deploy; edit that, not this file.\n${stringify(doc)}`;
}

/** ntfy turns Alertmanager's JSON into a readable message with its templating query parameters */
export function ntfyAlertUrl(topicUrl: string): string {
  const u = new URL(topicUrl);
  u.searchParams.set('tpl', 'yes');
  u.searchParams.set('t', 'togather {{.status}}: {{.commonLabels.alertname}}');
  u.searchParams.set('m', '{{range .alerts}}[{{.status}}] {{.annotations.summary}}\n{{end}}');
  u.searchParams.set('tags', 'rotating_light');
  u.searchParams.set('p', '4');
  return u.toString();
}

/**
 * Alertmanager routes every alert to the notification channels of deployment.yml: the webhook receives
 * Alertmanager's own JSON (unsigned: Alertmanager cannot sign), the ntfy topic a templated message. With no
 * channel configured, alerts are only visible in Prometheus and Alertmanager.
 */
export function renderAlertmanagerConfig(notify: NotifySettings): string {
  const webhooks: Record<string, unknown>[] = [];
  if (notify.webhook) webhooks.push({ url: notify.webhook.url, send_resolved: true });
  if (notify.ntfy) {
    webhooks.push({
      url: ntfyAlertUrl(notify.ntfy.url),
      send_resolved: true,
      ...(notify.ntfy.token
        ? { http_config: { authorization: { type: 'Bearer', credentials: notify.ntfy.token } } }
        : {}),
    });
  }
  const doc = {
    route: {
      receiver: 'togather',
      group_by: ['alertname'],
      group_wait: '30s',
      group_interval: '5m',
      repeat_interval: '4h',
    },
    receivers: [{ name: 'togather', ...(webhooks.length ? { webhook_configs: webhooks } : {}) }],
    // a database outage also takes the app's checks down: report the cause, not every symptom
    inhibit_rules: [
      { source_matchers: ['alertname = TogatherDatabaseDown'], target_matchers: ['alertname = TogatherHighErrorRate'] },
    ],
  };
  return `# Written by togather-deploy on every deploy (receivers from notifications:); it holds secrets: mode 0600.\n${stringify(doc)}`;
}

/**
 * The exporter's driver (lib/pq) defaults to sslmode=require where the app's (pgx) tries TLS and falls back. For
 * the bundled database, reached only over the stack's private network, a URL without sslmode means "disable";
 * any other URL is passed as it is.
 */
export function exporterDsn(url: string, managed: boolean): string {
  if (!managed || /[?&]sslmode=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}sslmode=disable`;
}

function hasDatabaseUrl(ctx: Pick<EngineContext, 'cfg'>): boolean {
  return !!ctx.cfg.appEnv.DATABASE_URL;
}

export interface MonitoringIds {
  uid: string;
  gid: string;
}

/** every file of the monitoring directory, relative to the environment's root */
export function monitoringFiles(
  ctx: EngineContext,
  layout: Layout,
  notify: NotifySettings,
  ids: MonitoringIds,
): HostFile[] {
  const m = ctx.cfg.config.monitoring;
  const d = (name: string) => `${MONITORING_DIR}/${name}`;
  const asset = (...p: string[]) => readAsset('docker', 'monitoring', ...p);
  const env: Record<string, string> = {
    TOGATHER_STACK: layout.stack,
    TOGATHER_NETWORK: appNetwork(layout),
    TOGATHER_UID: ids.uid,
    TOGATHER_GID: ids.gid,
    TOGATHER_PROMETHEUS_IMAGE: m.images.prometheus,
    TOGATHER_ALERTMANAGER_IMAGE: m.images.alertmanager,
    TOGATHER_NODE_EXPORTER_IMAGE: m.images.node_exporter,
    TOGATHER_POSTGRES_EXPORTER_IMAGE: m.images.postgres_exporter,
    TOGATHER_GRAFANA_IMAGE: m.images.grafana,
    TOGATHER_PROMETHEUS_RETENTION: m.retention,
    TOGATHER_PROMETHEUS_BIND: m.prometheus.bind,
    TOGATHER_PROMETHEUS_PORT: String(m.prometheus.port),
    TOGATHER_GRAFANA_BIND: m.grafana.bind,
    TOGATHER_GRAFANA_PORT: String(m.grafana.port),
  };
  const grafanaPassword =
    ctx.cfg.appEnv[m.grafana.admin_password_env] ?? process.env[m.grafana.admin_password_env] ?? '';
  const files: HostFile[] = [
    { name: d('compose.yml'), mode: '644', content: asset('compose.yml') },
    { name: d('.env'), mode: '600', content: renderEnvFile(env) },
    { name: d('prometheus/prometheus.yml'), mode: '600', content: renderPrometheusConfig(ctx) },
    { name: d('alertmanager/alertmanager.yml'), mode: '600', content: renderAlertmanagerConfig(notify) },
    {
      name: d('postgres-exporter.env'),
      mode: '600',
      content: renderEnvFile(
        hasDatabaseUrl(ctx)
          ? { DATA_SOURCE_NAME: exporterDsn(ctx.cfg.appEnv.DATABASE_URL!, ctx.cfg.config.database.managed) }
          : {},
      ),
    },
    {
      name: d('grafana.env'),
      mode: '600',
      content: renderEnvFile({
        GF_SECURITY_ADMIN_PASSWORD: grafanaPassword,
        GF_USERS_ALLOW_SIGN_UP: 'false',
        GF_AUTH_ANONYMOUS_ENABLED: 'false',
        GF_ANALYTICS_REPORTING_ENABLED: 'false',
        GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: '/var/lib/togather-dashboards/deployments.json',
      }),
    },
    {
      name: d('grafana/provisioning/datasources/prometheus.yml'),
      mode: '644',
      content: asset('grafana', 'provisioning', 'datasources', 'prometheus.yml'),
    },
    {
      name: d('grafana/provisioning/dashboards/togather.yml'),
      mode: '644',
      content: asset('grafana', 'provisioning', 'dashboards', 'togather.yml'),
    },
  ];
  const base = join(assetDir(), 'docker', 'monitoring');
  for (const [name, content] of Object.entries(readDir(join(base, 'prometheus', 'rules'))))
    files.push({ name: d(`prometheus/rules/${name}`), mode: '600', content });
  for (const [name, content] of Object.entries(readDir(join(base, 'grafana', 'dashboards'))))
    files.push({ name: d(`grafana/dashboards/${name}`), mode: '644', content });
  return files;
}

/** the services to run: Grafana and the PostgreSQL exporter only when they have what they need */
export function monitoringServices(ctx: Pick<EngineContext, 'cfg'>): string[] {
  const m = ctx.cfg.config.monitoring;
  return [
    'prometheus',
    'alertmanager',
    'node-exporter',
    ...(hasDatabaseUrl(ctx) ? ['postgres-exporter'] : []),
    ...(m.grafana.enabled ? ['grafana'] : []),
  ];
}

/** what keeps the monitoring stack from being deployed safely, found before anything is touched */
export function monitoringProblems(
  cfg: ResolvedConfig,
  processEnv: Record<string, string | undefined>,
): ConfigProblem[] {
  const m = cfg.config.monitoring;
  if (!m.enabled || !m.grafana.enabled) return [];
  const name = m.grafana.admin_password_env;
  const pw = cfg.appEnv[name] ?? processEnv[name];
  if (pw && !/CHANGE_ME/i.test(pw)) return [];
  return [
    {
      file: cfg.configPath,
      path: 'monitoring.grafana.admin_password_env',
      message:
        `names ${name}, which has no value in the env file (${cfg.envFileSource}) or the process environment: ` +
        'Grafana would keep its default admin password',
      remedy: `add ${name}=… to the env file, or set monitoring.grafana.enabled: false`,
      code: 'invalid',
    },
  ];
}

export function monitoringCompose(compose: string[], layout: Layout, ...args: string[]): Command {
  const [file, ...rest] = compose;
  return cmd(
    file!,
    ...rest,
    '-p',
    monitoringProject(layout),
    '-f',
    layout.path(MONITORING_DIR, 'compose.yml'),
    '--env-file',
    layout.path(MONITORING_DIR, '.env'),
    ...args,
  );
}

// data dirs owned by the deploy user (the services run as it); the textfile dir readable by the node exporter
export const PREPARE = `
set -e
umask 077
mkdir -p -- "$1"
cd -- "$1"
mkdir -p -- data/prometheus data/alertmanager data/grafana textfile
chmod 755 textfile
id -u; id -g
`;

// Prometheus and Alertmanager reread their configuration on SIGHUP: no restart, no lost samples
export const RELOAD = `
for c in "$@"; do
  if [ "$(docker inspect -f '{{.State.Running}}' -- "$c" 2>/dev/null)" = true ]; then docker kill -s HUP -- "$c" >/dev/null; fi
done
`;

/**
 * Writes the monitoring files and brings the services up (compose recreates only what changed); a changed
 * Prometheus or Alertmanager configuration is reloaded in place. Runs after the switch, so the new version is
 * already serving: a failure here is reported, never turned into a failed deploy.
 */
export async function deployMonitoring(
  ctx: EngineContext,
  layout: Layout,
  compose: string[],
  notify: NotifySettings,
): Promise<void> {
  const dir = layout.path(MONITORING_DIR);
  const ids = await ctx.host.run(script(PREPARE, dir), { check: false, timeoutMs: 30_000 });
  const [uid, gid] = ids.stdout.trim().split('\n');
  if (ids.code !== 0 || !uid || !gid)
    throw new DeployError('preflight', `could not prepare ${dir}: ${ctx.redactor.redact(ids.stderr.trim())}`);
  const changed = await writeHostFiles(ctx, layout, monitoringFiles(ctx, layout, notify, { uid, gid }));
  const up = await ctx.host.run(
    monitoringCompose(compose, layout, 'up', '-d', '--no-color', ...monitoringServices(ctx)),
    { check: false, timeoutMs: 300_000 },
  );
  if (up.code !== 0) {
    throw new DeployError(
      'preflight',
      `starting the monitoring stack failed: ${ctx.redactor.redact(up.stderr.trim().split('\n').slice(-6).join(' / '))}`,
    );
  }
  const reload = [
    ...(changed.some((f) => f.startsWith(`${MONITORING_DIR}/prometheus/`)) ? [`${layout.stack}-prometheus`] : []),
    ...(changed.some((f) => f.startsWith(`${MONITORING_DIR}/alertmanager/`)) ? [`${layout.stack}-alertmanager`] : []),
  ];
  if (reload.length) await ctx.host.run(script(RELOAD, ...reload), { check: false });
}

/** the deploy's monitoring step: reported as a warning when it fails */
export async function monitoringStep(ctx: EngineContext, layout: Layout, compose: string[]): Promise<void> {
  if (!ctx.cfg.config.monitoring.enabled) return;
  try {
    await deployMonitoring(ctx, layout, compose, ctx.notifier?.settings ?? {});
  } catch (e) {
    ctx.reporter.warn(
      `the monitoring stack was not updated: ${ctx.redactor.redact(describeError(e))} (the deploy itself is not affected)`,
    );
  }
}
