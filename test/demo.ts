/**
 * npm run demo: bring up the loopback target host, deploy the sample app v1 then v2 through the CLI, and print
 * the URL it is served on. Leaves the host running so you can try the CLI by hand; `npm run host:down` ends it.
 */
import { mkdirSync, writeFileSync, chmodSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { upHost } from './harness/host.js';
import { freePort } from './harness/proc.js';
import { makeSampleRepo } from './harness/sample-repo.js';
import { runCli } from './harness/run-cli.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s: string) => process.stdout.write(s + '\n');

say('bringing up the loopback target host (Docker engine, sshd, Caddy, PostgreSQL)…');
const info = await upHost({ log: (l) => say(`  ${l}`) });
const dir = join(info.dir, 'demo');
mkdirSync(dir, { recursive: true });
// the sample repository is made anew each run (its commits have fixed dates, so the same SHAs every time)
const repoDir = join(dir, 'repo');
rmSync(repoDir, { recursive: true, force: true });
const shas = await makeSampleRepo(repoDir);
// a second run keeps the first one's port, the URL it printed (its own Caddy may hold it: no free-port check;
// DEMO_PORT chooses another)
const configFile = join(dir, 'deployment.yml');
const previous = existsSync(configFile)
  ? (parse(readFileSync(configFile, 'utf8')) as { proxy?: { http_port?: number; https_port?: number } }).proxy
  : undefined;
const port = Number(process.env.DEMO_PORT ?? previous?.http_port ?? (await freePort()));
const httpsPort = previous?.https_port ?? (await freePort());
const config = {
  app: {
    name: 'togather',
    image: 'togather-demo/app',
    build: { context: '.', dockerfile: 'Dockerfile' },
    health: { interval: '200ms', required_checks: ['database'] },
  },
  deployment: { drain_timeout: '5s', min_free_mb: 64 },
  proxy: { bind: '127.0.0.1', http_port: port, https_port: httpsPort },
  images: {
    caddy: info.images.caddy,
    postgres: info.images.postgres,
    gate: info.images.gate,
    keeper: info.images.keeper,
    postgres_dockerfile: join(ROOT, 'test/fixtures/db-image/Dockerfile'),
  },
  environments: {
    demo: {
      host: info.ssh.host,
      port: info.ssh.port,
      user: info.ssh.user,
      path: 'stacks/demo',
      env_file: 'demo.env',
      url: `http://127.0.0.1:${port}`,
    },
  },
};
writeFileSync(configFile, stringify(config));
const envFile = join(dir, 'demo.env');
writeFileSync(
  envFile,
  'ENVIRONMENT=demo\nDATABASE_URL=postgres://togather:demo-db-password@db:5432/togather\nPOSTGRES_PASSWORD=demo-db-password\nJWT_SECRET=demo-jwt-secret-0123456789abcdef\n',
  { mode: 0o600 },
);
chmodSync(envFile, 0o600);

const base = [
  '--config',
  join(dir, 'deployment.yml'),
  '--identity',
  info.ssh.privateKeyPath,
  '--known-hosts',
  info.ssh.knownHostsPath,
  '--repo',
  repoDir,
];
for (const v of ['v1', 'v2'] as const) {
  say(`\n$ togather-deploy deploy demo --version ${v} --skip-ci-check   (${shas[v].slice(0, 12)})`);
  const r = await runCli(['deploy', 'demo', '--version', v, '--skip-ci-check', '--force', ...base], {
    ...info.runnerEnv,
  });
  process.stdout.write(r.stderr + r.stdout);
  if (r.code !== 0) process.exit(r.code);
  const res = await fetch(`http://127.0.0.1:${port}/version`);
  say(
    `served at http://127.0.0.1:${port}/version → ${await res.text()} (from ${res.headers.get('x-togather-upstream')})`,
  );
}
say(`\nThe sample app is served at http://127.0.0.1:${port}/ — try:`);
say(`  curl -s http://127.0.0.1:${port}/health`);
say(`  DOCKER_HOST=${info.runnerDockerHost} npx tsx src/cli/index.ts status demo ${base.join(' ')}`);
say('Take the host down with: npm run host:down');
