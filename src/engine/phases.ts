import type { PhaseTiming, Reporter } from '../log/reporter.js';
import type { Clock } from './context.js';

/** Runs named phases through the reporter and keeps their timings for the record and the summary. */
export class Phases {
  readonly timings: PhaseTiming[] = [];
  constructor(
    private readonly reporter: Reporter,
    private readonly clock: Clock,
  ) {}

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    try {
      const v = await this.reporter.phase(name, fn);
      this.timings.push({ name, ms: this.clock.now() - start, ok: true });
      return v;
    } catch (e) {
      this.timings.push({ name, ms: this.clock.now() - start, ok: false });
      throw e;
    }
  }
}
