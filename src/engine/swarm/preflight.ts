import { DeployError } from '../../errors.js';
import { versionAtLeast } from '../release/preflight.js';

/*
 * The cluster's fitness, read in one round trip to the manager (SWARM_PREFLIGHT in swarm/commands.ts) and judged
 * here, every problem at once, like release/preflight.ts's judgePreflight for one host. Nodes are known by their
 * swarm node ID only, never by hostname (several nodes may share one).
 */

export interface NodeFact {
  id: string;
  /** ready, down, unknown, disconnected */
  state: string;
  /** active, pause, drain */
  availability: string;
  addr: string;
  role: string;
  hostname: string;
  labels: Record<string, string>;
}

export interface SwarmPreflightFacts {
  serverVersion: string;
  clientVersion: string;
  /** inactive, pending, active, error, locked */
  localState: string;
  /** this engine is a manager */
  manager: boolean;
  /** this node's swarm ID */
  nodeId: string;
  nodes: NodeFact[];
  /** the stack's overlay network, absent before the first deploy */
  network?: { driver: string; attachable: boolean };
  freeMb?: number;
  /** the environment's root, resolved; empty when it does not exist yet */
  root: string;
}

export function parseSwarmPreflight(out: string): SwarmPreflightFacts {
  const kv: Record<string, string> = {};
  const nodes: NodeFact[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith('node=')) {
      const f = line.slice(5).split('|');
      let labels: Record<string, string> = {};
      try {
        const v = JSON.parse(f.slice(6).join('|')) as unknown;
        if (v && typeof v === 'object') labels = v as Record<string, string>;
      } catch {
        // no labels readable: the node matches no label constraint
      }
      const [id = '', state = '', availability = '', addr = '', role = '', hostname = ''] = f;
      nodes.push({
        id,
        state: state.toLowerCase(),
        availability: availability.toLowerCase(),
        addr,
        role,
        hostname,
        labels,
      });
      continue;
    }
    const i = line.indexOf('=');
    if (i > 0) kv[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const [serverVersion = '', clientVersion = ''] = (kv.version ?? '').split(/\s+/);
  const [localState = '', control = '', nodeId = ''] = (kv.swarm ?? '').split(/\s+/);
  const net = (kv.network ?? 'absent').split(/\s+/);
  return {
    serverVersion,
    clientVersion,
    localState,
    manager: control === 'true',
    nodeId,
    nodes,
    network: net[0] && net[0] !== 'absent' ? { driver: net[0], attachable: net[1] === 'true' } : undefined,
    freeMb: kv.free_kb ? Math.floor(Number(kv.free_kb) / 1024) : undefined,
    root: kv.root ?? '',
  };
}

/** does a node satisfy one placement constraint? Attributes we cannot see (engine labels, platform) are assumed to */
export function nodeMatches(node: NodeFact, constraint: string): boolean {
  const m = /^\s*([A-Za-z0-9._-]+)\s*(==|!=)\s*(\S+)\s*$/.exec(constraint);
  if (!m) return true;
  const [, attr = '', op, want = ''] = m;
  let have: string | undefined;
  if (attr === 'node.id') have = node.id;
  else if (attr === 'node.hostname') have = node.hostname;
  else if (attr === 'node.role') have = node.role;
  else if (attr.startsWith('node.labels.')) have = node.labels[attr.slice('node.labels.'.length)] ?? '';
  else return true;
  // swarm compares node attributes case-insensitively, labels as written
  const equal = attr.startsWith('node.labels.') ? have === want : have.toLowerCase() === want.toLowerCase();
  return op === '==' ? equal : !equal;
}

export interface SwarmJudgeOptions {
  /** node label of the edge (value "true"); v1: exactly one node, and it is this manager */
  edgeLabel: string;
  /** node label the managed database is pinned to; undefined when the database is external */
  dbLabel?: string;
  /** extra constraints of the app's tasks */
  placement: string[];
  /** provider.nodes as each one's SSH reported its swarm node ID (empty: in no swarm) */
  listed?: { name: string; id: string }[];
  minFreeMb: number;
}

export interface SwarmVerdict {
  dockerVersion: string;
  selfId: string;
  edgeId: string;
  dbNodeId?: string;
  /** Ready and Active nodes the app's tasks may run on */
  appNodes: NodeFact[];
  nodes: NodeFact[];
  root: string;
  freeMb?: number;
  warnings: string[];
}

const hasLabel = (n: NodeFact, label: string) => n.labels[label] === 'true';
const named = (n: NodeFact) => `${n.id.slice(0, 12)} (${n.hostname || '?'})`;

/** Judges the cluster; every problem listed at once (exit code preflight). Pure, so each rule is unit-tested. */
export function judgeSwarm(f: SwarmPreflightFacts, o: SwarmJudgeOptions): SwarmVerdict {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!f.serverVersion)
    problems.push(
      'docker does not answer for the deploy user on the manager (installed, running, in the docker group?)',
    );
  else if (!versionAtLeast(f.serverVersion, [20, 10]))
    problems.push(`docker ${f.serverVersion} is too old; 20.10 or newer is needed`);
  if (f.serverVersion && f.localState !== 'active')
    problems.push(
      `this engine is not part of an active swarm (state ${f.localState || 'unknown'}): run docker swarm init or join`,
    );
  else if (f.serverVersion && !f.manager)
    problems.push('the SSH host is a swarm worker, not a manager: point the environment’s host at a manager');

  const active = f.localState === 'active' && f.manager;
  const edges = f.nodes.filter((n) => hasLabel(n, o.edgeLabel));
  if (active) {
    if (edges.length === 0)
      problems.push(
        `no node has the edge label ${o.edgeLabel}=true: docker node update --label-add ${o.edgeLabel}=true <manager>`,
      );
    else if (edges.length > 1)
      problems.push(
        `the edge label ${o.edgeLabel}=true is on ${edges.length} nodes (${edges.map(named).join(', ')}); one edge node is supported`,
      );
    else if (edges[0]!.id !== f.nodeId)
      problems.push(
        `the edge node ${named(edges[0]!)} is not the manager the deployer connects to (${f.nodeId.slice(0, 12)}); they must be the same node`,
      );
    if (o.dbLabel !== undefined) {
      const dbs = f.nodes.filter((n) => hasLabel(n, o.dbLabel!));
      if (dbs.length !== 1)
        problems.push(
          `the database label ${o.dbLabel}=true must be on exactly one node (its volume is local to it); it is on ${dbs.length}` +
            (dbs.length ? ` (${dbs.map(named).join(', ')})` : ''),
        );
    }
  }
  const placed = f.nodes.filter((n) => o.placement.every((c) => nodeMatches(n, c)));
  const appNodes = placed.filter((n) => n.state === 'ready' && n.availability === 'active');
  if (active && appNodes.length === 0)
    problems.push(
      `no Ready and Active node matches the app's placement${o.placement.length ? ` (${o.placement.join(', ')})` : ''}`,
    );
  for (const n of placed.filter((x) => x.state !== 'ready'))
    warnings.push(`node ${named(n)} is ${n.state}: the app's tasks will not run there until it is back`);

  const ids = new Set(f.nodes.map((n) => n.id));
  for (const l of o.listed ?? []) {
    if (!l.id) problems.push(`provider.nodes ${l.name} is not in a swarm (docker info shows no node ID)`);
    else if (active && !ids.has(l.id))
      problems.push(`provider.nodes ${l.name} is node ${l.id.slice(0, 12)}, which is not in this swarm`);
  }
  if (f.network && (f.network.driver !== 'overlay' || !f.network.attachable))
    problems.push(
      `the stack's network exists as ${f.network.driver}${f.network.attachable ? '' : ', not attachable'}; ` +
        'it must be an attachable overlay (remove it; the next deploy recreates it)',
    );
  if (f.freeMb !== undefined && f.freeMb < o.minFreeMb)
    problems.push(
      `only ${f.freeMb} MiB free on the deploy path; at least ${o.minFreeMb} MiB is required (deployment.min_free_mb)`,
    );

  if (problems.length) {
    throw new DeployError(
      'preflight',
      `swarm preflight failed:\n  - ${problems.join('\n  - ')}`,
      'prepare the swarm as docs/swarm.md describes (labels, a manager as the edge), then deploy again',
    );
  }
  const db = o.dbLabel !== undefined ? f.nodes.find((n) => hasLabel(n, o.dbLabel!)) : undefined;
  return {
    dockerVersion: f.serverVersion,
    selfId: f.nodeId,
    edgeId: edges[0]!.id,
    dbNodeId: db?.id,
    appNodes,
    nodes: f.nodes,
    root: f.root,
    freeMb: f.freeMb,
    warnings,
  };
}
