import assert from 'node:assert/strict';
import { test } from 'node:test';

test('action inputs: the snapshot commands, a snapshot name and stop-app', async () => {
  const { readInputs } = await import('../../../src/action/inputs.js');
  const base = { INPUT_ENVIRONMENT: 'staging', 'INPUT_SSH-PRIVATE-KEY': 'k', 'INPUT_SSH-KNOWN-HOSTS': 'h' };
  const i = readInputs({
    ...base,
    INPUT_COMMAND: 'snapshot-restore',
    INPUT_SNAPSHOT: 'togather_20260101_000000_abcdef0.sql.gz',
    'INPUT_STOP-APP': 'true',
    INPUT_CONFIRM: 'staging',
  });
  assert.equal(i.command, 'snapshot-restore');
  assert.equal(i.snapshot, 'togather_20260101_000000_abcdef0.sql.gz');
  assert.equal(i['stop-app'], true);
  assert.equal(readInputs({ ...base, INPUT_COMMAND: 'snapshot' }).snapshot, '');
  assert.throws(
    () => readInputs({ ...base, INPUT_COMMAND: 'snapshot-verify', INPUT_SNAPSHOT: '../etc/passwd' }),
    /snapshot/,
  );
});

test('action inputs: off-site copies (snapshot-copy, snapshot-check, from-offsite and the two secrets)', async () => {
  const { readInputs } = await import('../../../src/action/inputs.js');
  const base = { INPUT_ENVIRONMENT: 'staging', 'INPUT_SSH-PRIVATE-KEY': 'k', 'INPUT_SSH-KNOWN-HOSTS': 'h' };
  for (const command of ['snapshot-copy', 'snapshot-check'])
    assert.equal(readInputs({ ...base, INPUT_COMMAND: command }).command, command);
  const i = readInputs({
    ...base,
    INPUT_COMMAND: 'snapshot-restore',
    'INPUT_FROM-OFFSITE': 'true',
    'INPUT_RCLONE-CONFIG': '[vault]\ntype = b2\n',
    'INPUT_SNAPSHOT-IDENTITY': 'AGE-SECRET-KEY-1XYZ',
  });
  assert.equal(i['from-offsite'], true);
  assert.equal(i['rclone-config'], '[vault]\ntype = b2');
  assert.equal(i['snapshot-identity'], 'AGE-SECRET-KEY-1XYZ');
  assert.equal(readInputs(base)['from-offsite'], false);
  assert.throws(() => readInputs({ ...base, 'INPUT_FROM-OFFSITE': 'maybe' }), /from-offsite/);
});
