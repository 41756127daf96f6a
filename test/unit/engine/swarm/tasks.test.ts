import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SCALE_DOWN } from '../../../../src/engine/swarm/commands.js';
import {
  ALIVE_STATES,
  describeScaleDown,
  judgeTasks,
  parseTasks,
  stillRunning,
} from '../../../../src/engine/swarm/tasks.js';

const NET = 'e_togather';
const NODES = 'node|n1|Ready|Active\nnode|n2|Ready|Active\nnode|n3|Down|Active';
const task = (id: string, node: string, desired: string, state: string, ip = '', err = '', exit = '', created = 100) =>
  `task|${id}|${node}|${desired}|${state}|${exit}|${created}|${ip ? `${NET}=${ip}/24 ` : ''}|${JSON.stringify(err)}`;
const listing = (...lines: string[]) => parseTasks(['service=present', ...lines, NODES, 'now=200'].join('\n'));

describe('parseTasks', () => {
  test('tasks, nodes and the manager’s clock; the error may hold a "|"', () => {
    const l = parseTasks(
      [
        'service=present',
        `task|t1|n1|Running|Running||1765000000|ingress=10.0.0.4/24 ${NET}=10.0.1.5/24 |""`,
        'task|t2|n2|Shutdown|Failed|137|1765000001||"task: non-zero exit (137) | oom"',
        NODES,
        'now=1765000100',
      ].join('\n'),
    );
    assert.equal(l.present, true);
    assert.deepEqual(l.tasks[0], {
      id: 't1',
      nodeId: 'n1',
      desired: 'running',
      state: 'running',
      exitCode: undefined,
      createdS: 1765000000,
      addresses: { ingress: '10.0.0.4', [NET]: '10.0.1.5' },
      err: '',
    });
    assert.equal(l.tasks[1]!.exitCode, 137);
    assert.equal(l.tasks[1]!.err, 'task: non-zero exit (137) | oom');
    assert.deepEqual(l.nodes[2], { id: 'n3', status: 'down', availability: 'active' });
    assert.equal(l.nowS, 1765000100);
    assert.equal(parseTasks('service=absent\nnode|n1|Ready|Active').present, false);
  });
});

describe('judgeTasks', () => {
  test('ready: N tasks running on Ready nodes, each with its overlay address', () => {
    const v = judgeTasks(
      listing(task('t1', 'n1', 'Running', 'Running', '10.0.1.5'), task('t2', 'n2', 'Running', 'Running', '10.0.1.6')),
      {
        replicas: 2,
        network: NET,
      },
    );
    assert.deepEqual(v, {
      kind: 'ready',
      tasks: [
        { id: 't1', nodeId: 'n1', ip: '10.0.1.5' },
        { id: 't2', nodeId: 'n2', ip: '10.0.1.6' },
      ],
      onDownNodes: [],
    });
  });

  test('waiting: too few running, one without its address yet, one on a Down node (not counted)', () => {
    const v = judgeTasks(
      listing(
        task('t1', 'n1', 'Running', 'Running', '10.0.1.5'),
        task('t2', 'n2', 'Running', 'Starting'),
        task('t3', 'n3', 'Running', 'Running', '10.0.1.7'),
      ),
      { replicas: 3, network: NET },
    );
    assert.equal(v.kind, 'waiting');
    assert.equal(v.kind === 'waiting' && v.reason, '1 of 3 tasks running on Ready nodes, 1 on Down nodes');
    const noIp = judgeTasks(listing(task('t1', 'n1', 'Running', 'Running')), { replicas: 1, network: NET });
    assert.equal(
      noIp.kind === 'waiting' && noIp.reason,
      `1 of 1 tasks running on Ready nodes, 1 without an address on ${NET}`,
    );
  });

  test('fail fast: a missing image, no suitable node, a crash, an exit', () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'rejected',
        task('t1', 'n2', 'Shutdown', 'Rejected', '', 'No such image: app:v3'),
        /rejected: No such image: app:v3/,
      ],
      [
        'unplaceable',
        task('t1', '', 'Running', 'Pending', '', 'no suitable node (scheduling constraints not satisfied on 3 nodes)'),
        /on node \(none yet\) pending: no suitable node/,
      ],
      [
        'crashed',
        task('t1', 'n1', 'Shutdown', 'Failed', '', 'task: non-zero exit (1)', '1'),
        /failed, exit code 1: task: non-zero exit/,
      ],
      ['exited 0', task('t1', 'n1', 'Shutdown', 'Complete', '', '', '0'), /complete$/],
    ];
    for (const [what, line, reason] of cases) {
      const v = judgeTasks(listing(task('t0', 'n1', 'Running', 'Running', '10.0.1.4'), line), {
        replicas: 2,
        network: NET,
      });
      assert.equal(v.kind, 'failed', what);
      assert.match(v.kind === 'failed' ? v.reason : '', reason, what);
    }
  });

  test('a warm colour’s old failures (before sinceS) and tasks on Down nodes do not fail it', () => {
    const v = judgeTasks(
      listing(
        task('old', 'n1', 'Shutdown', 'Failed', '', 'task: non-zero exit (1)', '1', 50),
        task('gone', 'n3', 'Shutdown', 'Failed', '', 'node is down', '', 150),
        task('t1', 'n1', 'Running', 'Running', '10.0.1.5', '', '', 150),
      ),
      { replicas: 1, network: NET, sinceS: 100 },
    );
    assert.equal(v.kind, 'ready');
  });

  test('an absent service fails', () => {
    assert.equal(judgeTasks(parseTasks('service=absent'), { replicas: 1, network: NET }).kind, 'failed');
  });
});

describe('stillRunning (scale-down)', () => {
  test('waits for tasks alive on Ready nodes or not placed; reports those on Down nodes', () => {
    const r = stillRunning(
      listing(
        task('a', 'n1', 'Shutdown', 'Running'),
        task('b', 'n2', 'Shutdown', 'Shutdown'),
        task('c', 'n3', 'Shutdown', 'Running'),
        task('d', '', 'Shutdown', 'Pending'),
        task('e', 'n2', 'Shutdown', 'Complete'),
      ),
    );
    assert.deepEqual(
      r.waiting.map((t) => t.id),
      ['a', 'd'],
    );
    assert.deepEqual(
      r.leftOnDown.map((t) => t.id),
      ['c'],
    );
    assert.deepEqual(stillRunning(listing(task('b', 'n2', 'Shutdown', 'Shutdown'))), { waiting: [], leftOnDown: [] });
  });

  test('the scale-down’s warning names what is left and where', () => {
    const out = [
      'service=present',
      task('a', 'n1', 'Shutdown', 'Running'),
      task('c', 'n3', 'Shutdown', 'Running'),
      NODES,
    ].join('\n');
    assert.equal(
      describeScaleDown(out, 'e_app-blue'),
      'e_app-blue: 1 task(s) still running after the wait: task a on node n1 running; ' +
        '1 task(s) left on Down nodes, stopped when those come back: task c on node n3 running',
    );
    assert.equal(
      describeScaleDown(['service=present', task('b', 'n2', 'Shutdown', 'Shutdown'), NODES].join('\n'), 'x'),
      undefined,
    );
  });

  test('SCALE_DOWN waits, on the host, for the very states stillRunning calls alive', () => {
    const m = /\$5 ~ \/\^\(([a-z|]+)\)\$\//.exec(SCALE_DOWN);
    assert.ok(m, 'the state list in SCALE_DOWN');
    assert.deepEqual(m[1]!.split('|').sort(), [...ALIVE_STATES].sort());
  });
});
