/**
 * Removes what a test environment left on the shared harness host: its containers, networks and volumes and
 * its directory in the deploy user's home. The fault suites start several stacks; leaving them running would
 * slow every later suite on a small machine (and a daemon restart restarts them all). Kept with
 * TOGATHER_KEEP_STACKS=1, for looking at a failure.
 */
import { hostDocker, hostSsh, type HarnessInfo } from '../harness/host.js';

export async function removeStack(info: HarnessInfo, name: string): Promise<void> {
  if (process.env.TOGATHER_KEEP_STACKS === '1') return;
  if (!/^[a-z0-9]+$/.test(name)) throw new Error(`removeStack: unexpected environment name ${name}`);
  const prefix = `tg-${name}`;
  const list = async (args: string[]) => (await hostDocker(info, args, { check: false })).stdout.split('\n').filter(Boolean);
  const ids = await list(['ps', '-aq', '--filter', `name=^/${prefix}-`]);
  if (ids.length) await hostDocker(info, ['rm', '-f', '-v', ...ids], { check: false });
  const nets = await list(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${prefix}`]);
  if (nets.length) await hostDocker(info, ['network', 'rm', ...nets], { check: false });
  const vols = await list(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${prefix}`]);
  if (vols.length) await hostDocker(info, ['volume', 'rm', '-f', ...vols], { check: false });
  await hostSsh(info, `rm -rf stacks/${name}`, { check: false });
}
