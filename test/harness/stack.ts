/**
 * Which Docker stack the harness runs: one setting, TOGATHER_HARNESS_STACK.
 *  - modern (default): what operators run — Docker Engine 26, containerd 1.7, the compose v2 and buildx plugins,
 *    from Debian 13's packages in a private prefix (stack/install-modern.sh; nothing in the system changes);
 *  - legacy: Debian 12's Docker Engine 20.10 with docker-compose v1, still supported by the engine.
 * Each stack gets its own harness directory and deploy user; one runs at a time (their host engines share docker0).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type StackName = 'modern' | 'legacy';

export interface Stack {
  name: StackName;
  /** directory put first on PATH for the engines, the runner's docker CLI and the deploy user's commands */
  binDir?: string;
  /** CLI plugins (compose v2, buildx) the docker CLI finds through DOCKER_CONFIG/cli-plugins */
  pluginsDir?: string;
  /** commands the stack needs, with the package (or script) that brings each */
  required: [cmd: string, from: string][];
  /** the deploy user of this stack's harness */
  defaultUser: string;
  /** the harness directory's name under the repository */
  defaultDirName: string;
}

export const MODERN_PREFIX = process.env.TOGATHER_MODERN_PREFIX ?? '/opt/togather-harness/modern';
const INSTALL = 'test/harness/stack/install-modern.sh (run by .ci/install.sh)';

export function stackName(raw = process.env.TOGATHER_HARNESS_STACK): StackName {
  const v = (raw ?? '').trim() || 'modern';
  if (v !== 'modern' && v !== 'legacy')
    throw new Error(`TOGATHER_HARNESS_STACK=${JSON.stringify(raw)}: write modern or legacy`);
  return v;
}

export function stackFor(name: StackName): Stack {
  if (name === 'legacy') {
    return {
      name,
      required: [
        ['dockerd', 'docker.io'],
        ['containerd', 'containerd'],
        ['runc', 'runc'],
        ['docker-init', 'docker.io'],
        ['docker-proxy', 'docker.io'],
        ['docker-compose', 'docker-compose'],
      ],
      defaultUser: 'tgdeploy-legacy',
      defaultDirName: '.harness-legacy',
    };
  }
  const binDir = join(MODERN_PREFIX, 'bin');
  return {
    name,
    binDir,
    pluginsDir: join(MODERN_PREFIX, 'cli-plugins'),
    required: ['dockerd', 'docker', 'containerd', 'containerd-shim-runc-v2', 'runc', 'docker-init', 'docker-proxy']
      .map((c): [string, string] => [join(binDir, c), INSTALL])
      .concat([
        [join(MODERN_PREFIX, 'cli-plugins', 'docker-compose'), INSTALL],
        [join(MODERN_PREFIX, 'cli-plugins', 'docker-buildx'), INSTALL],
      ]),
    defaultUser: 'tgdeploy',
    defaultDirName: '.harness',
  };
}

/** PATH for everything that talks to a stack's engines */
export function stackPath(stack: Stack, base = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'): string {
  return stack.binDir ? `${stack.binDir}:${base}` : base;
}

export function stackMissing(stack: Stack, onPath: (cmd: string) => boolean): string[] {
  return stack.required
    .filter(([c]) => (c.startsWith('/') ? !existsSync(c) : !onPath(c)))
    .map(([c, from]) => `${c} (${from})`);
}
