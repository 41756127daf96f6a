/**
 * "Nothing was touched" made checkable: a snapshot of what a refused operation could have changed on the host —
 * the deploy user's file tree (names, modes, owners and content hashes; other environments' stacks left out, as
 * tests run beside each other), the environment's containers (id, state, start time, restarts), networks and
 * volumes, and its state.json — plus local canary files an injected command would create.
 */
import { existsSync } from 'node:fs';
import { hostDocker, hostSsh, type HarnessInfo } from '../harness/host.js';

export interface HostSnapshot {
  tree: string;
  hashes: string;
  containers: string;
  networks: string;
  volumes: string;
  state: string;
}

// $1 = the environment's name: stacks/<name>* is kept (paths a bad config aims next to it included), every
// other stack is pruned
const TREE = `cd && find . \\( -path './stacks/*' ! -path "./stacks/$1*" -prune \\) -o -printf '%p %M %u:%g\\n' | LC_ALL=C sort`;
const HASHES = `cd && find . \\( -path './stacks/*' ! -path "./stacks/$1*" -prune \\) -o -type f -exec sha256sum {} + | LC_ALL=C sort -k2`;

export async function hostSnapshot(info: HarnessInfo, name: string): Promise<HostSnapshot> {
  if (!/^[a-z0-9]+$/.test(name)) throw new Error(`hostSnapshot: unexpected environment name ${name}`);
  const sh = (script: string) => hostSsh(info, `sh -c '${script.replace(/'/g, `'\\''`)}' sh ${name}`);
  const prefix = `tg-${name}`;
  const ids = (await hostDocker(info, ['ps', '-aq', '--filter', `name=${prefix}`])).stdout.split('\n').filter(Boolean);
  const containers = ids.length
    ? (
        await hostDocker(info, [
          'inspect',
          '--format',
          '{{.Name}} {{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}} {{.Config.Image}}',
          ...ids,
        ])
      ).stdout
    : '';
  const [tree, hashes, networks, volumes, state] = await Promise.all([
    sh(TREE),
    sh(HASHES),
    hostDocker(info, ['network', 'ls', '--format', '{{.ID}} {{.Name}}', '--filter', `name=${prefix}`]),
    hostDocker(info, ['volume', 'ls', '--format', '{{.Name}}', '--filter', `name=${prefix}`]),
    hostSsh(info, `cat stacks/${name}/state.json`, { check: false }),
  ]);
  const sorted = (s: string) => s.split('\n').filter(Boolean).sort().join('\n');
  return {
    tree: tree.stdout,
    hashes: hashes.stdout,
    containers: sorted(containers),
    networks: sorted(networks.stdout),
    volumes: sorted(volumes.stdout),
    state: state.stdout,
  };
}

/** a readable difference between two snapshots, or '' when none */
export function snapshotDiff(a: HostSnapshot, b: HostSnapshot): string {
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof HostSnapshot)[]) {
    if (a[k] === b[k]) continue;
    const before = new Set(a[k].split('\n'));
    const after = new Set(b[k].split('\n'));
    const gone = [...before].filter((l) => !after.has(l)).slice(0, 5);
    const added = [...after].filter((l) => !before.has(l)).slice(0, 5);
    out.push(`${k}: -[${gone.join(' | ')}] +[${added.join(' | ')}]`);
  }
  return out.join('\n');
}

/** where an injected `touch` lands on this machine (runner and host are both this machine; the deploy user's
 * home is in the snapshot's tree already) */
export function canaryPath(name: string): string {
  return `/tmp/tgd-canary-${name}`;
}

export function canaryFired(name: string): boolean {
  return existsSync(canaryPath(name));
}
