import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import {
  checkPort,
  configError,
  COLOUR_HOSTS,
  GATE_PORT,
  GATE_READY_PATH,
  RETRY_UNSENT,
} from '../release/caddyfile.js';
import type { Colour } from '../types.js';
import { checkId, checkImage, checkLabelKey, checkPath, swarmNames } from './commands.js';

/*
 * The long-lived services of a Swarm environment, as one stack file for `docker stack deploy`: the edge Caddy,
 * one gate per colour (a Caddy that owns the colour's alias app-<colour>, answers the edge's health check from
 * the flag file and proxies to the colour's app service), the tools container probes and verification run in,
 * and the managed database. The colour services are not in it: stack deploy never touches them (and is never
 * run with --prune). The text is deterministic, so its hash says whether anything needs redeploying.
 */

/** where the gates' files live under the environment's root: the flag directory and the gate's own Caddyfile */
export const gateFlagDir = (c: Colour): string => `gates/${c}`;
export const gateConfigDir = (c: Colour): string => `gates/caddy-${c}`;
export const GATE_CADDYFILE = 'Caddyfile';

export interface StackFileParams {
  stack: string;
  /** the environment's absolute root on the manager (= the edge node in v1): the bind mounts' sources */
  root: string;
  caddyImage: string;
  /** busybox: sleeps, and runs the probes and the switch's verification */
  toolsImage: string;
  /** node label of the edge node, e.g. togather.edge */
  edgeLabel: string;
  /** the manager's node ID: tools runs there, beside the deployer's SSH session */
  managerId: string;
  /** published in host mode on the edge node */
  ports: { http: number; https?: number };
  /** the managed database, pinned to the node with this label (its volume is local to that node) */
  db?: { image: string; label: string; name: string; user: string };
}

const ALWAYS = { condition: 'any', delay: '1s' };
// Every service resolves to its task's own address (dnsrr), never to a virtual IP: a VIP needs IPVS in the kernel
// of every node that dials it, and a single-task service gains nothing from one. Host-mode ports work with dnsrr.
const DNSRR = 'dnsrr';
const onNodesLabelled = (label: string) => ({ constraints: [`node.labels.${checkLabelKey(label)}==true`] });
const bind = (source: string, target: string) => ({ type: 'bind', source, target, read_only: true });

export function renderStackFile(p: StackFileParams): string {
  const n = swarmNames(p.stack);
  const root = checkPath(p.root.replace(/\/+$/, ''));
  const at = (rel: string) => `${root}/${rel}`;
  const caddyImage = checkImage(p.caddyImage);
  const edge = onNodesLabelled(p.edgeLabel);
  const ports = [
    { target: 80, published: checkPort(p.ports.http, 'HTTP port'), protocol: 'tcp', mode: 'host' },
    ...(p.ports.https === undefined
      ? []
      : [{ target: 443, published: checkPort(p.ports.https, 'HTTPS port'), protocol: 'tcp', mode: 'host' }]),
  ];
  const gate = (c: Colour) => ({
    image: caddyImage,
    command: ['caddy', 'run', '--config', `/etc/gate/${GATE_CADDYFILE}`, '--adapter', 'caddyfile'],
    volumes: [bind(at(gateConfigDir(c)), '/etc/gate'), bind(at(gateFlagDir(c)), '/flag')],
    networks: { togather: { aliases: [COLOUR_HOSTS[c]] } },
    labels: { 'org.togather.role': 'gate', 'org.togather.colour': c },
    deploy: { endpoint_mode: DNSRR, replicas: 1, placement: edge, restart_policy: ALWAYS },
  });
  const services: Record<string, unknown> = {
    caddy: {
      image: caddyImage,
      ports,
      volumes: [
        // the directory, not the file: an atomic rename of the file would leave the mount on the old inode
        bind(at('caddy'), '/etc/caddy'),
        { type: 'volume', source: 'caddy-data', target: '/data' },
        { type: 'volume', source: 'caddy-config', target: '/config' },
      ],
      networks: { togather: { aliases: ['caddy'] } },
      deploy: {
        endpoint_mode: DNSRR,
        replicas: 1,
        placement: edge,
        // two Caddies cannot hold the same host-mode ports: the old one goes first
        update_config: { order: 'stop-first' },
        restart_policy: ALWAYS,
      },
    },
    'gate-blue': gate('blue'),
    'gate-green': gate('green'),
    tools: {
      image: checkImage(p.toolsImage),
      command: ['sleep', '2147483647'],
      init: true,
      networks: ['togather'],
      labels: { 'org.togather.role': 'tools' },
      deploy: {
        endpoint_mode: DNSRR,
        replicas: 1,
        placement: { constraints: [`node.id==${checkId(p.managerId)}`] },
        restart_policy: ALWAYS,
      },
    },
  };
  const volumes: Record<string, object> = { 'caddy-data': {}, 'caddy-config': {} };
  if (p.db) {
    const name = checkDbName(p.db.name);
    const user = checkDbName(p.db.user);
    services.db = {
      image: checkImage(p.db.image),
      // its own env file (only the password), so rotating an app secret never restarts the database
      env_file: [at('db.env')],
      environment: { POSTGRES_DB: name, POSTGRES_USER: user },
      volumes: [
        { type: 'volume', source: 'db-data', target: '/var/lib/postgresql/data' },
        bind(at('db-init'), '/docker-entrypoint-initdb.d'),
      ],
      networks: { togather: { aliases: ['db'] } },
      healthcheck: {
        // over TCP: while the image runs its init scripts, its temporary server listens on the socket only
        test: ['CMD', 'pg_isready', '-h', '127.0.0.1', '-U', user, '-d', name],
        interval: '2s',
        timeout: '3s',
        retries: 30,
      },
      deploy: { endpoint_mode: DNSRR, replicas: 1, placement: onNodesLabelled(p.db.label), restart_policy: ALWAYS },
    };
    volumes['db-data'] = {};
  }
  const doc = {
    version: '3.8',
    services,
    networks: { togather: { driver: 'overlay', attachable: true } },
    volumes,
  };
  return (
    `# Written by togather-deploy for the stack ${n.stack}; deployed with docker stack deploy, never by hand.\n` +
    stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false })
  );
}

