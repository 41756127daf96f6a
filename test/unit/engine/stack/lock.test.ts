import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleReason, type LockInfo } from '../../../../src/engine/stack/lock.js';

test('a lock is stale when expired, when its local process is gone, or when its heartbeat stopped', () => {
  const info: LockInfo = {
    lock_id: 'x',
    environment: 'e',
    acquired_at: '',
    acquired_by: 'a',
    deployment_id: 'd',
    operation: 'deploy',
    pid: process.pid,
    hostname: 'here',
    expires_at: new Date(Date.now() + 60_000).toISOString(),
  };
  assert.equal(staleReason(info, 5, Date.now(), 'here'), undefined);
  assert.match(staleReason({ ...info, expires_at: new Date(0).toISOString() }, 5, Date.now(), 'here') ?? '', /expired/);
  assert.match(staleReason({ ...info, pid: 2 ** 22 + 7 }, 5, Date.now(), 'here') ?? '', /is gone/);
  assert.equal(staleReason({ ...info, pid: 2 ** 22 + 7 }, 5, Date.now(), 'elsewhere'), undefined);
  assert.match(staleReason(info, 500, Date.now(), 'elsewhere') ?? '', /heartbeat/);
});
