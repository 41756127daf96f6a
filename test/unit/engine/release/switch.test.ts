import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseVerify, SWITCH, VERIFY_LOOP } from '../../../../src/engine/release/switch.js';

const SHA = 'a'.repeat(40);

test('verify samples carry upstream and commit', () => {
  const out =
    `--- 1\n  HTTP/1.1 200 OK\n  X-Togather-Upstream: app-green\n{"git_commit":"${SHA}"}\n\n` +
    '--- 2\nwget: server returned error: HTTP/1.1 502 Bad Gateway\n\n';
  const s = parseVerify(out);
  assert.equal(s.length, 2);
  assert.deepEqual(s[0], { upstream: 'app-green', commit: SHA, code: 200 });
  assert.equal(s[1]!.code, 502);
});

test('the switch routes the new colour before it takes the old one out, then verifies in the same command', () => {
  const on = SWITCH.indexOf('touch -- "$1/ready"');
  const off = SWITCH.indexOf('rm -f -- "$2/ready"');
  const verify = SWITCH.indexOf('docker exec');
  assert.ok(on > 0 && on < off && off < verify, SWITCH);
  assert.ok(!VERIFY_LOOP.includes("'"), 'the loop travels inside single quotes');
});
