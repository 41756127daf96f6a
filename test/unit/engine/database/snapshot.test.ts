import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judgeRetention,
  nameTime,
  parseListing,
  referencedSnapshots,
  snapshotName,
  type SnapshotEntry,
} from '../../../../src/engine/database/snapshot.js';
import { emptyState } from '../../../../src/engine/stack/state.js';
import type { DeploymentRecord } from '../../../../src/engine/types.js';

test('snapshot names and listing', () => {
  const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  const name = snapshotName('togather', at, 'abcdef0123456789');
  assert.equal(name, 'togather_20260102_030405_abcdef0.sql.gz');
  assert.equal(nameTime(name), at.getTime());
  const meta = {
    created_at: '2026-01-02T03:04:05.000Z',
    retention_until: '2026-01-09T03:04:05.000Z',
    status: 'verified',
  };
  const listing = parseListing(
    [
      `F 100 1767323045 ${name}`,
      `M ${name} ${JSON.stringify(meta)}`,
      'F 5 1 notes.txt',
      'F 7 1767400000 togather_20260103_000000_0000000.sql.gz',
      'P 1767000000 .partial-01ABC.sql.gz',
      'M evil.sql.gz {}',
    ].join('\n'),
    7,
  );
  assert.deepEqual(
    listing.snapshots.map((s) => s.file),
    ['togather_20260103_000000_0000000.sql.gz', name],
  );
  assert.equal(listing.snapshots[1]!.retentionUntil, Date.parse(meta.retention_until));
  assert.equal(
    listing.snapshots[0]!.retentionUntil,
    Date.UTC(2026, 0, 3) + 7 * 86_400_000,
    "no metadata: the name's time + retention",
  );
  assert.deepEqual(listing.partials, [{ file: '.partial-01ABC.sql.gz', mtime: 1767000000 * 1000 }]);
});

test('retention: expired and unprotected go; the newest and those the history names stay', () => {
  const day = 86_400_000;
  const now = Date.UTC(2026, 5, 1);
  const snap = (file: string, ageDays: number, leftDays: number): SnapshotEntry => ({
    file,
    bytes: 1,
    mtime: 0,
    createdAt: now - ageDays * day,
    retentionUntil: now + leftDays * day,
  });
  const all = [snap('a', 30, -23), snap('b', 20, -13), snap('c', 10, -3), snap('d', 2, 5), snap('e', 1, -1)];
  const state = emptyState('prod');
  state.history = [{ snapshot: 'a' } as DeploymentRecord, { snapshot: 'zzz-gone' } as DeploymentRecord];
  const v = judgeRetention(all, referencedSnapshots(state), now);
  assert.deepEqual(
    v.remove.map((s) => s.file),
    ['b', 'c'],
  );
  assert.deepEqual(Object.fromEntries(v.keep.map((k) => [k.entry.file, k.why])), {
    a: 'referenced',
    d: 'within retention',
    e: 'newest',
  });
  assert.deepEqual(
    judgeRetention([snap('only', 99, -90)], new Set(), now).remove,
    [],
    'a lone expired snapshot is the newest',
  );
});
