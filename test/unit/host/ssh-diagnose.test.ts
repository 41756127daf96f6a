/**
 * The SSH failure explanations: what OpenSSH really prints in each case (captured from OpenSSH 9.2) and real keys
 * made by ssh-keygen, so the fingerprint and the "encrypted" flag are checked against OpenSSH's own view.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { explainConnectFailure, inspectPrivateKey } from '../../../src/host/ssh-diagnose.js';

const dir = mkdtempSync(join(tmpdir(), 'tgd-sshdiag-'));
function keygen(name: string, passphrase: string): { text: string; fingerprint: string } {
  const f = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', name, '-f', f]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${f}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { text: readFileSync(f, 'utf8'), fingerprint };
}

const ctx = { name: 'deploy@host:22', keyPath: '/k/id', passphraseGiven: false };
const DENIED = 'deploy@host: Permission denied (publickey).\n';

test('inspectPrivateKey reads the cipher and the public key fingerprint of OpenSSH keys without decrypting', () => {
  const plain = keygen('plain', '');
  const locked = keygen('locked', 's3cret pass');
  assert.deepEqual(inspectPrivateKey(plain.text), {
    format: 'openssh',
    encrypted: false,
    fingerprint: plain.fingerprint,
  });
  assert.deepEqual(inspectPrivateKey(locked.text), {
    format: 'openssh',
    encrypted: true,
    fingerprint: locked.fingerprint,
  });
  assert.deepEqual(inspectPrivateKey('ssh-ed25519 AAAA… a public key'), { format: 'unknown' });
  assert.equal(inspectPrivateKey('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n…').encrypted, true);
});

test('a changed host key names the presented fingerprint and says it is refused', async () => {
  const e = await explainConnectFailure(
    '@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@\n' +
      'The fingerprint for the ED25519 key sent by the remote host is\n' +
      'SHA256:L6gj2p0y0U/f62tep3TduhtYqC6EuQ54/0nvqCclM4Y.\nHost key verification failed.\n',
    ctx,
  );
  assert.equal(e?.exitCode, 4);
  assert.match(e!.message, /has CHANGED: the host presented SHA256:L6gj2p0y0U\/f62tep3TduhtYqC6EuQ54\/0nvqCclM4Y/);
  assert.match(e!.remedy!, /attack/);
});

test('an unknown host key, a key file readable by others, an unreadable key', async () => {
  const unknown = await explainConnectFailure(
    'No ED25519 host key is known for [h]:2222 and you have requested strict checking.\nHost key verification failed.\n',
    ctx,
  );
  assert.match(unknown!.message, /is unknown/);
  const loose = await explainConnectFailure(
    '@@@@\n@         WARNING: UNPROTECTED PRIVATE KEY FILE!          @\n@@@@\n' +
      'Permissions 0644 for \'/k/id\' are too open.\nLoad key "/k/id": bad permissions\n' +
      DENIED,
    ctx,
  );
  assert.match(loose!.message, /readable by other users, so OpenSSH ignores it \(Permissions 0644/);
  assert.equal(loose!.remedy, 'chmod 600 /k/id');
  const garbage = await explainConnectFailure('Load key "/k/id": invalid format\n' + DENIED, {
    ...ctx,
    keyText: 'not a key',
  });
  assert.match(garbage!.message, /not a private key OpenSSH can read/);
});

test('a denied login: passphrase missing, passphrase wrong, or simply a key the host does not know', async () => {
  const locked = keygen('locked2', 'pw');
  const none = await explainConnectFailure(DENIED, { ...ctx, keyText: locked.text });
  assert.match(none!.message, /protected by a passphrase and none was given/);
  const wrong = await explainConnectFailure(DENIED, {
    ...ctx,
    keyText: locked.text,
    passphraseGiven: true,
    passphraseWorks: async () => false,
  });
  assert.match(wrong!.message, /passphrase given does not decrypt/);
  const right = await explainConnectFailure(DENIED, {
    ...ctx,
    keyText: locked.text,
    passphraseGiven: true,
    passphraseWorks: async () => true,
  });
  assert.match(right!.message, new RegExp(`refused the key ${locked.fingerprint.replace(/[+/]/g, '\\$&')}`));
  assert.match(right!.remedy!, /authorized_keys/);
});

test('a plain network failure is left to the retry loop', async () => {
  assert.equal(await explainConnectFailure('ssh: connect to host h port 22: Connection refused\n', ctx), undefined);
  assert.equal(
    await explainConnectFailure('kex_exchange_identification: read: Connection reset by peer\n', ctx),
    undefined,
  );
});
