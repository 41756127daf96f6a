/**
 * The SSH master's lifetime, with a stand-in ssh binary that logs its calls: one master connection with a
 * short ControlPersist, held open by one multiplexed session whose stdin is this process's pipe, so that a
 * deployer killed with kill -9 (or one that forgets close()) leaves nothing behind for long.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SshHost } from '../../../src/host/ssh.js';
import { Redactor } from '../../../src/log/redact.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

// the master "connects" and creates its control socket; the holding session (remote command `cat`) lasts
// until its stdin closes, like the real one; everything else succeeds at once
const FAKE_SSH = `#!/bin/sh
d=$(dirname "$0")
printf '%s\\n' "$*" >> "$d/calls"
for a; do last=$a; case $a in ControlPath=*) cp=\${a#ControlPath=};; esac; done
case " $* " in *" -M "*) : > "$cp"; exit 0;; esac
if [ "$last" = cat ]; then echo start >> "$d/holder"; cat > /dev/null; echo end >> "$d/holder"; fi
exit 0
`;

function fakeSsh(): {
  dir: string;
  ssh: string;
  key: string;
  knownHosts: string;
  calls: () => string[];
  holder: () => string[];
} {
  const dir = mkdtempSync(join(tmpdir(), 'fake-ssh-'));
  const ssh = join(dir, 'ssh');
  writeFileSync(ssh, FAKE_SSH);
  chmodSync(ssh, 0o755);
  writeFileSync(join(dir, 'id'), 'not a key\n', { mode: 0o600 });
  writeFileSync(join(dir, 'known_hosts'), 'h.example ssh-ed25519 AAAA\n');
  const lines = (f: string) =>
    existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean) : [];
  return {
    dir,
    ssh,
    key: join(dir, 'id'),
    knownHosts: join(dir, 'known_hosts'),
    calls: () => lines('calls'),
    holder: () => lines('holder'),
  };
}

function prepare(f: ReturnType<typeof fakeSsh>): SshHost {
  return SshHost.prepare({
    target: { host: 'h.example', port: 22, user: 'deploy' },
    credentials: { privateKeyPath: f.key, knownHostsPath: f.knownHosts },
    redactor: new Redactor(),
    sshBinary: f.ssh,
    workDir: mkdtempSync(join(f.dir, 'work-')),
  });
}

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** a deployer in a process of its own: connects, then waits to be killed ("wait") or just returns ("return") */
function deployer(f: ReturnType<typeof fakeSsh>, mode: 'wait' | 'return') {
  const file = join(f.dir, 'deployer.mts');
  const options = [
    "target: { host: 'h.example', port: 22, user: 'deploy' }",
    `credentials: { privateKeyPath: ${JSON.stringify(f.key)}, knownHostsPath: ${JSON.stringify(f.knownHosts)} }`,
    'redactor: new Redactor()',
    `sshBinary: ${JSON.stringify(f.ssh)}`,
    `workDir: mkdtempSync(${JSON.stringify(join(f.dir, 'w-'))})`,
  ].join(', ');
  writeFileSync(
    file,
    `import { mkdtempSync } from 'node:fs';
import { SshHost } from ${JSON.stringify(join(ROOT, 'src/host/ssh.ts'))};
import { Redactor } from ${JSON.stringify(join(ROOT, 'src/log/redact.ts'))};
const host = SshHost.prepare({ ${options} });
await host.connect();
console.log('connected');
if (${JSON.stringify(mode)} === 'wait') setInterval(() => undefined, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

test('one master connection with a short ControlPersist, held open by one multiplexed session', async () => {
  const f = fakeSsh();
  const host = prepare(f);
  await host.connect();
  await until('the holding session', () => f.holder().includes('start'));
  const masters = f.calls().filter((c) => / -M /.test(c));
  assert.equal(masters.length, 1, f.calls().join('\n'));
  const persist = /ControlPersist=(\d+)/.exec(masters[0]!);
  assert.ok(
    persist && Number(persist[1]) > 0 && Number(persist[1]) <= 10,
    `ControlPersist of a few seconds: ${masters[0]}`,
  );
  const holders = f.calls().filter((c) => / -- cat$/.test(c));
  assert.equal(holders.length, 1);
  assert.match(holders[0]!, /ControlMaster=no/, 'the holder is a session on the master, not a connection of its own');
  await host.close();
  await until('the holding session to end', () => f.holder().includes('end'));
  assert.ok(
    f.calls().some((c) => / -O exit /.test(c)),
    'close() ends the master',
  );
});

test('a deployer killed with kill -9 lets go of the master: its holding session ends at once', async () => {
  const f = fakeSsh();
  const d = deployer(f, 'wait');
  await until('the deployer to connect', () => d.out().includes('connected'), 20_000);
  await until('the holding session', () => f.holder().includes('start'));
  d.child.kill('SIGKILL');
  await d.exited;
  await until('the holding session to end after the kill', () => f.holder().includes('end'), 3_000);
});

test('a deployer that never calls close() still exits, and lets go of the master', async () => {
  const f = fakeSsh();
  const d = deployer(f, 'return');
  const code = await Promise.race([d.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 20_000))]);
  if (code === 'still running') d.child.kill('SIGKILL');
  assert.equal(code, 0, 'the holding session must not keep the process alive');
  assert.ok(d.out().includes('connected'));
  await until('the holding session to end', () => f.holder().includes('end'), 3_000);
  assert.deepEqual(f.holder(), ['start', 'end']);
});
