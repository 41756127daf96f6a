/*
 * A colour service's tasks as SWARM_TASKS and SCALE_DOWN list them (swarm/commands.ts), and the two verdicts
 * the deployer waits on: every wanted task running on a Ready node with its overlay address (then each is
 * probed), or a failure no wait can fix; and, when scaling down, what is still running. Tasks and nodes are
 * matched by ID only: nodes may share a hostname. A task on a Down node is neither counted nor waited for.
 */

export interface SwarmTask {
  id: string;
  /** empty while the task is not assigned yet */
  nodeId: string;
  /** what swarm wants: running, shutdown, … */
  desired: string;
  /** where it is: new, pending, assigned, preparing, starting, running, complete, failed, rejected, orphaned, shutdown … */
  state: string;
  exitCode?: number;
  /** creation time, epoch seconds (the manager's clock) */
  createdS?: number;
  /** network name → address (without the prefix length) */
  addresses: Record<string, string>;
  /** swarm's error text, e.g. "No such image: app:v3" or "no suitable node (…)" */
  err: string;
}

export interface SwarmNode {
  id: string;
  /** ready, down, unknown, disconnected (lower case) */
  status: string;
  availability: string;
}

export interface TaskListing {
  /** false: the service does not exist */
  present: boolean;
  tasks: SwarmTask[];
  nodes: SwarmNode[];
  /** the manager's clock when listed, epoch seconds */
  nowS?: number;
}

/** states a task is still alive in (it runs, or will): what a scale-down waits out */
export const ALIVE_STATES = new Set([
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
]);
/** states that end a task for good: in a starting colour, each is a failure no wait fixes */
export const FAILED_STATES = new Set(['failed', 'rejected', 'orphaned', 'complete']);

export function parseTasks(out: string): TaskListing {
  const listing: TaskListing = { present: !/^service=absent$/m.test(out), tasks: [], nodes: [] };
  for (const raw of out.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('task|')) {
      const f = line.split('|');
      if (f.length < 9) continue;
      const [, id, nodeId, desired, state, exit, created, nets] = f as [string, ...string[]];
      let err = '';
      try {
        const v = JSON.parse(f.slice(8).join('|')) as unknown;
        if (typeof v === 'string') err = v;
      } catch {
        err = f.slice(8).join('|');
      }
      const addresses: Record<string, string> = {};
      for (const pair of (nets ?? '').split(' ')) {
        const m = /^([^=]+)=([^/\s]+)(?:\/\d+)?$/.exec(pair);
        if (m && !(m[1]! in addresses)) addresses[m[1]!] = m[2]!;
      }
      listing.tasks.push({
        id: id ?? '',
        nodeId: nodeId ?? '',
        desired: (desired ?? '').toLowerCase(),
        state: (state ?? '').toLowerCase(),
        exitCode: exit && /^-?\d+$/.test(exit) ? Number(exit) : undefined,
        createdS: created && /^\d+$/.test(created) ? Number(created) : undefined,
        addresses,
        err,
      });
    } else if (line.startsWith('node|')) {
      const [, id = '', status = '', availability = ''] = line.split('|');
      listing.nodes.push({ id, status: status.toLowerCase(), availability: availability.toLowerCase() });
    } else {
      const now = /^now=(\d+)$/.exec(line);
      if (now) listing.nowS = Number(now[1]);
    }
  }
  return listing;
}

const shortId = (id: string) => id.slice(0, 12) || '?';

/** one task as messages name it */
export function describeTask(t: SwarmTask): string {
  const exit = t.exitCode !== undefined && t.exitCode !== 0 ? `, exit code ${t.exitCode}` : '';
  const err = t.err ? `: ${t.err}` : '';
  return `task ${shortId(t.id)} on node ${t.nodeId ? shortId(t.nodeId) : '(none yet)'} ${t.state}${exit}${err}`;
}

function downNodes(l: TaskListing): Set<string> {
  return new Set(l.nodes.filter((n) => n.status !== 'ready').map((n) => n.id));
}

