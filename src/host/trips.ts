import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Round trips tallied by what caused them: a phase opens a tally, and every command a host sends from inside it
 * (however deep, even while another phase runs side by side) counts there and in each enclosing tally.
 */
export interface TripTally {
  n: number;
  parent?: TripTally;
}

const current = new AsyncLocalStorage<TripTally>();

/** runs `fn` with a tally of its own, nested in the caller's */
export function tallyTrips<T>(fn: () => Promise<T>): { tally: TripTally; result: Promise<T> } {
  const tally: TripTally = { n: 0, parent: current.getStore() };
  return { tally, result: current.run(tally, fn) };
}

/** a host calls this once per command it sends */
export function countTrip(): void {
  for (let t = current.getStore(); t; t = t.parent) t.n++;
}
