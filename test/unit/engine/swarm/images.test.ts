/**
 * The release image onto every node of a swarm: each node a scripted host of its own, this machine's docker the
 * layer-shipping fixture. The nodes side by side, a plan per node, the bytes summed, a failing node named.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ensureOnNodes, pruneOnNodes, type SwarmNode } from '../../../../src/engine/swarm/images.js';
import { DeployError, ExitCode } from '../../../../src/errors.js';
import type { Command, Host, Local, RunOptions, RunResult } from '../../../../src/host/host.js';
import { ScriptedHost, fakeConfig, fakeEngine, type FakeClock } from '../../../fakes/host.js';
import { id, listing, loaded, archive, shipLocal } from '../release/ship-fixtures.js';

const ref = 'ghcr.io/togather/server:1234';
const inspect = /^docker image inspect --format \{\{\.Id\}\} /;

/** a node's host that holds the image once docker load ran (or from the start), with its own earlier releases */
function node(clock: FakeClock, name: string, o: { has?: boolean; chains?: string[][] } = {}) {
  const host = new ScriptedHost(clock);
  let has = o.has ?? false;
  host.on(inspect, () => (has ? { stdout: 'sha256:img\n' } : { code: 1, stderr: 'No such image' }));
  host.on(/^docker load/, () => ((has = true), {}));
  host.on(/^docker pull/, () => ((has = true), {}));
  host.on(listing, { stdout: (o.chains ?? []).map((c) => JSON.stringify(c)).join('\n') });
  return { name, host };
}

/** every command any of the hosts ran, in order, by node name */
function journal(nodes: { name: string; host: Host }[]): { nodes: SwarmNode[]; log: string[] } {
  const log: string[] = [];
  const wrap = (name: string, host: Host): Host => ({
    name: host.name,
    run: (c: Command, opts?: RunOptions): Promise<RunResult> => {
      log.push(`${name} ${c.argv.join(' ')}`);
      return host.run(c, opts);
    },
    close: () => host.close(),
  });
  return { nodes: nodes.map((n) => ({ name: n.name, host: wrap(n.name, n.host) })), log };
}

const loads = (h: ScriptedHost) => h.ran.flatMap((l, i) => (l.startsWith('docker load') ? [i] : []));

describe('ensureOnNodes', () => {
  it('skips a node that holds the image, ships each other one its own plan, the nodes side by side', async () => {
    const { ctx, host, clock, said } = fakeEngine(fakeConfig(), shipLocal());
    const n1 = node(clock, 'n1', { has: true });
    const n2 = node(clock, 'n2', { chains: [[id('a'), id('e')]] });
    const n3 = node(clock, 'n3');
    const { nodes, log } = journal([n1, n2, n3]);
    const out = await ensureOnNodes(ctx, nodes, ref);

    assert.deepEqual(host.ran, [], 'the context host is not one of the nodes here');
    assert.deepEqual(loads(n1.host), []);
    // n2 holds layer a as the same chain: only b's blob goes; n3 holds nothing: the whole archive goes
    const thin = loaded(n2.host.stdin[loads(n2.host)[0]!]!);
    assert.ok(thin.length < archive.length);
    assert.ok(loaded(n3.host.stdin[loads(n3.host)[0]!]!).equals(archive));
    // side by side: every node is asked before any node is loaded
    const firstLoad = log.findIndex((l) => / docker load/.test(l));
    assert.deepEqual(
      log
        .slice(0, firstLoad)
        .filter((l) => /^n\d docker image inspect/.test(l))
        .map((l) => l.split(' ')[0]),
      ['n1', 'n2', 'n3'],
      log.join('\n'),
    );

    assert.equal(out.how, 'shipped');
    assert.deepEqual(
      out.nodes.map((n) => [n.name, n.how]),
      [
        ['n1', 'present'],
        ['n2', 'shipped'],
        ['n3', 'shipped'],
      ],
    );
    assert.equal(out.bytes, out.nodes[1]!.bytes! + out.nodes[2]!.bytes!);
    assert.deepEqual(out.layers, { total: 4, sent: 3, skipped: 1 });
    assert.equal(said.info.length, 2);
    const lines = [...said.info].sort();
    assert.match(lines[0]!, /^node n2: shipped 1 of 2 layers, .* \(1 layer already on the host\)$/);
    assert.match(lines[1]!, /^node n3: shipped the whole image, 2 layers, /);
    assert.deepEqual(said.warn, []);
  });

  it('every node holding the image: nothing is shipped, nothing asked of this machine', async () => {
    const local = shipLocal();
    const { ctx, clock } = fakeEngine(fakeConfig(), local);
    const out = await ensureOnNodes(ctx, [node(clock, 'n1', { has: true }), node(clock, 'n2', { has: true })], ref, {
      sha: '1234',
      buildArgs: {},
    });
    assert.deepEqual(out, {
      ref,
      how: 'present',
      nodes: [
        { name: 'n1', how: 'present' },
        { name: 'n2', how: 'present' },
      ],
    });
    assert.deepEqual(local.ran, []);
  });

  it('a node whose load fails is an image error naming it; the other nodes still get the image', async () => {
    const { ctx, clock } = fakeEngine(fakeConfig(), shipLocal());
    const n1 = node(clock, 'n1');
    const n2 = node(clock, 'n2');
    n2.host.on(/^docker load/, { code: 1, stderr: 'no space left on device' });
    const n3 = node(clock, 'n3');
    const err = await ensureOnNodes(ctx, [n1, n2, n3], ref).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DeployError);
    assert.equal(err.kind, 'image');
    assert.equal(err.exitCode, ExitCode.image);
    assert.match(err.message, /^node n2 \(deploy@fake-host:22\): docker load on the host failed: no space left/);
    assert.equal(err.remedy, 'check free disk space on the host');
    assert.equal(loads(n1.host).length, 1);
    assert.equal(loads(n3.host).length, 1);
  });

  it('a node that cannot be reached is an image error naming it, with the connection remedy', async () => {
    const { ctx, clock } = fakeEngine(fakeConfig(), shipLocal());
    const down: Host = {
      name: 'deploy@10.0.0.9:22',
      run: () => Promise.reject(new DeployError('connection', 'cannot connect to deploy@10.0.0.9:22', 'check it')),
      close: async () => undefined,
    };
    const err = await ensureOnNodes(ctx, [node(clock, 'n1'), { name: 'n9', host: down }], ref).catch((e: unknown) => e);
    assert.ok(err instanceof DeployError);
    assert.equal(err.kind, 'image');
    assert.equal(err.message, 'node n9 (deploy@10.0.0.9:22): cannot connect to deploy@10.0.0.9:22');
    assert.equal(err.remedy, 'check it');
  });

  it('the image missing here without a build: said as such, before any node is shipped to', async () => {
    const absent: Local = {
      run: async () => ({ code: 1, stdout: '', stderr: 'No such image', durationMs: 1 }),
      stream: () => assert.fail('nothing to save'),
    };
    const { ctx, clock } = fakeEngine(fakeConfig(), absent);
    const n1 = node(clock, 'n1');
    await assert.rejects(ensureOnNodes(ctx, [n1], ref), (e: unknown) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.kind, 'image');
      assert.match(e.message, /is not on this machine/);
      return true;
    });
    assert.deepEqual(loads(n1.host), []);
  });

  it('app.pull: each node lacking the image pulls it', async () => {
    const { ctx, clock, said } = fakeEngine(fakeConfig({ app: { image: 'ghcr.io/togather/server', pull: true } }));
    const n1 = node(clock, 'n1');
    const n2 = node(clock, 'n2', { has: true });
    const out = await ensureOnNodes(ctx, [n1, n2], ref);
    assert.equal(out.how, 'pulled');
    assert.deepEqual(
      n1.host.ran.filter((l) => l.startsWith('docker pull')),
      [`docker pull --quiet ${ref}`],
    );
    assert.ok(!n2.host.ran.some((l) => l.startsWith('docker pull')));
    assert.deepEqual(said.info, [`node n1: pulled ${ref}`]);
  });

  it('a dry run says what it would do for each node lacking the image, and does nothing', async () => {
    const local = shipLocal();
    const { ctx, clock, said } = fakeEngine(fakeConfig(), local);
    ctx.dryRun = true;
    const n1 = node(clock, 'n1');
    const out = await ensureOnNodes(ctx, [n1, node(clock, 'n2', { has: true })], ref);
    assert.equal(out.how, 'shipped');
    assert.equal(out.bytes, undefined);
    assert.deepEqual(loads(n1.host), []);
    assert.deepEqual(local.ran, []);
    assert.match(said.info.join('\n'), /^would get \S+ onto node n1 \(build if needed/);
  });
});

