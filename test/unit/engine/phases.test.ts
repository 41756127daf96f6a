import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countTrip } from '../../../src/host/trips.js';
import { Phases } from '../../../src/engine/phases.js';
import { FakeClock } from '../../fakes/host.js';

const reporter = {
  phase: <T>(_n: string, fn: () => Promise<T>) => fn(),
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};
const tick = () => new Promise((r) => setTimeout(r, 5));

test('a phase records the round trips it caused, failed or not', async () => {
  const phases = new Phases(reporter, new FakeClock(), true);
  await phases.run('switch', async () => countTrip());
  await assert.rejects(
    phases.run('retire blue', async () => {
      countTrip();
      countTrip();
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

test('phases side by side count only their own trips; a nested phase counts in its parent too', async () => {
  const phases = new Phases(reporter, new FakeClock(), true);
  await Promise.all([
    phases.run('lock', async () => {
      await tick();
      countTrip();
    }),
    phases.run('preflight', async () => {
      countTrip();
      await tick();
      countTrip();
      await tick();
    }),
  ]);
  await phases.run('image', async () => {
    countTrip();
    await phases.run('build', async () => countTrip());
  });
  const by = Object.fromEntries(phases.timings.map((t) => [t.name, t.trips]));
  assert.deepEqual(by, { lock: 1, preflight: 2, build: 1, image: 2 });
});

test('a host that counts nothing leaves the phases without a count', async () => {
  const phases = new Phases(reporter, new FakeClock());
  await phases.run('connect', async () => countTrip());
  assert.equal(phases.timings[0]!.trips, undefined);
});
