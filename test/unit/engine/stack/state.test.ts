import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyRecord, emptyState, reconcile } from '../../../../src/engine/stack/state.js';
import type { DeploymentRecord } from '../../../../src/engine/types.js';

const SHA = 'a'.repeat(40);

test('state transitions: active supersedes, failed leaves current alone', () => {
  const rec = (id: string, version: string, status: DeploymentRecord['status']): DeploymentRecord => ({
    id,
    kind: 'deploy',
    environment: 'staging',
    version,
    image: `i:${version}`,
    colour: 'blue',
    deployed_at: '',
    deployed_by: 't',
    status,
    health_status: 'healthy',
    phases: [],
    flags: {},
  });
  let s = applyRecord(emptyState('staging'), rec('1', 'v1', 'active'), 50);
  s = applyRecord(s, rec('2', 'v2', 'active'), 50);
  assert.equal(s.current?.version, 'v2');
  assert.equal(s.previous?.version, 'v1');
  assert.equal(s.previous?.status, 'superseded');
  s = applyRecord(s, rec('3', 'v3', 'failed'), 50);
  assert.equal(s.current?.version, 'v2');
  assert.deepEqual(
    s.history.map((h) => `${h.version}:${h.status}`),
    ['v3:failed', 'v2:active', 'v1:superseded'],
  );
  assert.equal(applyRecord(s, rec('4', 'v4', 'failed'), 2).history.length, 2);
});

test('state is reconciled from the colour the proxy routes to', () => {
  const rec = {
    id: '1',
    kind: 'deploy',
    environment: 'e',
    version: 'b'.repeat(40),
    image: `i:${'b'.repeat(40)}`,
    colour: 'blue',
    deployed_at: '',
    deployed_by: 't',
    status: 'active',
    health_status: 'healthy',
    phases: [],
    flags: {},
  } as DeploymentRecord;
  const state = applyRecord(emptyState('e'), rec, 50);
  assert.equal(reconcile(state, { colour: 'blue', image: `i:${'b'.repeat(40)}` }, new Date(), 50).record, undefined);
  const r = reconcile(state, { colour: 'green', image: `i:${SHA}` }, new Date(), 50);
  assert.equal(r.record?.version, SHA);
  assert.equal(r.state.current?.colour, 'green');
  assert.equal(r.state.previous?.version, 'b'.repeat(40));
  assert.equal(reconcile(state, undefined, new Date(), 50).record, undefined);
});