describe('pruneOnNodes', () => {
  const tag = (c: string) => c.repeat(40);
  /** a node with four releases, newest first by date, one of them still used by a container */
  function withReleases(clock: FakeClock, name: string, inUse: string) {
    const host = new ScriptedHost(clock);
    host.on(/^docker image ls /, {
      stdout: ['a', 'b', 'c', 'd'].map((c, i) => `${tag(c)}\t2026-12-0${7 - i} 10:00:00 +0000 UTC`).join('\n'),
    });
    host.on(/^docker ps -a /, { stdout: `ghcr.io/togather/server:${tag(inUse)}\n` });
    return { name, host };
  }
  const removed = (h: ScriptedHost) =>
    h.ran.filter((l) => l.startsWith('docker image rm')).map((l) => l.slice(-40, -39));

  it('prunes each node with the one protect set; a node that cannot be reached is a warning', async () => {
    const { ctx, clock, said } = fakeEngine();
    const n1 = withReleases(clock, 'n1', 'c');
    const n3 = withReleases(clock, 'n3', 'd');
    const down: Host = {
      name: 'deploy@10.0.0.9:22',
      run: () => Promise.reject(new DeployError('connection', 'lost the SSH connection to deploy@10.0.0.9:22: x')),
      close: async () => undefined,
    };
    const out = await pruneOnNodes(ctx, [n1, { name: 'n2', host: down }, n3], 1, [tag('b')]);
    assert.deepEqual(removed(n1.host), ['d']);
    assert.deepEqual(removed(n3.host), ['c']);
    assert.deepEqual(out, [
      { name: 'n1', removed: [tag('d')] },
      { name: 'n2', removed: [], unreachable: 'lost the SSH connection to deploy@10.0.0.9:22: x' },
      { name: 'n3', removed: [tag('c')] },
    ]);
    assert.deepEqual(said.warn, [
      'node n2: old images not pruned (lost the SSH connection to deploy@10.0.0.9:22: x); the next deploy tries again',
    ]);
  });

  it('a dry run lists per node and removes nothing', async () => {
    const { ctx, clock } = fakeEngine();
    const n1 = withReleases(clock, 'n1', 'a');
    const out = await pruneOnNodes(ctx, [n1], 2, [], true);
    assert.deepEqual(out, [{ name: 'n1', removed: [tag('c'), tag('d')] }]);
    assert.deepEqual(removed(n1.host), []);
  });
});
