import type { PhaseTiming, Reporter } from '../log/reporter.js';
import type { Clock } from './context.js';

/** Runs named phases through the reporter and keeps their timings for the record and the summary. */
export class Phases {
  readonly timings: PhaseTiming[] = [];
  constructor(
    private readonly reporter: Reporter,
    private readonly clock: Clock,
    /** the host's round-trip counter, when it keeps one */
    private readonly trips: () => number | undefined = () => undefined,
  ) {}

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    const before = this.trips();
    const timing = (ok: boolean): PhaseTiming => {
      const after = this.trips();
      const t: PhaseTiming = { name, ms: this.clock.now() - start, ok };
      if (before !== undefined && after !== undefined) t.trips = after - before;
      return t;
    };
    try {
      const v = await this.reporter.phase(name, fn);
      this.timings.push(timing(true));
      return v;
    } catch (e) {
      this.timings.push(timing(false));
      throw e;
    }
  }
}
