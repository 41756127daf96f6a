import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  judgeSwarm,
  nodeMatches,
  parseSwarmPreflight,
  type NodeFact,
  type SwarmJudgeOptions,
} from '../../../../src/engine/swarm/preflight.js';
import { DeployError } from '../../../../src/errors.js';

const node = (id: string, state: string, labels: Record<string, string>, role = 'worker', host = 'tgs') =>
  `node=${id}|${state}|active|10.231.0.1${id.at(-1)}|${role}|${host}|${JSON.stringify(labels)}`;
const OUT = [
  'version=26.1.5 26.1.5',
  'swarm=active true n1',
  node('n1', 'ready', { 'togather.edge': 'true', 'togather.db': 'true' }, 'manager'),
  node('n2', 'ready', { 'togather.app': 'true' }),
  node('n3', 'ready', { 'togather.app': 'true' }),
  'network=overlay true',
  'free_kb=10485760',
  'root=/srv/togather/staging',
].join('\n');
const O: SwarmJudgeOptions = {
  edgeLabel: 'togather.edge',
  dbLabel: 'togather.db',
  placement: ['node.labels.togather.app==true'],
  listed: [
    { name: '10.231.0.12', id: 'n2' },
    { name: '10.231.0.13', id: 'n3' },
  ],
  minFreeMb: 1024,
};

/** the problems judgeSwarm lists, or [] when it passes */
function problems(out: string, o: Partial<SwarmJudgeOptions> = {}): string[] {
  try {
    judgeSwarm(parseSwarmPreflight(out), { ...O, ...o });
    return [];
  } catch (e) {
    assert.ok(e instanceof DeployError && e.kind === 'preflight', String(e));
    return e.message.split('\n  - ').slice(1);
  }
}
const replace = (from: string, to: string) => OUT.replace(from, to);

describe('parseSwarmPreflight', () => {
  test('versions, swarm state, nodes with their labels, network, disk, root', () => {
    const f = parseSwarmPreflight(OUT);
    assert.equal(f.serverVersion, '26.1.5');
    assert.equal(f.manager, true);
    assert.equal(f.nodeId, 'n1');
    assert.equal(f.nodes.length, 3);
    assert.deepEqual(f.nodes[1], {
      id: 'n2',
      state: 'ready',
      availability: 'active',
      addr: '10.231.0.12',
      role: 'worker',
      hostname: 'tgs',
      labels: { 'togather.app': 'true' },
    });
    assert.deepEqual(f.network, { driver: 'overlay', attachable: true });
    assert.equal(f.freeMb, 10240);
    assert.equal(f.root, '/srv/togather/staging');
    assert.equal(parseSwarmPreflight(replace('network=overlay true', 'network=absent')).network, undefined);
  });
});

