import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateIdentity } from '../../src/crypto/age.js';
import { Redactor } from '../../src/log/redact.js';
import { offsiteIdentities, offsiteKeysOf } from '../../src/session.js';

const CONF = '[vault]\r\ntype = s3\r\naccess_key_id = AKIAEXAMPLE0001\r\nsecret_access_key = wJalrXUtnFEMI-K7MDENG\r\n';

test('the rclone.conf goes 0600 into the private session directory, and its credentials are masked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-session-'));
  const r = new Redactor();
  const keys = offsiteKeysOf({ rcloneConfig: CONF }, [], dir, r);
  const path = join(dir, 'rclone.conf');
  assert.deepEqual(keys, { identities: [], rcloneEnv: { RCLONE_CONFIG: path } });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(readFileSync(path, 'utf8'), CONF.replace(/\r\n/g, '\n'));
  const shown = r.redact('rclone: auth failed for AKIAEXAMPLE0001 with wJalrXUtnFEMI-K7MDENG');
  assert.equal(shown, 'rclone: auth failed for *** with ***');
  assert.equal(offsiteKeysOf(undefined, [], dir, r), undefined, 'nothing given: rclone keeps its own environment');
});

test('identities: one a line, comments skipped, masked before they are checked', () => {
  const a = generateIdentity();
  const b = generateIdentity();
  const r = new Redactor();
  const ids = offsiteIdentities(`# created: today\n# public key: ${a.recipient}\n${a.identity}\n\n${b.identity}\n`, r);
  assert.deepEqual(ids, [a.identity, b.identity]);
  assert.equal(r.redact(`x ${a.identity} y`), 'x *** y');
  const bad = new Redactor();
  assert.throws(
    () => offsiteIdentities(`${a.identity.slice(0, -3)}QQQ`, bad),
    (e: Error) => {
      assert.ok(!bad.redact(e.message).includes(a.identity.slice(20, -3)));
      return true;
    },
  );
  assert.deepEqual(offsiteIdentities(undefined, r), []);
});
