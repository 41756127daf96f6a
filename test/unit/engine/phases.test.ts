import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Phases } from '../../../src/engine/phases.js';
import { FakeClock } from '../../fakes/host.js';

const reporter = {
  phase: <T>(_n: string, fn: () => Promise<T>) => fn(),
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};

test('a phase records the round trips the host counted while it ran, failed or not', async () => {
  let trips = 0;
  const phases = new Phases(reporter, new FakeClock(), () => trips);
  await phases.run('switch', async () => {
    trips += 1;
  });
  await assert.rejects(
    phases.run('retire blue', async () => {
      trips += 2;
      throw new Error('no');
    }),
  );
  assert.deepEqual(
    phases.timings.map((t) => [t.name, t.trips, t.ok]),
    [
      ['switch', 1, true],
      ['retire blue', 2, false],
    ],
  );
});

test('a host that counts nothing leaves the phases without a count', async () => {
  const phases = new Phases(reporter, new FakeClock());
  await phases.run('connect', async () => undefined);
  assert.equal(phases.timings[0]!.trips, undefined);
});
