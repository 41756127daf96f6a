import type { PhaseTiming, Reporter } from '../log/reporter.js';
import { tallyTrips } from '../host/trips.js';
import type { Clock } from './context.js';

/** Runs named phases through the reporter and keeps their timings for the record and the summary. */
export class Phases {
  readonly timings: PhaseTiming[] = [];
  constructor(
    private readonly reporter: Reporter,
    private readonly clock: Clock,
    /** whether the host counts its round trips (countTrip); without, the timings carry no count */
    private readonly counted = false,
  ) {}

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    const { tally, result } = tallyTrips(() => this.reporter.phase(name, fn));
    const timing = (ok: boolean): PhaseTiming => ({
      name,
      ms: this.clock.now() - start,
      ok,
      ...(this.counted ? { trips: tally.n } : {}),
    });
    try {
      const v = await result;
      this.timings.push(timing(true));
      return v;
    } catch (e) {
      this.timings.push(timing(false));
      throw e;
    }
  }
}