function checkDbName(s: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(s)) throw configError(`database name ${JSON.stringify(s)} is not plain`);
  return s;
}

/** what decides whether `stack deploy` runs again: the rendered text's sha256 */
export function stackFileHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface GateCaddyfileParams {
  stack: string;
  colour: Colour;
  /** the app's port: the gate listens on it (the edge dials app-<colour>:<port>) and proxies to the same */
  appPort: number;
}

/**
 * One colour's gate: :8081 answers /ready with 200 while the flag file exists (the edge's active health check),
 * and the app port proxies to the colour's dnsrr service, whose name Docker resolves per dial to every task's
 * address on any node. Requests that never reached a task are retried for a while, like at the edge.
 */
export function renderGateCaddyfile(p: GateCaddyfileParams): string {
  const port = checkPort(p.appPort, 'app port');
  if (port === GATE_PORT)
    throw configError(`the app port cannot be ${GATE_PORT}: the gate answers health checks there`);
  const service = swarmNames(p.stack).app(p.colour);
  return [
    `# Written by togather-deploy: the ${p.colour} gate. It never reloads: a changed file takes effect when the gate's task restarts.`,
    '{',
    '\tadmin off',
    '\tauto_https off',
    '}',
    `:${GATE_PORT} {`,
    '\t@ready file {',
    // explicit: the default root is the working directory (/srv in the caddy image)
    '\t\troot /flag',
    `\t\ttry_files ${GATE_READY_PATH}`,
    '\t}',
    '\trespond @ready 200',
    '\trespond 404',
    '}',
    `:${port} {`,
    // the tasks' addresses, looked up again every second: a fixed name would pool its connections on the first
    // address of one DNS answer and send (nearly) everything to one task (measured: 40 of 40)
    '\treverse_proxy {',
    '\t\tdynamic a {',
    `\t\t\tname tasks.${service}`,
    `\t\t\tport ${port}`,
    '\t\t\trefresh 1s',
    '\t\t}',
    '\t\tlb_policy round_robin',
    '\t\tlb_try_duration 5s',
    '\t\tlb_try_interval 50ms',
    ...RETRY_UNSENT,
    '\t\ttransport http {',
    '\t\t\tdial_timeout 1s',
    '\t\t}',
    '\t}',
    '}',
    '',
  ].join('\n');
}
