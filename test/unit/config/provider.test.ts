/**
 * The provider block: compose by default, swarm as the second provider; an environment's own block replaces the
 * top-level one; what swarm cannot combine with is named with its key, line and remedy.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/problems.js';
import { Redactor } from '../../../src/log/redact.js';

const ENV_OK =
  'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:db-pass-9f8e7d@db:5432/togather\nJWT_SECRET=jwt-0123456789abcdef\n';

function load(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'provider-'));
  writeFileSync(join(dir, 'deployment.yml'), yaml);
  writeFileSync(join(dir, '.env.staging'), ENV_OK);
  chmodSync(join(dir, '.env.staging'), 0o600);
  return loadConfig({ configPath: 'deployment.yml', environment: 'staging', redactor: new Redactor(), cwd: dir });
}

function problemsOf(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof ConfigError)
      return err.problems.map((p) => `${p.path}${p.line ? `@${p.line}` : ''}: ${p.message} | ${p.remedy ?? ''}`);
    throw err;
  }
  return assert.fail('expected a ConfigError');
}

const base = (extra = '', envExtra = '') => `app:
  image: ghcr.io/togather/server
${extra}environments:
  staging:
    host: m1.example.org
    env_file: .env.staging
${envExtra}`;

describe('provider', () => {
  test('absent: one Docker host with compose', () => {
    assert.deepEqual(load(base()).provider, { kind: 'compose' });
  });

  test('swarm with its defaults, and the nodes reached through the manager unless said otherwise', () => {
    const cfg = load(
      base(`provider:
  kind: swarm
  nodes:
    - host: 10.0.0.12
    - host: n3.internal
      port: 2222
      via: direct
`),
    );
    assert.deepEqual(cfg.provider, {
      kind: 'swarm',
      replicas: 2,
      placement: [],
      edge_label: 'togather.edge',
      db_label: 'togather.db',
      scale_timeout: 120_000,
      nodes: [
        { host: '10.0.0.12', via: 'manager' },
        { host: 'n3.internal', port: 2222, via: 'direct' },
      ],
    });
  });

  test("an environment's provider block replaces the top-level one as a whole", () => {
    const cfg = load(base('provider:\n  kind: swarm\n  replicas: 3\n', '    provider:\n      kind: compose\n'));
    assert.deepEqual(cfg.provider, { kind: 'compose' });
    const swarm = load(base('', '    provider:\n      kind: swarm\n      replicas: 1\n'));
    assert.equal(swarm.provider.kind === 'swarm' && swarm.provider.replicas, 1);
  });

  test('unknown kinds, swarm keys under compose and hostile values are refused by key', () => {
    assert.match(problemsOf(base('provider:\n  kind: ecs\n')).join('\n'), /^provider\.kind/m);
    assert.match(problemsOf(base('provider:\n  kind: compose\n  replicas: 2\n')).join('\n'), /^provider\.replicas/m);
    assert.match(
      problemsOf(base('provider:\n  kind: swarm\n  placement: ["node.role == manager; rm -rf /"]\n')).join('\n'),
      /^provider\.placement\[0\].*node\.labels\.togather\.app == true/m,
    );
    assert.match(
      problemsOf(base('provider:\n  kind: swarm\n  nodes: [{ host: "a b" }]\n')).join('\n'),
      /^provider\.nodes\[0\]\.host/m,
    );
    assert.match(
      problemsOf(base('provider:\n  kind: swarm\n  edge_label: "x=true"\n')).join('\n'),
      /^provider\.edge_label/m,
    );
  });

  test('the old providers: key points to provider:', () => {
    assert.match(problemsOf(base('providers:\n  docker: {}\n')).join('\n'), /^providers.*use provider: with kind/m);
  });

  test('swarm refuses the front proxy, a bind address, monitoring, the watch and a scale timeout below the start timeout', () => {
    const out = problemsOf(
      base(
        `provider:
  kind: swarm
  scale_timeout: 30s
proxy:
  bind: 127.0.0.1
monitoring:
  enabled: true
deployment:
  watch: 5m
`,
        '    proxy:\n      front: true\n      domains: [staging.example.org]\n',
      ),
    );
    assert.equal(out.length, 5, out.join('\n'));
    assert.match(out.join('\n'), /^deployment\.watch@\d+: is on, but the post-deploy watch/m);
    assert.match(out.join('\n'), /^environments\.staging\.proxy\.front@\d+: is true, but the shared front proxy/m);
    assert.match(out.join('\n'), /^proxy\.bind@\d+: is 127\.0\.0\.1.*remove proxy\.bind/m);
    assert.match(out.join('\n'), /^monitoring\.enabled@\d+: is true, but monitoring is not built/m);
    assert.match(
      out.join('\n'),
      /^provider\.scale_timeout@\d+: \(30000 ms\) is shorter than app\.health\.start_timeout/m,
    );
  });

  test('the same settings under compose are fine', () => {
    const cfg = load(base('proxy:\n  bind: 127.0.0.1\n'));
    assert.equal(cfg.proxy.bind, '127.0.0.1');
  });
});
