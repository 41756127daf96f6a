import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REF_RE } from '../../../../src/engine/release/version.js';

test('refs that could be misread by git or a shell are refused', () => {
  for (const ok of ['main', 'v1.2.3', 'release/2026-11', 'abc1234']) assert.ok(REF_RE.test(ok), ok);
  for (const bad of ['-x', 'a..b', 'a b', '$(id)', 'a;b', 'main@{1}', '`id`', 'x\ny', ''])
    assert.ok(!REF_RE.test(bad), bad);
});