describe('judgeSwarm', () => {
  test('a fit cluster passes: the edge is this manager, the app nodes, the db node', () => {
    const v = judgeSwarm(parseSwarmPreflight(OUT), O);
    assert.equal(v.selfId, 'n1');
    assert.equal(v.edgeId, 'n1');
    assert.equal(v.dbNodeId, 'n1');
    assert.deepEqual(
      v.appNodes.map((n) => n.id),
      ['n2', 'n3'],
    );
    assert.deepEqual(v.warnings, []);
  });

  test('each refusal, in its own words', () => {
    const cases: Array<[string, string, Partial<SwarmJudgeOptions>, RegExp]> = [
      ['no docker', replace('version=26.1.5 26.1.5', 'version='), {}, /docker does not answer/],
      ['old engine', replace('version=26.1.5 26.1.5', 'version=19.03.1 19.03.1'), {}, /19\.03\.1 is too old/],
      [
        'no swarm',
        replace('swarm=active true n1', 'swarm=inactive false '),
        { listed: [] },
        /not part of an active swarm/,
      ],
      ['a worker', replace('swarm=active true n1', 'swarm=active false n2'), { listed: [] }, /worker, not a manager/],
      [
        'edge label missing',
        OUT.replaceAll('"togather.edge":"true",', ''),
        {},
        /no node has the edge label togather\.edge=true/,
      ],
      [
        'edge on two nodes',
        replace('{"togather.app":"true"}', '{"togather.app":"true","togather.edge":"true"}'),
        {},
        /on 2 nodes \(n1 \(tgs\), n2 \(tgs\)\)/,
      ],
      [
        'edge elsewhere',
        replace('swarm=active true n1', 'swarm=active true n2'),
        {},
        /is not the manager the deployer connects to/,
      ],
      [
        'db label missing',
        OUT.replace(',"togather.db":"true"', ''),
        {},
        /togather\.db=true must be on exactly one node.*it is on 0/,
      ],
      [
        'db on two nodes',
        replace('{"togather.app":"true"}', '{"togather.app":"true","togather.db":"true"}'),
        {},
        /it is on 2/,
      ],
      ['no app node', OUT, { placement: ['node.labels.togather.app==yes'] }, /no Ready and Active node matches/],
      [
        'listed node not in a swarm',
        OUT,
        { listed: [{ name: 'n9.example', id: '' }] },
        /n9\.example is not in a swarm/,
      ],
      [
        'listed node elsewhere',
        OUT,
        { listed: [{ name: '10.0.0.9', id: 'zz9' }] },
        /10\.0\.0\.9 is node zz9, which is not in this swarm/,
      ],
      [
        'bridge network',
        replace('network=overlay true', 'network=bridge false'),
        {},
        /exists as bridge, not attachable/,
      ],
      ['disk', replace('free_kb=10485760', 'free_kb=1024'), {}, /only 1 MiB free/],
    ];
    for (const [what, out, o, re] of cases) {
      const p = problems(out, o);
      assert.ok(
        p.some((x) => re.test(x)),
        `${what}: ${JSON.stringify(p)}`,
      );
    }
    // an external database needs no db label
    assert.deepEqual(problems(OUT.replace(',"togather.db":"true"', ''), { dbLabel: undefined }), []);
  });

  test('nodes are matched by ID, never by hostname: all three share one', () => {
    assert.deepEqual(problems(OUT, { listed: [{ name: 'tgs', id: 'n3' }] }), []);
    assert.equal(problems(OUT, { listed: [{ name: 'n3', id: 'tgs' }] }).length, 1);
  });

  test('a Down node that could run the app is a warning; without any Ready one, a refusal', () => {
    const down = replace(
      node('n3', 'ready', { 'togather.app': 'true' }),
      node('n3', 'down', { 'togather.app': 'true' }),
    );
    const v = judgeSwarm(parseSwarmPreflight(down), O);
    assert.deepEqual(
      v.appNodes.map((n) => n.id),
      ['n2'],
    );
    assert.match(v.warnings.join('\n'), /node n3 \(tgs\) is down/);
    const bothDown = down.replace(
      node('n2', 'ready', { 'togather.app': 'true' }),
      node('n2', 'down', { 'togather.app': 'true' }),
    );
    assert.match(problems(bothDown).join('\n'), /no Ready and Active node/);
  });

  test('every problem at once', () => {
    const p = problems(
      [
        'version=20.10.5 20.10.5',
        'swarm=active true n1',
        node('n1', 'ready', {}, 'manager'),
        'network=bridge true',
      ].join('\n'),
    );
    // edge label, db label, no app node, both listed nodes outside this swarm, the network
    assert.equal(p.length, 6, JSON.stringify(p));
  });
});

describe('nodeMatches', () => {
  const n: NodeFact = {
    id: 'abc',
    state: 'ready',
    availability: 'active',
    addr: '',
    role: 'manager',
    hostname: 'Edge-1',
    labels: { 'togather.app': 'true' },
  };
  test('labels, id, hostname, role; == and !=; what we cannot see is assumed to match', () => {
    assert.equal(nodeMatches(n, 'node.labels.togather.app == true'), true);
    assert.equal(nodeMatches(n, 'node.labels.togather.app!=true'), false);
    assert.equal(nodeMatches(n, 'node.labels.missing==true'), false);
    assert.equal(nodeMatches(n, 'node.labels.missing!=true'), true);
    assert.equal(nodeMatches(n, 'node.id==abc'), true);
    assert.equal(nodeMatches(n, 'node.hostname==edge-1'), true);
    assert.equal(nodeMatches(n, 'node.role!=manager'), false);
    assert.equal(nodeMatches(n, 'engine.labels.x==y'), true);
    assert.equal(nodeMatches(n, 'node.platform.os==linux'), true);
  });
});
