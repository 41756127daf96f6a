/**
 * The monitoring stack deployed for real beside an environment on the loopback host, with images made from
 * Debian's own Prometheus, Alertmanager, node exporter and PostgreSQL exporter binaries (no registry here;
 * Grafana has no Debian package, so it is switched off). After two deploys, Prometheus scrapes the live colour
 * of the sample app (which serves the Togather server's metric names), the node exporter with the deployer's
 * togather_deploy_* textfile, and the database through the exporter: every metric a dashboard or an alert
 * queries has data.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { hostDocker, hostSsh, type HarnessInfo } from '../harness/host.js';
import { cleanEnv, freePort, pipeline } from '../harness/proc.js';
import { ROOT, newEnv, sharedHost, startCli, type TestEnv } from './support.js';

/** a FROM-scratch image of one Debian binary and the libraries ldd names; rebuilt when the binary changes */
async function debianImage(info: HarnessInfo, name: string, binary: string, extraDirs: string[] = []): Promise<string> {
  const tag = `togather-test/${name}:debian`;
  const st = statSync(binary);
  const fingerprint = `${st.size}-${Math.round(st.mtimeMs)}-${extraDirs.length}`;
  const have = await hostDocker(
    info,
    ['image', 'inspect', '-f', '{{index .Config.Labels "org.togather.fingerprint"}}', tag],
    { check: false },
  );
  if (have.code === 0 && have.stdout.trim() === fingerprint) return tag;
  const rootfs = mkdtempSync(join(tmpdir(), `tgd-img-${name}-`));
  const put = (file: string) => {
    const dest = join(rootfs, file);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(realpathSync(file), dest);
  };
  put(binary);
  for (const d of extraDirs) for (const f of readdirSync(d)) if (statSync(join(d, f)).isFile()) put(join(d, f));
  for (const m of execFileSync('ldd', [binary], { encoding: 'utf8' }).matchAll(/(\/\S+\.so[^\s]*)/g)) put(m[1]!);
  mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
  await pipeline(
    [
      ['tar', '-C', rootfs, '-c', '.'],
      [
        info.dockerClient,
        '-H',
        info.hostDockerHost,
        'import',
        '--change',
        `ENTRYPOINT ["${binary}"]`,
        '--change',
        `LABEL org.togather.fingerprint=${fingerprint}`,
        '-',
        tag,
      ],
    ],
    { env: cleanEnv() },
  );
  return tag;
}

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

