/**
 * The multi-node Swarm fabric (test/harness/swarm.ts) the swarm provider's tests stand on: its nodes are Ready
 * with distinct hostnames and the planned labels, a dnsrr service on an attachable overlay answers from n1 (across
 * nodes with 3), the manager is reached over ssh from the deployer namespace with its pinned key and reports an
 * active manager, and teardown leaves no namespace, directory or process behind.
 *
 * One node by default (the e2e stage); TOGATHER_SWARM_NODES=3 for the 3-node fabric.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cleanEnv, pidMatches, readPid, run } from '../harness/proc.js';
import {
  nodeDocker,
  overlayProbe,
  RUN_DIR,
  swarmDown,
  swarmSshArgv,
  swarmUp,
  type SwarmInfo,
} from '../harness/swarm.js';

const N = process.env.TOGATHER_SWARM_NODES === '3' ? 3 : 1;
let info: SwarmInfo;
let down = false;
const t0 = Date.now();

before(
  async () => {
    info = await swarmUp({ nodes: N });
  },
  // a brand-new machine also brings the loopback harness up and builds its images first
  { timeout: 1_200_000 },
);

after(async () => {
  if (!down) await swarmDown().catch(() => undefined);
  process.stdout.write(`# swarm-harness (${N} node(s)): ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

test(`${N} node(s) Ready, distinct hostnames, the planned labels`, async () => {
  const ls = await nodeDocker(info, 1, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}}']);
  const rows = ls.stdout.trim().split('\n').sort();
  assert.deepEqual(
    rows,
    info.nodes.map((n) => `${n.hostname} Ready Active`),
  );
  for (const n of info.nodes) {
    const labels = await nodeDocker(info, 1, ['node', 'inspect', '-f', '{{json .Spec.Labels}}', n.nodeId]);
    const want = Object.fromEntries(n.labels.map((l) => l.split('=') as [string, string]));
    assert.deepEqual(JSON.parse(labels.stdout) as unknown, want, `labels of ${n.name}`);
  }
  assert.deepEqual(
    info.nodes[0]?.labels.sort(),
    ['togather.db=true', 'togather.edge=true', ...(N === 1 ? ['togather.app=true'] : [])].sort(),
  );
  // no routing mesh without IP_VS: the fabric removes ingress
  const nets = await nodeDocker(info, 1, ['network', 'ls', '--format', '{{.Name}}']);
  assert.ok(!nets.stdout.split('\n').includes('ingress'), nets.stdout);
});

test(
  'a dnsrr service on an attachable overlay answers from n1, by task address and by name',
  { timeout: 180_000 },
  async () => {
    const probe = await overlayProbe(info);
    assert.equal(probe.tasks.length, 2);
    for (const t of probe.tasks) assert.match(t.answer, /^[0-9a-f]{12}$/, `task on ${t.node} at ${t.ip}`);
    if (N === 3) {
      // spread over both app nodes, so n1 reached each across the VXLAN underlay
      assert.deepEqual(probe.tasks.map((t) => t.node).sort(), ['n2', 'n3']);
    }
    // the probe leaves nothing on the app nodes: the tool must find them empty and ship
    for (const n of info.nodes.slice(1)) {
      const left = await nodeDocker(info, Number(n.name.slice(1)), ['images', '-aq']);
      assert.equal(left.stdout.trim(), '', `images left on ${n.name}`);
    }
    const answers = new Set(probe.tasks.map((t) => t.answer));
    for (const a of probe.byName) assert.ok(answers.has(a), `the service name answered ${a}`);
  },
);

test('ssh to the manager with the pinned host key: an active swarm manager; an unknown key is refused', async () => {
  const r = await run(
    [
      ...swarmSshArgv(info, 1),
      "id -un; docker info -f '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}}'",
    ],
    { env: cleanEnv(), timeoutMs: 30_000 },
  );
  assert.deepEqual(r.stdout.trim().split('\n'), [info.ssh.user, `active true ${N}`]);
  // infra images are on n1 (the tool ships app images itself)
  const images = await run([...swarmSshArgv(info, 1), "docker images --format '{{.Repository}}:{{.Tag}}'"], {
    env: cleanEnv(),
  });
  for (const img of Object.values(info.images)) assert.ok(images.stdout.includes(img), `${img} on n1`);

  const dir = mkdtempSync(join(tmpdir(), 'tgs-kh-'));
  try {
    const empty = join(dir, 'known_hosts');
    writeFileSync(empty, '');
    const argv = swarmSshArgv(info, 1).map((a) =>
      a === `UserKnownHostsFile=${info.ssh.knownHostsPath}` ? `UserKnownHostsFile=${empty}` : a,
    );
    const refused = await run([...argv, 'true'], { env: cleanEnv(), check: false, timeoutMs: 30_000 });
    assert.equal(refused.code, 255);
    assert.match(refused.stderr, /Host key verification failed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  if (N === 3) {
    // a worker through the manager, both keys pinned (an explicit ProxyCommand: -J would not pass our -o options)
    const m = swarmSshArgv(info, 1);
    const hop = [...m.slice(info.ctlExec.length, -1), '-W', '%h:%p', m[m.length - 1]].join(' ');
    const viaN1 = swarmSshArgv(info, 2);
    const w = await run(
      [
        ...viaN1.slice(0, -1),
        '-o',
        `ProxyCommand=${hop}`,
        viaN1[viaN1.length - 1] ?? '',
        "docker info -f '{{.Swarm.NodeID}}'",
      ],
      { env: cleanEnv(), timeoutMs: 30_000 },
    );
    assert.equal(w.stdout.trim(), info.nodes[1]?.nodeId);
  }
});

test('swarm down leaves no namespace, directory or process', { timeout: 120_000 }, async () => {
  const pids: number[] = [];
  for (let i = 1; i <= N; i++) {
    for (const f of ['dockerd.pid', 'sshd.pid', 'exec/containerd/containerd.pid']) {
      const p = readPid(join(RUN_DIR, `n${i}`, f));
      if (p !== undefined) pids.push(p);
    }
  }
  // dockerd and sshd at least (containerd's pidfile is its own to write)
  assert.ok(pids.length >= 2 * N, `pidfiles found: ${pids.join(' ')}`);
  await swarmDown();
  down = true;
  const ns = await run(['ip', 'netns', 'list'], { env: cleanEnv() });
  assert.doesNotMatch(ns.stdout, /^tgs-/m);
  assert.ok(!existsSync(RUN_DIR), `${RUN_DIR} removed`);
  assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), /\/run\/tgs\b/, 'no mount left under /run/tgs');
  assert.ok(!existsSync(info.dir), `${info.dir} removed`);
  for (const p of pids) assert.ok(!pidMatches(p, []), `pid ${p} ended`);
  const links = await run(['ip', '-o', 'link'], { env: cleanEnv() });
  assert.doesNotMatch(links.stdout, /tgs|br0/);
});
