import * as core from '@actions/core';
import { formatDuration } from '../config/duration.js';
import type { Redactor } from '../log/redact.js';
import type { Reporter } from '../log/reporter.js';

/** The runner log: a group per phase with its duration, warnings and errors as annotations. */
export class ActionReporter implements Reporter {
  constructor(private readonly redactor: Redactor) {}

  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    let ok = false;
    try {
      const v = await core.group(name, fn);
      ok = true;
      return v;
    } finally {
      core.info(`${ok ? '✔' : '✘'} ${name} (${formatDuration(Date.now() - start)})`);
    }
  }
  info(m: string): void {
    core.info(this.redactor.redact(m));
  }
  warn(m: string): void {
    core.warning(this.redactor.redact(m));
  }
  error(m: string): void {
    core.error(this.redactor.redact(m));
  }
  debug(m: string): void {
    core.debug(this.redactor.redact(m));
  }
}