describe('monitoring stack on the loopback host', { timeout: 600_000 }, () => {
  let env: TestEnv;
  let promPort: number;
  const query = async (q: string): Promise<PromResult[]> => {
    const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await r.json()) as { status: string; data: { result: PromResult[] } };
    assert.equal(body.status, 'success', q);
    return body.data.result;
  };
  const eventually = async (what: string, fn: () => Promise<boolean>, ms = 90_000) => {
    const deadline = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        if (await fn()) return;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ''}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  before(async () => {
    const { info } = await sharedHost();
    const images = {
      prometheus: await debianImage(info, 'prometheus', '/usr/bin/prometheus'),
      // Debian's build reads its default notification templates from disk
      alertmanager: await debianImage(info, 'alertmanager', '/usr/bin/prometheus-alertmanager', [
        '/usr/share/prometheus/alertmanager',
      ]),
      node_exporter: await debianImage(info, 'node-exporter', '/usr/bin/prometheus-node-exporter'),
      postgres_exporter: await debianImage(info, 'postgres-exporter', '/usr/bin/prometheus-postgres-exporter'),
    };
    promPort = await freePort();
    env = await newEnv('mon', {
      config: (c) => {
        c.monitoring = {
          enabled: true,
          scrape_interval: '2s',
          prometheus: { bind: '127.0.0.1', port: promPort },
          grafana: { enabled: false },
          images,
        };
      },
    });
  });

  test("deploys bring the stack up; Prometheus sees the live colour, the host, the database and the deployer's metrics", async () => {
    for (const v of ['v1', 'v2']) {
      const r = await env.cli(['deploy', env.name, '--version', v, '--skip-ci-check']);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /monitoring stack was not updated/, r.stderr);
      assert.match(r.stderr, /✔ monitoring/);
    }
    const files = await hostSsh(
      env.info,
      `cd stacks/${env.name}/monitoring && find . -path ./data -prune -o -type f -printf '%m %p\\n' | sort`,
    );
    assert.match(files.stdout, /^600 \.\/alertmanager\/alertmanager\.yml$/m);
    assert.match(files.stdout, /^600 \.\/postgres-exporter\.env$/m);
    assert.match(files.stdout, /^644 \.\/textfile\/togather_deploy\.prom$/m);

    await eventually('every target up', async () => {
      const up = await query('up');
      const by = Object.fromEntries(up.map((u) => [`${u.metric.job}/${u.metric.colour ?? ''}`, u.value[1]]));
      return (
        by['togather/green'] === '1' &&
        by['togather/blue'] === '0' &&
        by['node/'] === '1' &&
        by['postgres/'] === '1' &&
        by['prometheus/'] === '1'
      );
    });
    // the textfile changed as the last deploy ended: wait for the next scrape
    await eventually(
      'the last deploy in the metrics',
      async () => (await query('togather_deploy_info'))[0]?.metric.version === env.repo.shas.v2,
    );
    const info = await query('togather_deploy_info');
    assert.equal(info.length, 1);
    assert.equal(info[0]!.metric.version, env.repo.shas.v2);
    assert.equal(info[0]!.metric.colour, 'green');
    assert.equal((await query('togather_deployments_total{outcome="completed"}'))[0]!.value[1], '2');
    const ls = await query('togather_deploy_last_success');
    assert.equal(ls[0]!.value[1], '1', JSON.stringify(ls));
    assert.equal((await query('max(pg_up)'))[0]!.value[1], '1');
    assert.equal((await query('togather_app_info'))[0]!.metric.commit, env.repo.shas.v2);

    // the alert rules are loaded and healthy, and Prometheus found its Alertmanager
    const rules = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string }[] }[] };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    assert.equal(loaded.length, 6);
    assert.ok(
      loaded.every((r) => r.health !== 'err'),
      JSON.stringify(loaded),
    );
    const am = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/alertmanagers`)).json()) as {
      data: { activeAlertmanagers: unknown[] };
    };
    assert.equal(am.data.activeAlertmanagers.length, 1);

    // an automatic rollback: the deployment dashboard's rollback panels get their data too
    const doc = parse(readFileSync(env.configPath, 'utf8')) as { deployment: Record<string, unknown> };
    doc.deployment.watch = { duration: '90s', interval: '1s', failure_threshold: 3 };
    writeFileSync(env.configPath, stringify(doc));
    const run = startCli(env, ['deploy', env.name, '--version', 'v6', '--skip-ci-check']);
    await run.waitFor(/watching [0-9a-f]{12} on blue/, 180_000);
    assert.equal((await fetch(`http://127.0.0.1:${env.httpPort}/admin/fail`, { method: 'POST' })).status, 200);
    assert.equal((await run.done).code, 11);
    await eventually(
      'the rollback in the metrics',
      async () => (await query('togather_rollbacks_total{trigger="watch"}'))[0]?.value[1] === '1',
    );
    assert.equal((await query('togather_deploy_info'))[0]!.metric.version, env.repo.shas.v2);
    assert.equal((await query('togather_deployments_total{outcome="rolled_back"}'))[0]!.value[1], '1');
    assert.ok(Number((await query('togather_deploy_watch_rollback_seconds'))[0]!.value[1]) > 0);

    // every metric the dashboards and the alert rules query has at least one series
    const exprs: string[] = [];
    const dir = join(ROOT, 'docker/monitoring/grafana/dashboards');
    for (const f of readdirSync(dir)) {
      const d = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
      for (const p of d.panels) for (const t of p.targets ?? []) exprs.push(t.expr);
    }
    const rulesDoc = parse(
      readFileSync(join(ROOT, 'docker/monitoring/prometheus/rules/togather.rules.yml'), 'utf8'),
    ) as { groups: { rules: { expr: string }[] }[] };
    exprs.push(...rulesDoc.groups.flatMap((g) => g.rules.map((r) => r.expr)));
    const names = new Set<string>();
    for (const e of exprs)
      for (const m of e
        .replace(/"[^"]*"/g, '')
        .replace(/\{[^}]*\}/g, ' ')
        .matchAll(/\b(togather_[a-z_]+|node_[a-zA-Z_]+|pg_[a-z_]+)\b/g))
        names.add(m[1]!);
    assert.ok(names.size > 25, [...names].join(' '));
    const missing: string[] = [];
    for (const n of names) if ((await query(`count({__name__="${n}"})`)).length === 0) missing.push(n);
    assert.deepEqual(missing, []);
    process.stdout.write(
      `# monitoring: ${names.size} metric names queried by dashboards and alerts, all with data in Prometheus\n`,
    );
  });
});
