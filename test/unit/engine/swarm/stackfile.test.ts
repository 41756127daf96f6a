import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { renderUpstreams } from '../../../../src/engine/release/caddyfile.js';
import {
  renderGateCaddyfile,
  renderStackFile,
  stackFileHash,
  type StackFileParams,
} from '../../../../src/engine/swarm/stackfile.js';
import { DeployError } from '../../../../src/errors.js';

const P: StackFileParams = {
  stack: 'togather-staging',
  root: '/srv/togather/staging/',
  caddyImage: 'caddy:2.8',
  toolsImage: 'busybox:1.36',
  edgeLabel: 'togather.edge',
  managerId: 'n1abcdefghijklmnopqrstuvw',
  ports: { http: 80, https: 443 },
};

type Svc = {
  image: string;
  command?: string[];
  ports?: Array<Record<string, unknown>>;
  volumes: Array<{ type: string; source: string; target: string; read_only?: boolean }>;
  networks: Record<string, { aliases: string[] }> | string[];
  deploy: { endpoint_mode?: string; placement: { constraints: string[] }; update_config?: { order: string } };
  healthcheck?: { test: string[] };
  env_file?: string[];
};
type Doc = { version: string; services: Record<string, Svc>; networks: Record<string, unknown>; volumes: object };

describe('stack.yml', () => {
  test('edge services on the edge, gates own the colour aliases, tools beside the manager, no app services', () => {
    const doc = parse(renderStackFile(P)) as Doc;
    assert.equal(doc.version, '3.8');
    assert.deepEqual(Object.keys(doc.services), ['caddy', 'gate-blue', 'gate-green', 'tools']);
    assert.deepEqual(doc.networks, { togather: { driver: 'overlay', attachable: true } });
    const { caddy, tools } = doc.services;
    const gate = doc.services['gate-green']!;
    assert.deepEqual(caddy!.ports, [
      { target: 80, published: 80, protocol: 'tcp', mode: 'host' },
      { target: 443, published: 443, protocol: 'tcp', mode: 'host' },
    ]);
    for (const s of [caddy!, gate, doc.services['gate-blue']!])
      assert.deepEqual(s.deploy.placement.constraints, ['node.labels.togather.edge==true']);
    assert.equal(caddy!.deploy.update_config?.order, 'stop-first');
    assert.deepEqual(caddy!.volumes[0], {
      type: 'bind',
      source: '/srv/togather/staging/caddy',
      target: '/etc/caddy',
      read_only: true,
    });
    // no virtual IPs anywhere (they need IPVS on every node): each name resolves to its task
    for (const s of Object.values(doc.services)) assert.equal(s.deploy.endpoint_mode, 'dnsrr');
    assert.deepEqual(gate.networks, { togather: { aliases: ['app-green'] } });
    assert.deepEqual(
      gate.volumes.map((v) => [v.source, v.target]),
      [
        ['/srv/togather/staging/gates/caddy-green', '/etc/gate'],
        ['/srv/togather/staging/gates/green', '/flag'],
      ],
    );
    assert.deepEqual(gate.command, ['caddy', 'run', '--config', '/etc/gate/Caddyfile', '--adapter', 'caddyfile']);
    assert.deepEqual(tools!.deploy.placement.constraints, ['node.id==n1abcdefghijklmnopqrstuvw']);
    assert.deepEqual(tools!.command, ['sleep', '2147483647']);
  });

  test('the managed database is pinned by its label, with its healthcheck', () => {
    const doc = parse(
      renderStackFile({
        ...P,
        ports: { http: 8080 },
        db: { image: 'postgres:16', label: 'togather.db', name: 'app', user: 'app' },
      }),
    ) as Doc;
    const db = doc.services.db!;
    assert.deepEqual(db.deploy.placement.constraints, ['node.labels.togather.db==true']);
    assert.deepEqual(db.healthcheck!.test, ['CMD', 'pg_isready', '-h', '127.0.0.1', '-U', 'app', '-d', 'app']);
    assert.deepEqual(db.env_file, ['/srv/togather/staging/db.env']);
    assert.deepEqual(db.networks, { togather: { aliases: ['db'] } });
    assert.equal(db.deploy.endpoint_mode, 'dnsrr');
    assert.ok('db-data' in doc.volumes);
    assert.deepEqual(doc.services.caddy!.ports, [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }]);
  });

  test('deterministic: the same input gives the same bytes and hash, a change another hash', () => {
    assert.equal(renderStackFile(P), renderStackFile({ ...P }));
    assert.doesNotMatch(renderStackFile(P), /[&*]a\d/, 'no YAML anchors: each service spelled out');
    assert.equal(stackFileHash(renderStackFile(P)), stackFileHash(renderStackFile(P)));
    assert.notEqual(
      stackFileHash(renderStackFile(P)),
      stackFileHash(renderStackFile({ ...P, caddyImage: 'caddy:2.9' })),
    );
    assert.match(stackFileHash('x'), /^[0-9a-f]{64}$/);
  });

  test('hostile values are refused', () => {
    const bad: Partial<StackFileParams>[] = [
      { stack: 'a b' },
      { root: 'relative/path' },
      { root: '/srv/x\n  privileged: true' },
      { caddyImage: 'caddy:2.8\nprivileged: true' },
      { edgeLabel: 'togather.edge==true,node.id' },
      { managerId: 'n1 || true' },
      { ports: { http: 0 } },
      { db: { image: 'postgres:16', label: 'togather.db', name: 'a;b', user: 'app' } },
    ];
    for (const b of bad) assert.throws(() => renderStackFile({ ...P, ...b }), DeployError, JSON.stringify(b));
  });
});

describe('gate Caddyfile', () => {
  test('answers /ready from the flag file and proxies to the colour service on the port the edge dials', () => {
    const text = renderGateCaddyfile({ stack: 'togather-staging', colour: 'blue', appPort: 3000 });
    assert.match(text, /^:8081 \{\n\t@ready file \{\n\t\troot \/flag\n\t\ttry_files \/ready\n/m);
    // every task, looked up again each second, taken in turn
    assert.match(
      text,
      /^:3000 \{\n\treverse_proxy \{\n\t\tdynamic a \{\n\t\t\tname tasks\.togather-staging_app-blue\n\t\t\tport 3000\n\t\t\trefresh 1s\n\t\t\}\n\t\tlb_policy round_robin$/m,
    );
    assert.doesNotMatch(text, /persist_config/, 'Caddy 2.6 refuses it');
    assert.match(text, /admin off/);
    // the edge dials app-blue:<port> with health_port 8081: the gate answers both
    const edge = renderUpstreams({ appPort: 3000, healthInterval: '500ms', healthTimeout: '300ms' });
    assert.match(edge, /reverse_proxy app-blue:3000 app-green:3000/);
    assert.match(edge, /health_port 8081/);
    assert.equal(text, renderGateCaddyfile({ stack: 'togather-staging', colour: 'blue', appPort: 3000 }));
    assert.throws(() => renderGateCaddyfile({ stack: 'x', colour: 'blue', appPort: 8081 }), DeployError);
    assert.throws(() => renderGateCaddyfile({ stack: 'x y', colour: 'blue', appPort: 3000 }), DeployError);
  });
});