export interface ReadyTask {
  id: string;
  nodeId: string;
  ip: string;
}

export type TaskVerdict =
  /** the wanted number of tasks run on Ready nodes, each with its address on the overlay: probe them */
  | { kind: 'ready'; tasks: ReadyTask[]; onDownNodes: SwarmTask[] }
  /** not yet: keep polling until the scale timeout */
  | { kind: 'waiting'; reason: string; running: number; onDownNodes: SwarmTask[] }
  /** no wait can fix it: a task failed, was rejected or exited, or swarm says why it cannot place one */
  | { kind: 'failed'; reason: string; task?: SwarmTask };

export interface TaskJudgeOptions {
  replicas: number;
  /** the overlay network whose address each task is probed on */
  network: string;
  /** only tasks created at or after this (the manager's epoch seconds): a warm colour's history is older */
  sinceS?: number;
}

export function judgeTasks(l: TaskListing, o: TaskJudgeOptions): TaskVerdict {
  if (!l.present) return { kind: 'failed', reason: 'the service does not exist' };
  const down = downNodes(l);
  const tasks = l.tasks.filter((t) => o.sinceS === undefined || t.createdS === undefined || t.createdS >= o.sinceS);
  // a task on a Down node says nothing about the release: its node cannot report
  const judged = tasks.filter((t) => !down.has(t.nodeId));
  const failed = judged.find((t) => FAILED_STATES.has(t.state) || (t.err !== '' && t.state !== 'running'));
  if (failed) return { kind: 'failed', reason: describeTask(failed), task: failed };
  const onDownNodes = tasks.filter((t) => down.has(t.nodeId) && ALIVE_STATES.has(t.state));
  const running = judged.filter((t) => t.desired === 'running' && t.state === 'running');
  const withIp = running.filter((t) => t.addresses[o.network]);
  if (withIp.length >= o.replicas && running.length === withIp.length) {
    return {
      kind: 'ready',
      tasks: withIp.map((t) => ({ id: t.id, nodeId: t.nodeId, ip: t.addresses[o.network]! })),
      onDownNodes,
    };
  }
  const noIp = running.length - withIp.length;
  const reason =
    `${running.length} of ${o.replicas} tasks running on Ready nodes` +
    (noIp ? `, ${noIp} without an address on ${o.network}` : '') +
    (onDownNodes.length ? `, ${onDownNodes.length} on Down nodes` : '');
  return { kind: 'waiting', reason, running: running.length, onDownNodes };
}

export interface StillRunning {
  /** alive on Ready nodes (or not placed yet): the scale-down waits for these */
  waiting: SwarmTask[];
  /** alive as far as swarm knows, on Down nodes: reported, not waited for */
  leftOnDown: SwarmTask[];
}

/** after `service scale <svc>=0`: which tasks still run, and where */
export function stillRunning(l: TaskListing): StillRunning {
  const down = downNodes(l);
  const alive = l.tasks.filter((t) => ALIVE_STATES.has(t.state));
  return {
    waiting: alive.filter((t) => !down.has(t.nodeId)),
    leftOnDown: alive.filter((t) => down.has(t.nodeId)),
  };
}

/**
 * What SCALE_DOWN's last listing says, in a warning's words: nothing when every task stopped; else the tasks
 * still running on Ready nodes (the wait ran out) and those left on Down nodes (never waited for).
 */
export function describeScaleDown(out: string, service: string): string | undefined {
  const { waiting, leftOnDown } = stillRunning(parseTasks(out));
  const parts = [
    ...(waiting.length
      ? [`${waiting.length} task(s) still running after the wait: ${waiting.map(describeTask).join('; ')}`]
      : []),
    ...(leftOnDown.length
      ? [
          `${leftOnDown.length} task(s) left on Down nodes, stopped when those come back: ${leftOnDown.map(describeTask).join('; ')}`,
        ]
      : []),
  ];
  return parts.length ? `${service}: ${parts.join('; ')}` : undefined;
}
