/**
 * `togather-deploy init`: what it writes into a fresh repository, that a rerun changes nothing, what --force may
 * and may not overwrite, and that a refused answer or host key leaves the repository untouched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readAsset } from '../../../src/engine/assets.js';
import { fingerprintOf, parseKnownHosts } from '../../../src/init/host-keys.js';
import { emptyRepo, FULL, HOST_KEY, makeHostKey, PROD_KEY, runInit, snapshotTree } from './support.js';

const WRITTEN = [
  '.github/workflows/togather-deploy.yml',
  '.github/workflows/togather-rollback.yml',
  '.github/workflows/togather-snapshot.yml',
  '.gitignore',
  'config/deployment.yml',
  'config/environments/.env.production',
  'config/environments/.env.staging',
  'config/known_hosts',
  'docker/Dockerfile',
];

test('a fresh init writes the config, env files, known_hosts, Dockerfile, .gitignore and three workflows', async () => {
  const dir = emptyRepo();
  const r = await runInit(dir, FULL);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(Object.keys(snapshotTree(dir)).sort(), WRITTEN);
  for (const f of WRITTEN) assert.ok(r.out.includes(`wrote ${f}`), `wrote ${f}`);

  for (const env of ['staging', 'production']) {
    const file = join(dir, `config/environments/.env.${env}`);
    assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is private`);
    const text = readFileSync(file, 'utf8');
    assert.match(text, new RegExp(`^ENVIRONMENT=${env}$`, 'm'));
    assert.match(text, /^DATABASE_URL=postgres:\/\/togather:CHANGE_ME@db:5432\/togather\?sslmode=disable$/m);
  }
  const known = readFileSync(join(dir, 'config/known_hosts'), 'utf8');
  const lines = known.split('\n');
  assert.ok(lines.includes(`staging.example.org ${HOST_KEY.pub}`), known);
  assert.ok(lines.includes(`203.0.113.10 ${PROD_KEY.pub}`), known);
  assert.equal(readFileSync(join(dir, 'docker/Dockerfile'), 'utf8'), readAsset('docker', 'Dockerfile'));
  const config = readFileSync(join(dir, 'config/deployment.yml'), 'utf8');
  assert.match(config, /dockerfile: docker\/Dockerfile/);
  assert.match(config, /^ {2}watch: 0s$/m);
  assert.doesNotMatch(config, /^notifications:/m, 'no active notifications block');
  assert.match(config, /url: https:\/\/events\.example\.org/);
  assert.match(config, /url: http:\/\/staging\.example\.org/);

  const text = r.out.join('\n');
  assert.match(text, /Commit it: only commits that contain it can be built/);
  assert.match(text, /togather-deploy validate staging -i /);
  assert.match(text, /togather-deploy setup production -i /);
  assert.match(text, /togather-deploy deploy staging -i \S+ --skip-ci-check/);
  assert.match(text, /gh api -X PUT repos\/OWNER\/REPO\/environments\/production-snapshots/);
  assert.match(text, /gh secret set ENV_FILE --env production-snapshots < config\/environments\/\.env\.production/);
  assert.match(text, /gh secret set SSH_KNOWN_HOSTS --env staging < config\/known_hosts/);
});

test('a second run with the same answers changes nothing, scans no host and asks nothing', async () => {
  const dir = emptyRepo();
  assert.equal((await runInit(dir, FULL)).code, 0);
  const before = snapshotTree(dir);
  const again = await runInit(dir, { ...FULL, nonInteractive: false }, { answers: {} });
  assert.equal(again.code, 0, again.err.join('\n'));
  assert.deepEqual(snapshotTree(dir), before);
  assert.deepEqual(again.scans, []);
  for (const f of WRITTEN) assert.ok(again.out.includes(`unchanged ${f}`), `unchanged ${f}: ${again.out.join('\n')}`);
  assert.deepEqual(
    again.questions.filter((q) => /key/.test(q)),
    [],
    'no host key question',
  );
});

test('a file that differs is skipped, and overwritten with --force; filled-in env files never are', async () => {
  const dir = emptyRepo();
  assert.equal((await runInit(dir, FULL)).code, 0);
  const config = join(dir, 'config/deployment.yml');
  writeFileSync(config, readFileSync(config, 'utf8') + '# mine\n');
  const stagingEnv = join(dir, 'config/environments/.env.staging');
  const filled = readFileSync(stagingEnv, 'utf8').replace(/CHANGE_ME/g, 's3cret-0123456789');
  writeFileSync(stagingEnv, filled);
  const productionEnv = join(dir, 'config/environments/.env.production');
  writeFileSync(productionEnv, readFileSync(productionEnv, 'utf8') + '# only a comment added\n');

  const kept = await runInit(dir, FULL);
  assert.equal(kept.code, 0);
  assert.ok(kept.out.includes('skipped config/deployment.yml (exists; --force to overwrite)'), kept.out.join('\n'));
  assert.match(readFileSync(config, 'utf8'), /# mine/);

  const forced = await runInit(dir, { ...FULL, force: true });
  assert.equal(forced.code, 0);
  assert.ok(forced.out.includes('overwrote config/deployment.yml'));
  assert.doesNotMatch(readFileSync(config, 'utf8'), /# mine/);
  assert.ok(forced.out.some((l) => /^kept config\/environments\/\.env\.staging .*not even with --force/.test(l)));
  assert.equal(readFileSync(stagingEnv, 'utf8'), filled, 'the secrets stay');
  assert.ok(forced.out.includes('overwrote config/environments/.env.production'), 'placeholders only: replaced');
  assert.equal(statSync(productionEnv).mode & 0o777, 0o600);
  assert.ok(!forced.out.join('\n').includes('s3cret'), 'no secret is printed');
});

test('.gitignore and known_hosts are only appended to, once', async () => {
  const dir = emptyRepo();
  writeFileSync(join(dir, '.gitignore'), 'node_modules/\n/build');
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config/known_hosts'), 'other.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\n');
  const r = await runInit(dir, FULL);
  assert.equal(r.code, 0);
  assert.ok(r.out.includes('updated .gitignore (added 3 lines)'), r.out.join('\n'));
  const ignore = readFileSync(join(dir, '.gitignore'), 'utf8');
  assert.ok(ignore.startsWith('node_modules/\n/build\n'));
  assert.equal(ignore.match(/^config\/environments\/\.env\.\*$/gm)?.length, 1);
  assert.match(ignore, /^!config\/environments\/\.env\.\*\.example$/m);
  assert.match(readFileSync(join(dir, 'config/known_hosts'), 'utf8'), /^other\.example\.org /);

  const again = await runInit(dir, FULL);
  assert.ok(again.out.includes('unchanged .gitignore'));
  assert.ok(again.out.includes('unchanged config/known_hosts'));
  assert.equal(readFileSync(join(dir, '.gitignore'), 'utf8'), ignore);
});

test('.gitignore keeps the env files out of git and lets the templates in', async () => {
  const dir = emptyRepo();
  execFileSync('git', ['init', '-q', dir]);
  assert.equal((await runInit(dir, FULL)).code, 0);
  const ignored = (p: string) => {
    try {
      execFileSync('git', ['-C', dir, 'check-ignore', '-q', p]);
      return true;
    } catch {
      return false;
    }
  };
  assert.equal(ignored('config/environments/.env.staging'), true);
  assert.equal(ignored('config/environments/.env.staging.example'), false);
  assert.equal(ignored('config/deployment.yml'), false);
});

test('bad answers are refused with exit 2, naming the flag, and nothing is written', async () => {
  const cases: [string, Partial<typeof FULL>, RegExp][] = [
    ['option as host', { host: ['-oProxyCommand'] }, /--host "-oProxyCommand".* is not a host name/],
    ['option for one', { host: ['staging=-oProxyCommand=x', 'production=b.example.org'] }, /is not a host name/],
    ['shell in host', { host: ['staging=a.example.org;reboot', 'production=b.example.org'] }, /--host/],
    ['user@host', { host: ['deploy@a.example.org'] }, /no user@/],
    ['unknown environment', { host: ['prod=a.example.org'] }, /there is no environment "prod"/],
    ['no host', { host: ['staging=a.example.org'] }, /no host for production/],
    ['environment name', { environments: 'Staging', host: ['a.example.org'] }, /--environments: "Staging"/],
    ['twice', { environments: 'staging,staging', host: ['a.example.org'] }, /named twice/],
    ['ssh port', { host: ['a.example.org'], sshPort: '70000' }, /--ssh-port "70000" is not a port/],
    ['http port', { host: ['a.example.org'], httpPort: ['eighty'] }, /--http-port/],
    ['url as domain', { host: ['a.example.org'], domain: ['staging=https://x.example.org'] }, /not a DNS name/],
    ['domain without env', { host: ['a.example.org'], domain: ['x.example.org'] }, /names no environment/],
    ['image', { host: ['a.example.org'], image: 'GHCR.io/Acme/App:latest' }, /--image/],
    ['user', { host: ['a.example.org'], user: 'root;id' }, /--user/],
    ['fingerprint', { host: ['a.example.org'], fingerprint: ['MD5:aa:bb'] }, /--fingerprint "MD5:aa:bb"/],
  ];
  for (const [name, flags, message] of cases) {
    const dir = emptyRepo();
    const r = await runInit(dir, { ...FULL, ...flags });
    assert.equal(r.code, 2, name);
    assert.match(r.err.join('\n'), message, name);
    assert.match(r.err.join('\n'), /fix: /, name);
    assert.match(r.err.join('\n'), /Nothing was written/, name);
    assert.deepEqual(snapshotTree(dir), {}, name);
  }
});

test('without --fingerprint a non-interactive init refuses, printing the scanned fingerprints and how to check them', async () => {
  const dir = emptyRepo();
  const r = await runInit(dir, { ...FULL, fingerprint: [] });
  assert.equal(r.code, 2);
  const err = r.err.join('\n');
  assert.ok(err.includes(`ED25519 ${HOST_KEY.fingerprint}`), err);
  assert.match(err, /ssh-keygen -lf \/etc\/ssh\/ssh_host_ed25519_key\.pub/);
  assert.match(err, /--fingerprint SHA256:/);
  assert.deepEqual(snapshotTree(dir), {});
});

test('a --fingerprint that matches no scanned key is refused; a matching one pins only that key', async () => {
  const other = makeHostKey();
  const wrong = await runInit(emptyRepo(), { ...FULL, fingerprint: [other.fingerprint] });
  assert.equal(wrong.code, 2);
  assert.match(wrong.err.join('\n'), /not confirmed|matches none/);

  const ecdsa = makeHostKey('ecdsa');
  const dir = emptyRepo();
  const keys = (host: string) => (host === '203.0.113.10' ? [PROD_KEY] : [ecdsa, HOST_KEY]);
  const r = await runInit(dir, { ...FULL, fingerprint: [HOST_KEY.fingerprint, PROD_KEY.fingerprint] }, { keys });
  assert.equal(r.code, 0, r.err.join('\n'));
  const known = readFileSync(join(dir, 'config/known_hosts'), 'utf8');
  assert.ok(known.includes(HOST_KEY.pub));
  assert.ok(!known.includes(ecdsa.pub), 'the key nobody vouched for is not written');

  const extra = await runInit(emptyRepo(), { ...FULL, fingerprint: [...FULL.fingerprint!, other.fingerprint] });
  assert.equal(extra.code, 2);
  assert.match(
    extra.err.join('\n'),
    new RegExp(`--fingerprint ${other.fingerprint.replace(/[+/]/g, '\\$&')} matches none`),
  );
});

test('interactively, the operator confirms the ed25519 fingerprint; "no" writes nothing', async () => {
  const ecdsa = makeHostKey('ecdsa');
  const flags = {
    host: ['a.example.org'],
    image: 'ghcr.io/acme/events',
    domain: ['production=events.example.org'],
    httpPort: ['staging=8080'],
    httpsPort: ['staging=8443'],
  };
  const no = emptyRepo();
  const refused = await runInit(no, flags, { keys: () => [ecdsa, HOST_KEY], answers: { 'Is this the key': 'no' } });
  assert.equal(refused.code, 2);
  assert.deepEqual(snapshotTree(no), {});
  assert.ok(refused.out.includes(`  ED25519 ${HOST_KEY.fingerprint}`));
  assert.ok(
    !refused.out.some((l) => l.includes(ecdsa.fingerprint)),
    'only the key one can check on the host is offered',
  );

  const yes = emptyRepo();
  const r = await runInit(yes, flags, { keys: () => [ecdsa, HOST_KEY], answers: { 'Is this the key': 'yes' } });
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.equal(r.scans.length, 1, 'one host, scanned once for both environments');
  assert.deepEqual(
    r.questions.filter((q) => q.startsWith('Is this')),
    ['Is this the key of a.example.org? (yes/no) [no]'],
  );
  assert.deepEqual(
    parseKnownHosts(readFileSync(join(yes, 'config/known_hosts'), 'utf8')).map((k) => k.fingerprint),
    [HOST_KEY.fingerprint],
  );
});

test('two environments on one server with a port in common are refused, also under two names with one host key', async () => {
  const flags = { ...FULL, host: ['staging=a.example.org', 'production=b.example.org'] };
  const two = emptyRepo();
  const refused = await runInit(two, { ...flags, fingerprint: [HOST_KEY.fingerprint] });
  assert.equal(refused.code, 2);
  const said = refused.err.join('\n');
  assert.match(
    said,
    /staging and production would both publish port 80 and 443 on a\.example\.org and b\.example\.org/,
  );
  assert.match(said, /both present the host key SHA256:/);
  assert.match(said, /--http-port staging=8080 --https-port staging=8443/);
  assert.deepEqual(snapshotTree(two), {});

  const same = await runInit(emptyRepo(), { ...FULL, host: ['a.example.org'], fingerprint: [HOST_KEY.fingerprint] });
  assert.equal(same.code, 2);
  assert.match(same.err.join('\n'), /would both publish port 80 and 443 on a\.example\.org:/);

  // staging on other ports, without a domain: accepted, and its proxy ports are in the config
  const ok = emptyRepo();
  const r = await runInit(ok, {
    ...flags,
    fingerprint: [HOST_KEY.fingerprint],
    httpPort: ['staging=8080'],
    httpsPort: ['staging=8443'],
  });
  assert.equal(r.code, 0, r.err.join('\n'));
  const config = readFileSync(join(ok, 'config/deployment.yml'), 'utf8');
  assert.match(config, /staging:[\s\S]*http_port: 8080\n {6}https_port: 8443[\s\S]*production:/);
  assert.match(config, /url: "?http:\/\/a\.example\.org:8080"?/);

  // one port in common is enough to refuse
  const half = await runInit(emptyRepo(), {
    ...flags,
    fingerprint: [HOST_KEY.fingerprint],
    httpPort: ['staging=8080'],
  });
  assert.equal(half.code, 2);
  assert.match(half.err.join('\n'), /would both publish port 443 on/);

  // a domain on ports other than 80/443 cannot get a certificate: a warning
  const warned = await runInit(emptyRepo(), {
    ...flags,
    fingerprint: [HOST_KEY.fingerprint],
    domain: ['staging=staging.example.org', 'production=events.example.org'],
    httpPort: ['staging=8080'],
    httpsPort: ['staging=8443'],
  });
  assert.equal(warned.code, 0, warned.err.join('\n'));
  assert.match(warned.err.join('\n'), /staging has a domain but serves on ports 8080\/8443/);
});

test('an unreachable host is refused with exit 2 and nothing is written', async () => {
  const dir = emptyRepo();
  const r = await runInit(dir, FULL, { scanFails: 'ssh-keyscan -p 22 staging.example.org got no key (exit 1)' });
  assert.equal(r.code, 2);
  assert.match(r.err.join('\n'), /could not read the host key of staging\.example\.org: ssh-keyscan .* got no key/);
  assert.match(r.err.join('\n'), /fix: check that the host is up/);
  assert.deepEqual(snapshotTree(dir), {});
});

test('another SSH port pins the key under [host]:port, as ssh looks it up', async () => {
  const dir = emptyRepo();
  const r = await runInit(dir, { ...FULL, sshPort: '2222' });
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(r.scans, ['staging.example.org:2222', '203.0.113.10:2222']);
  const known = readFileSync(join(dir, 'config/known_hosts'), 'utf8');
  assert.match(known, /^\[staging\.example\.org\]:2222 ssh-ed25519 /m);
  assert.match(readFileSync(join(dir, 'config/deployment.yml'), 'utf8'), /^ {4}port: 2222$/m);
});

test('fingerprints are computed as ssh-keygen computes them', () => {
  for (const key of [HOST_KEY, makeHostKey('ecdsa')])
    assert.equal(fingerprintOf(key.pub.split(' ')[1]!), key.fingerprint);
});

test('interactive mode asks what the flags leave open, showing the defaults', async () => {
  const dir = emptyRepo();
  const r = await runInit(
    dir,
    { fingerprint: [HOST_KEY.fingerprint, PROD_KEY.fingerprint] },
    {
      keys: (host) => [host === 'events.example.org' ? PROD_KEY : HOST_KEY],
      answers: {
        Environments: 'staging,production',
        'SSH host of staging': 'staging.example.org',
        'SSH host of production': 'events.example.org',
        'Public domain of production': 'events.example.org',
        'SSH user': 'ops',
        'Image repository': 'ghcr.io/acme/events',
      },
    },
  );
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(r.questions, [
    'Environments (comma-separated) [staging,production]',
    'SSH host of staging (host name or IP address)',
    "Public domain of staging (empty: plain HTTP on the host's address)",
    'SSH host of production (host name or IP address) [staging.example.org]',
    "Public domain of production (empty: plain HTTP on the host's address)",
    'SSH user on the host(s) [deploy]',
    'Image repository (without tag) [ghcr.io/owner/server]',
  ]);
  const config = readFileSync(join(dir, 'config/deployment.yml'), 'utf8');
  assert.match(config, /user: ops/);
  assert.match(config, /domains: \[events\.example\.org\]/);

  const flagged = await runInit(emptyRepo(), { ...FULL, nonInteractive: false }, { answers: {} });
  assert.equal(flagged.code, 0, flagged.err.join('\n'));
  assert.deepEqual(flagged.questions, [
    'Environments (comma-separated) [staging,production]',
    'SSH user on the host(s) [deploy]',
  ]);
});

test('the image defaults to ghcr.io/<owner>/<repo> of the GitHub origin', async () => {
  const dir = emptyRepo();
  execFileSync('git', ['init', '-q', dir]);
  execFileSync('git', ['-C', dir, 'remote', 'add', 'origin', 'git@github.com:Acme-Org/Events.Server.git']);
  const r = await runInit(dir, { ...FULL, image: undefined });
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.match(readFileSync(join(dir, 'config/deployment.yml'), 'utf8'), /image: ghcr\.io\/acme-org\/events\.server/);
  assert.match(r.out.join('\n'), /gh api -X PUT repos\/Acme-Org\/Events\.Server\/environments\/staging/);
});

test("an existing Dockerfile that meets the image contract is used; one that does not is replaced by the tool's own", async () => {
  const fitting = emptyRepo();
  const text = ['FROM scratch', 'ARG GIT_COMMIT', 'ARG GIT_SHORT_COMMIT', 'ARG VERSION', 'ARG BUILD_TIMESTAMP'];
  writeFileSync(join(fitting, 'Dockerfile'), [...text, 'COPY migrations /app/migrations', ''].join('\n'));
  const r = await runInit(fitting, FULL);
  assert.equal(r.code, 0);
  assert.match(readFileSync(join(fitting, 'config/deployment.yml'), 'utf8'), /dockerfile: Dockerfile$/m);
  assert.ok(!Object.keys(snapshotTree(fitting)).includes('docker/Dockerfile'));
  assert.match(
    r.out.join('\n'),
    /Using your Dockerfile .*GIT_COMMIT, GIT_SHORT_COMMIT, VERSION, BUILD_TIMESTAMP.*\/app\/migrations/,
  );

  // the server repository's own deploy/docker/Dockerfile copies no migrations into the image
  const server = emptyRepo();
  mkdirSync(join(server, 'deploy/docker'), { recursive: true });
  writeFileSync(join(server, 'deploy/docker/Dockerfile'), [...text, ''].join('\n'));
  const s = await runInit(server, FULL);
  assert.equal(s.code, 0);
  assert.match(
    s.out.join('\n'),
    /deploy\/docker\/Dockerfile seems not to meet the image contract: nothing copied to \/app\/migrations/,
  );
  assert.match(readFileSync(join(server, 'config/deployment.yml'), 'utf8'), /dockerfile: docker\/Dockerfile$/m);
  assert.ok(s.out.includes('wrote docker/Dockerfile'));
});

test('two environments on one server, each with a domain, go behind the front proxy instead of being refused', async () => {
  const flags = {
    ...FULL,
    host: ['staging=a.example.org', 'production=b.example.org'],
    domain: ['staging=staging.example.org', 'production=events.example.org'],
    fingerprint: [HOST_KEY.fingerprint],
  };
  // under two names with one host key: one server
  const dir = emptyRepo();
  const r = await runInit(dir, flags);
  assert.equal(r.code, 0, r.err.join('\n'));
  const config = readFileSync(join(dir, 'config/deployment.yml'), 'utf8');
  assert.match(config, /^front_proxy:\n/m);
  const one = await runInit(emptyRepo(), { ...flags, host: ['vps.example.org'] });
  assert.match(
    one.out.join('\n'),
    /Point the A records of staging\.example\.org and events\.example\.org at vps\.example\.org:/,
  );
  assert.match(config, /one Caddy per host holds ports 80 and 443\n# and every certificate/);
  assert.match(config, /without reloading/);
  assert.match(config, /staging:[\s\S]*front: true[^\n]*\n {6}domains: \[staging\.example\.org\][\s\S]*production:/);
  assert.equal(config.match(/^ {6}front: true/gm)?.length, 2);
  assert.doesNotMatch(config, /http_port: 8080/);
  const text = r.out.join('\n');
  assert.match(
    text,
    /Point the A records of staging\.example\.org and events\.example\.org at each environment's host/,
  );
  assert.match(text, /ports 80 and 443 \(and SSH\) are the only ones to open/);

  // a terminal is asked, default yes; "no" keeps the old layout, and so its refusal
  const asked = await runInit(emptyRepo(), { ...flags, nonInteractive: false }, { answers: {} });
  assert.equal(asked.code, 0, asked.err.join('\n'));
  assert.deepEqual(
    asked.questions.filter((q) => q.includes('front proxy')),
    [
      'staging and production share the server a.example.org: put them behind its shared front proxy (one Caddy ' +
        'holding ports 80/443 and every certificate, routing by domain)? (yes/no) [yes]',
    ],
  );
  const declined = emptyRepo();
  const no = await runInit(declined, { ...flags, nonInteractive: false }, { answers: { 'front proxy': 'no' } });
  assert.equal(no.code, 2);
  assert.match(no.err.join('\n'), /would both publish port 80 and 443/);
  assert.deepEqual(snapshotTree(declined), {});

  // one domain for both cannot be routed
  const shared = await runInit(emptyRepo(), {
    ...flags,
    domain: ['staging=events.example.org', 'production=events.example.org'],
  });
  assert.equal(shared.code, 2);
  assert.match(shared.err.join('\n'), /events\.example\.org is the domain of both staging and production/);
});

test('--no-front keeps the refusal; without a domain for each, the refusal names the front proxy', async () => {
  const flags = {
    ...FULL,
    host: ['vps.example.org'],
    domain: ['staging=staging.example.org', 'production=events.example.org'],
    fingerprint: [HOST_KEY.fingerprint],
  };
  const dir = emptyRepo();
  const kept = await runInit(dir, { ...flags, noFront: true });
  assert.equal(kept.code, 2);
  const said = kept.err.join('\n');
  assert.match(said, /staging and production would both publish port 80 and 443 on vps\.example\.org/);
  assert.match(said, /drop --no-front .* the host's shared front proxy/);
  assert.deepEqual(snapshotTree(dir), {});

  const oneDomain = await runInit(emptyRepo(), { ...flags, domain: ['production=events.example.org'] });
  assert.equal(oneDomain.code, 2);
  assert.match(oneDomain.err.join('\n'), /would both publish port 80 and 443/);
  assert.match(oneDomain.err.join('\n'), /give each of them a domain \(--domain ENV=NAME\) .* front proxy/);

  // --no-front with ports of their own: the old layout, no front_proxy
  const ports = emptyRepo();
  const r = await runInit(ports, { ...flags, noFront: true, httpPort: ['staging=8080'], httpsPort: ['staging=8443'] });
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.doesNotMatch(readFileSync(join(ports, 'config/deployment.yml'), 'utf8'), /^front_proxy:|^ +front: true/m);
  assert.match(r.err.join('\n'), /staging has a domain but serves on ports 8080\/8443/);
});

test('--front needs a domain for each environment and no port flags', async () => {
  const cases: [string, Partial<typeof FULL>, RegExp, RegExp][] = [
    ['no domain', { front: true }, /--front: staging has no domain/, /--domain staging=staging\.example\.org/],
    [
      'port flag',
      { front: true, domain: ['staging=s.example.org', 'production=p.example.org'], httpPort: ['staging=8080'] },
      /--front with --http-port for staging/,
      /drop the port flags/,
    ],
    ['both flags', { front: true, noFront: true }, /--front and --no-front/, /keep the one/],
  ];
  for (const [name, flags, message, fix] of cases) {
    const dir = emptyRepo();
    const r = await runInit(dir, { ...FULL, ...flags });
    assert.equal(r.code, 2, name);
    assert.match(r.err.join('\n'), message, name);
    assert.match(r.err.join('\n'), fix, name);
    assert.deepEqual(snapshotTree(dir), {}, name);
  }
});
