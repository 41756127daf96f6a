/**
 * The monitoring stack (docker/monitoring) checked with the real tools from Debian's packages: promtool (check
 * rules, test rules, check config, check metrics), amtool check-config, the node and PostgreSQL exporters run on
 * loopback for the metric names they really export, and docker-compose for the compose file. Dashboards are
 * checked as JSON and for querying only metrics something in the stack exports.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ConfigSchema } from '../../../../src/config/schema.js';
import type { ResolvedConfig } from '../../../../src/config/load.js';
import { Layout } from '../../../../src/engine/stack/layout.js';
import {
  applyEvent,
  DEPLOY_METRICS,
  parseDeployMetrics,
  renderDeployMetrics,
  type DeployMetricsState,
} from '../../../../src/engine/observe/metrics.js';
import {
  APP_METRICS,
  appNetwork,
  exporterDsn,
  monitoringFiles,
  monitoringServices,
  ntfyAlertUrl,
  renderAlertmanagerConfig,
  renderPrometheusConfig,
} from '../../../../src/engine/observe/monitoring.js';
import type { DeploymentEvent } from '../../../../src/notify/event.js';
import type { NotifySettings } from '../../../../src/notify/notifier.js';
import { fakeContext } from '../../../fakes/context.js';
import { freePort } from '../../../harness/proc.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const MON = join(ROOT, 'docker', 'monitoring');
const RULES = join(MON, 'prometheus', 'rules', 'togather.rules.yml');
const RULE_TESTS = join(MON, 'prometheus', 'tests', 'togather.rules.test.yml');
const DASHBOARDS = join(MON, 'grafana', 'dashboards');

function tool(cmd: string, args: string[], input?: string): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000 });
  if (r.error) throw new Error(`${cmd} is not installed (bash .ci/install.sh installs it): ${r.error.message}`);
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

function cfgWith(over: Record<string, unknown> = {}, appEnv: Record<string, string> = {}): ResolvedConfig {
  const config = ConfigSchema.parse({
    app: { image: 'ghcr.io/togather/server', port: 8080 },
    monitoring: { enabled: true },
    environments: { production: { host: 'h.example' } },
    ...over,
  });
  return {
    config,
    environment: 'production',
    env: config.environments.production!,
    stack: 'togather-production',
    hostPath: 'togather/production',
    proxy: config.proxy,
    provider: config.provider,
    appEnv: {
      DATABASE_URL: 'postgres://togather:Db-Pass-5521@db:5432/togather',
      GRAFANA_PASSWORD: 'graf-Pass-8812',
      ...appEnv,
    },
    configPath: 'deployment.yml',
    configDir: '.',
    envFileSource: '.env.production',
  };
}

const NOTIFY: NotifySettings = {
  webhook: {
    url: 'https://hooks.example/alerts/Xy7Zq91LmN0p',
    secret: 'not-used-by-alertmanager',
    events: ['deployment.failed'],
    timeoutMs: 5000,
    retries: 3,
  },
  ntfy: {
    url: 'https://ntfy.example/togather-prod',
    token: 'tk_Alert0Token9',
    events: ['deployment.failed'],
    priority: { started: 2, completed: 3, failed: 5, rolled_back: 4 },
    tags: { started: [], completed: [], failed: [], rolled_back: [] },
    timeoutMs: 5000,
    retries: 3,
  },
};

// --- PromQL metric names ---------------------------------------------------------------------------------------

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** the metric names a PromQL expression selects (functions, labels, keywords, durations and strings removed) */
function metricNames(expr: string): string[] {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\w+/g, ' ');
  const out = new Set<string>();
  for (const m of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = text.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(m[0])) continue;
    out.add(m[0]);
  }
  return [...out];
}

function ruleExprs(): { alert: string; expr: string }[] {
  const doc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; refId: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

function dashboards(): { file: string; doc: { uid: string; title: string; panels: Panel[] } }[] {
  return readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({
      file: f,
      doc: JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as { uid: string; title: string; panels: Panel[] },
    }));
}

