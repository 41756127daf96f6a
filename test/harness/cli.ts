/**
 * npx tsx test/harness/cli.ts up [--dir DIR] [--json]   bring the loopback target host up (or reuse it)
 * npx tsx test/harness/cli.ts down [--dir DIR]          stop it and remove what it ran
 * npx tsx test/harness/cli.ts reset [--dir DIR]         keep it running, forget every deploy (containers, volumes, app images, deploy home)
 * npx tsx test/harness/cli.ts swarm up --nodes 1|3 [--dir DIR] [--json]   the multi-node Swarm fabric (swarm.ts)
 * npx tsx test/harness/cli.ts swarm down [--dir DIR]                      end it, remove its namespaces and dirs
 */
import { downHost, readInfo, resetHost, upHost, type HarnessInfo } from './host.js';
import { swarmDown, swarmUp, type SwarmInfo } from './swarm.js';

function usage(): never {
  process.stderr.write(
    'usage: cli.ts up|down|reset [--dir DIR] [--json]\n       cli.ts swarm up --nodes 1|3 | swarm down\n',
  );
  process.exit(2);
}

function describeSwarm(info: SwarmInfo): string {
  return [
    `swarm: ${info.nodeCount} node(s), ${info.dir}`,
    ...info.nodes.map(
      (n) => `  ${n.name} ${n.addr} ${n.role} ${n.nodeId} [${n.labels.join(' ')}]  DOCKER_HOST=${n.dockerHost}`,
    ),
    '',
    'the manager over ssh, from the deployer namespace:',
    `  ${info.ctlExec.join(' ')} ssh -F /dev/null -o StrictHostKeyChecking=yes`,
    `    -o UserKnownHostsFile=${info.ssh.knownHostsPath} -i ${info.ssh.privateKeyPath}`,
    `    ${info.ssh.user}@${info.manager.addr} docker node ls`,
    `edge: ${info.edgeUrl} (from ${info.ctlExec.join(' ')})`,
    `details: ${info.dir}/info.json`,
  ].join('\n');
}

async function swarmMain(rest: string[], log: (line: string) => void): Promise<void> {
  const [sub, ...flags] = rest;
  let dir: string | undefined;
  let nodes = 3;
  let json = false;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === '--nodes') nodes = Number(flags[++i] ?? usage());
    else if (flags[i] === '--dir') dir = flags[++i] ?? usage();
    else if (flags[i] === '--json') json = true;
    else usage();
  }
  if (dir) process.env.TOGATHER_HARNESS_DIR = dir;
  if (sub === 'up') {
    if (nodes !== 1 && nodes !== 3) usage();
    const info = await swarmUp({ nodes, log });
    process.stdout.write(json ? `${JSON.stringify(info, null, 2)}\n` : `${describeSwarm(info)}\n`);
  } else if (sub === 'down') {
    await swarmDown({ dir, log });
  } else usage();
}

function describe(info: HarnessInfo): string {
  const s = info.ssh;
  const ssh = [
    'ssh -F /dev/null -o StrictHostKeyChecking=yes',
    `-o UserKnownHostsFile=${s.knownHostsPath}`,
    `-i ${s.privateKeyPath} -p ${s.port} ${s.user}@${s.host}`,
  ].join(' ');
  return [
    `harness: ${info.dir}`,
    '',
    `target host over ssh (its docker commands reach the host engine):`,
    `  ${ssh} docker ps`,
    `  known_hosts line: ${s.knownHostsLine}`,
    '',
    'engines (docker client: ' + info.dockerClient + '):',
    `  export DOCKER_HOST=${info.hostDockerHost}    # the target host`,
    `  export DOCKER_HOST=${info.runnerDockerHost}  # the CI runner (build, save)`,
    '',
    `images: ${Object.values(info.images).join(', ')}`,
    `deploy user home: ${info.deployHome}`,
    `details: ${info.dir}/info.json`,
  ].join('\n');
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'swarm') return swarmMain(rest, (line) => process.stderr.write(`${line}\n`));
  let dir: string | undefined;
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--dir') dir = rest[++i] ?? usage();
    else if (rest[i] === '--json') json = true;
    else usage();
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  switch (cmd) {
    case 'up': {
      const info = await upHost({ dir, log });
      process.stdout.write(json ? `${JSON.stringify(info, null, 2)}\n` : `${describe(info)}\n`);
      break;
    }
    case 'down':
      await downHost(dir, { log });
      break;
    case 'reset': {
      const info = readInfo(dir) ?? (await upHost({ dir, log }));
      await resetHost(info);
      log('host reset: no containers, volumes, networks or app images; deploy home emptied');
      break;
    }
    default:
      usage();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`harness: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
