import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildArgs } from '../../../../src/engine/release/build-args.js';

describe('buildArgs', () => {
  const sha = '0123456789abcdef0123456789abcdef01234567';
  it('derives the short SHA and a second-precision UTC timestamp', () => {
    assert.deepEqual(buildArgs(sha, 'v1.2.3', new Date('2026-05-01T10:20:30.456Z')), {
      GIT_COMMIT: sha,
      GIT_SHORT_COMMIT: '0123456',
      VERSION: 'v1.2.3',
      BUILD_TIMESTAMP: '2026-05-01T10:20:30Z',
    });
  });
  it('rejects a short or upper-case SHA, and a version that would need quoting', () => {
    assert.throws(() => buildArgs('0123456', 'v1', new Date()), /40-hex/);
    assert.throws(() => buildArgs(sha.toUpperCase(), 'v1', new Date()), /40-hex/);
    for (const v of ['', 'v1 -X main.x=y', 'v1"', '-v1', "v1'", 'a;b']) {
      assert.throws(() => buildArgs(sha, v, new Date()), /cannot be embedded/, v);
    }
    assert.throws(() => buildArgs(sha, 'v1', new Date(Number.NaN)), /valid date/);
  });
});