function dashboardExprs(): { where: string; expr: string }[] {
  return dashboards().flatMap(({ file, doc }) =>
    doc.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file}: ${p.title}`, expr: t.expr }))),
  );
}

// --- exporters on loopback -------------------------------------------------------------------------------------

async function scrape(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const port = await freePort();
  const child: ChildProcess = spawn(argv[0]!, [...argv.slice(1), `--web.listen-address=127.0.0.1:${port}`], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: 'ignore',
  });
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
        if (r.ok) return await r.text();
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${argv[0]} did not answer on ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGTERM');
  }
}

function names(exposition: string): Set<string> {
  return new Set(
    exposition
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.replace(/[{ ].*$/, '')),
  );
}

const SHA1 = 'a'.repeat(40);
const SHA2 = 'b'.repeat(40);
function ev(event: DeploymentEvent['event'], over: Partial<DeploymentEvent> = {}): DeploymentEvent {
  return {
    schema_version: 1,
    event,
    deployment_id: '01JDEPLOY',
    environment: 'production',
    version: SHA2,
    previous_version: SHA1,
    colour: 'green',
    timestamp: '2026-03-01T12:00:00.000Z',
    duration_seconds: 9.5,
    failure: null,
    run_url: null,
    metadata: { trigger: 'deploy' },
    ...over,
  };
}

/** completed, failed, a watch rollback, then a manual rollback */
function sampleHistory(): DeployMetricsState {
  let s = parseDeployMetrics('');
  s = applyEvent(s, ev('deployment.started'));
  s = applyEvent(s, ev('deployment.completed', { version: SHA1, colour: 'blue' }));
  s = applyEvent(s, ev('deployment.failed', { failure: { class: 'health', exit_code: 10, reason: 'x' } }));
  s = applyEvent(s, ev('deployment.completed'));
  s = applyEvent(
    s,
    ev('deployment.rolled_back', {
      version: SHA1,
      previous_version: SHA2,
      colour: 'blue',
      duration_seconds: 6.2,
      metadata: { trigger: 'watch', serving_after_seconds: 6.2 },
    }),
  );
  return s;
}

describe('monitoring stack', () => {
  let tmp: string;
  const exported = new Set<string>();
  let nodeText = '';

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tgd-monitoring-'));
    const textfile = join(tmp, 'textfile');
    mkdirSync(textfile);
    writeFileSync(join(textfile, 'togather_deploy.prom'), renderDeployMetrics('production', sampleHistory()));
    nodeText = await scrape(['prometheus-node-exporter', `--collector.textfile.directory=${textfile}`]);
    const pgText = await scrape(['prometheus-postgres-exporter'], {
      DATA_SOURCE_NAME: 'postgresql://nobody:nothing@127.0.0.1:1/none?sslmode=disable',
    });
    for (const n of [...names(nodeText), ...names(pgText), ...Object.keys(DEPLOY_METRICS), 'up', 'ALERTS'])
      exported.add(n);
    for (const n of APP_METRICS) for (const suffix of ['', '_bucket', '_sum', '_count']) exported.add(n + suffix);
  });

  test('promtool: the alert rules are valid, and their unit tests pass', () => {
    const check = tool('promtool', ['check', 'rules', RULES]);
    assert.equal(check.code, 0, check.out);
    const t = tool('promtool', ['test', 'rules', RULE_TESTS]);
    assert.equal(t.code, 0, t.out);
    assert.match(t.out, /SUCCESS/);
  });

  test("the issue's alerts exist, and every alert has a rule unit test that shows it firing", () => {
    const alerts = ruleExprs().map((r) => r.alert);
    for (const a of [
      'TogatherHighErrorRate',
      'TogatherDatabaseDown',
      'HostDiskAlmostFull',
      'HostMemoryHigh',
      'TogatherAppDown',
    ])
      assert.ok(alerts.includes(a), a);
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set(
      tests.tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)),
    );
    assert.deepEqual([...alerts].sort(), [...firing].sort());
  });

  test('the thresholds are the ones asked for: 5 % errors, 90 % disk, 85 % memory', () => {
    const by = Object.fromEntries(ruleExprs().map((r) => [r.alert, r.expr]));
    assert.match(by.TogatherHighErrorRate!, /\) > 0\.05/);
    assert.match(by.HostDiskAlmostFull!, /\) > 0\.90/);
    assert.match(by.HostMemoryHigh!, /> 0\.85/);
  });

  test('promtool check config: prometheus.yml as rendered from deployment.yml, with the rules', () => {
    const dir = join(tmp, 'prom');
    mkdirSync(join(dir, 'rules'), { recursive: true });
    copyFileSync(RULES, join(dir, 'rules', 'togather.rules.yml'));
    const text = renderPrometheusConfig({
      cfg: cfgWith({
        app: { image: 'ghcr.io/togather/server', port: 9000 },
        monitoring: { enabled: true, scrape_interval: '30s' },
      }),
    });
    const doc = parse(text) as {
      global: { scrape_interval: string; external_labels: Record<string, string> };
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    assert.equal(doc.global.scrape_interval, '30s');
    assert.equal(doc.global.external_labels.environment, 'production');
    assert.deepEqual(
      doc.scrape_configs.map((s) => s.job_name),
      ['togather', 'node', 'postgres', 'prometheus'],
    );
    assert.deepEqual(
      doc.scrape_configs[0]!.static_configs.flatMap((s) => s.targets),
      ['app-blue:9000', 'app-green:9000'],
    );
    writeFileSync(join(dir, 'prometheus.yml'), text.replace('/etc/prometheus/rules/', `${join(dir, 'rules')}/`));
    const r = tool('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS: 6 rules found/);
    // without a DATABASE_URL there is nothing for the PostgreSQL exporter to watch
    const bare = parse(renderPrometheusConfig({ cfg: cfgWith({}, { DATABASE_URL: '' }) })) as {
      scrape_configs: { job_name: string }[];
    };
    assert.ok(!bare.scrape_configs.some((s) => s.job_name === 'postgres'));
  });

  test('amtool check-config: alertmanager.yml routes to the webhook and ntfy, or to nothing', () => {
    for (const [label, settings] of [
      ['both', NOTIFY],
      ['webhook only', { webhook: NOTIFY.webhook }],
      ['none', {}],
    ] as const) {
      const file = join(tmp, `am-${label.replace(/ /g, '-')}.yml`);
      const text = renderAlertmanagerConfig(settings);
      writeFileSync(file, text);
      const r = tool('amtool', ['check-config', file]);
      assert.equal(r.code, 0, `${label}: ${r.out}`);
    }
    const doc = parse(renderAlertmanagerConfig(NOTIFY)) as {
      receivers: { webhook_configs: { url: string; http_config?: { authorization: { credentials: string } } }[] }[];
    };
    const hooks = doc.receivers[0]!.webhook_configs;
    assert.equal(hooks[0]!.url, NOTIFY.webhook!.url);
    const ntfy = new URL(hooks[1]!.url);
    assert.equal(`${ntfy.origin}${ntfy.pathname}`, 'https://ntfy.example/togather-prod');
    assert.equal(ntfy.searchParams.get('tpl'), 'yes');
    assert.match(ntfy.searchParams.get('m')!, /\.annotations\.summary/);
    assert.equal(hooks[1]!.http_config?.authorization.credentials, 'tk_Alert0Token9');
    assert.equal(ntfyAlertUrl('https://ntfy.example/t?x=1').startsWith('https://ntfy.example/t?x=1&tpl=yes'), true);
  });

  test('dashboards: valid JSON, distinct uids, the provisioned datasource, a query in every panel', () => {
    const ds = parse(readFileSync(join(MON, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
      datasources: { uid: string; url: string }[];
    };
    const uid = ds.datasources[0]!.uid;
    assert.equal(ds.datasources[0]!.url, 'http://prometheus:9090');
    const all = dashboards();
    assert.deepEqual(all.map((d) => d.file).sort(), ['application.json', 'deployments.json', 'infrastructure.json']);
    assert.equal(new Set(all.map((d) => d.doc.uid)).size, all.length);
    for (const { file, doc } of all) {
      assert.ok(doc.title && doc.uid, file);
      for (const p of doc.panels) {
        if (p.type === 'row') continue;
        assert.equal(p.datasource?.uid, uid, `${file}: ${p.title}`);
        assert.ok(p.targets && p.targets.length > 0, `${file}: ${p.title} has no query`);
        for (const t of p.targets) assert.equal(t.datasource?.uid, uid);
      }
    }
    const prov = parse(readFileSync(join(MON, 'grafana', 'provisioning', 'dashboards', 'togather.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const compose = readFileSync(join(MON, 'compose.yml'), 'utf8');
    assert.ok(compose.includes(`./grafana/dashboards:${prov.providers[0]!.options.path}:ro`));
  });

  test('every metric a dashboard or an alert queries is exported by something in the stack', () => {
    const used = [...dashboardExprs(), ...ruleExprs().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))];
    assert.ok(used.length > 40, `${used.length} queries`);
    const unknown: string[] = [];
    for (const u of used) for (const n of metricNames(u.expr)) if (!exported.has(n)) unknown.push(`${u.where}: ${n}`);
    assert.deepEqual(unknown, []);
    // the deployment dashboard shows the deployer's own metrics, served by the node exporter
    const deployUsed = new Set(
      dashboardExprs()
        .filter((d) => d.where.startsWith('deployments'))
        .flatMap((d) => metricNames(d.expr)),
    );
    for (const n of deployUsed) assert.ok(n in DEPLOY_METRICS || n === 'time', n);
    assert.deepEqual(
      metricNames(
        'sum by (le) (rate(togather_http_request_duration_seconds_bucket{path!~"/x"}[5m])) / on() group_left foo_total',
      ),
      ['togather_http_request_duration_seconds_bucket', 'foo_total'],
    );
  });

  test('deployment metrics: counters per outcome and trigger, valid exposition, served by the real node exporter', () => {
    const s = sampleHistory();
    assert.deepEqual(s.deployments, { completed: 2, failed: 1, rolled_back: 1 });
    assert.deepEqual(s.rollbacks, { watch: 1, manual: 0 });
    assert.deepEqual(s.info, { version: SHA1, colour: 'blue', deployment_id: '01JDEPLOY' });
    assert.equal(s.lastOutcome, 'rolled_back');
    assert.equal(s.watchRollbackSeconds, 6.2);
    const text = renderDeployMetrics('production', s);
    // read back and continued: the file is the counters' memory
    const again = applyEvent(
      parseDeployMetrics(text),
      ev('deployment.rolled_back', {
        version: SHA2,
        previous_version: SHA1,
        colour: 'green',
        metadata: { trigger: 'rollback' },
      }),
    );
    assert.deepEqual(
      again.deployments,
      { completed: 2, failed: 1, rolled_back: 1 },
      'a rollback command is not a deploy',
    );
    assert.deepEqual(again.rollbacks, { watch: 1, manual: 1 });
    assert.equal(again.info?.version, SHA2);
    assert.equal(again.lastOutcome, 'completed');
    const lint = tool('promtool', ['check', 'metrics'], text);
    assert.equal(lint.code, 0, lint.out);
    assert.match(
      nodeText,
      /^togather_deploy_info\{colour="blue",deployment_id="01JDEPLOY",environment="production",version="a{40}"\} 1$/m,
    );
    assert.match(nodeText, /^togather_deployments_total\{environment="production",outcome="rolled_back"\} 1$/m);
    assert.match(nodeText, /^togather_deploy_last_success\{environment="production"\} 0$/m);
    assert.match(nodeText, /^node_textfile_scrape_error 0$/m);
  });

  test('the monitoring files: secrets only in 0600 files, the stack network, the services that have what they need', () => {
    const cfg = cfgWith();
    const layout = new Layout(cfg);
    const ctx = fakeContext({ cfg });
    const files = monitoringFiles(ctx, layout, NOTIFY, { uid: '1001', gid: '1001' });
    const secrets = ['Db-Pass-5521', 'graf-Pass-8812', 'Xy7Zq91LmN0p', 'tk_Alert0Token9'];
    for (const f of files) {
      if (f.mode === '600') continue;
      for (const s of secrets) assert.ok(!f.content.includes(s), `${f.name} (mode ${f.mode}) holds a secret`);
    }
    const byName = Object.fromEntries(files.map((f) => [f.name, f]));
    assert.match(byName['monitoring/grafana.env']!.content, /^GF_SECURITY_ADMIN_PASSWORD=graf-Pass-8812$/m);
    assert.match(
      byName['monitoring/postgres-exporter.env']!.content,
      /^DATA_SOURCE_NAME=(["']?)postgres:\/\/togather:Db-Pass-5521@db:5432\/togather\?sslmode=disable\1$/m,
    );
    assert.equal(
      exporterDsn('postgres://u:p@db.example:5432/t?sslmode=verify-full', true),
      'postgres://u:p@db.example:5432/t?sslmode=verify-full',
    );
    assert.equal(exporterDsn('postgres://u:p@rds.example:5432/t', false), 'postgres://u:p@rds.example:5432/t');
    assert.match(byName['monitoring/.env']!.content, /^TOGATHER_NETWORK=togather-production_togather$/m);
    assert.equal(appNetwork(layout), 'togather-production_togather');
    assert.ok(files.some((f) => f.name === 'monitoring/prometheus/rules/togather.rules.yml'));
    assert.equal(files.filter((f) => f.name.startsWith('monitoring/grafana/dashboards/')).length, 3);
    assert.deepEqual(monitoringServices(ctx), [
      'prometheus',
      'alertmanager',
      'node-exporter',
      'postgres-exporter',
      'grafana',
    ]);
    assert.deepEqual(
      monitoringServices({
        cfg: cfgWith({ monitoring: { enabled: true, grafana: { enabled: false } } }, { DATABASE_URL: '' }),
      }),
      ['prometheus', 'alertmanager', 'node-exporter'],
    );
  });

  test('docker-compose accepts the monitoring compose file as the deployer fills it in', () => {
    const dir = join(tmp, 'compose');
    mkdirSync(dir);
    copyFileSync(join(MON, 'compose.yml'), join(dir, 'compose.yml'));
    for (const f of ['grafana.env', 'postgres-exporter.env']) writeFileSync(join(dir, f), '');
    const env = monitoringFiles(
      fakeContext({ cfg: cfgWith() }),
      new Layout(cfgWith()),
      {},
      { uid: '1001', gid: '1002' },
    ).find((f) => f.name === 'monitoring/.env')!.content;
    writeFileSync(join(dir, '.env'), env);
    const r = tool('docker-compose', ['-f', join(dir, 'compose.yml'), '--env-file', join(dir, '.env'), 'config']);
    assert.equal(r.code, 0, r.out);
    const doc = parse(r.out) as {
      services: Record<string, { user?: string; networks?: unknown }>;
      networks: { togather: { name: string; external: boolean } };
    };
    assert.deepEqual(Object.keys(doc.services).sort(), [
      'alertmanager',
      'grafana',
      'node-exporter',
      'postgres-exporter',
      'prometheus',
    ]);
    for (const [name, s] of Object.entries(doc.services)) assert.equal(s.user, '1001:1002', name);
    assert.deepEqual(doc.networks.togather, { external: true, name: 'togather-production_togather' });
  });
});
