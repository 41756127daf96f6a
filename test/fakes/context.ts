/**
 * One EngineContext for unit tests: every field has a harmless default and any of them can be given. The defaults
 * are a staging config (fakeConfig), the fake clock, a ScriptedHost on that clock (every command succeeds with no
 * output and is recorded), a deployer's machine that refuses every command, a reporter that records what it is
 * told, and an empty Redactor. For whole deploys and rollbacks, fakeEngine and fakeStack in host.ts build on the
 * same pieces.
 */
import type { Clock, EngineContext } from '../../src/engine/context.js';
import type { Local } from '../../src/host/host.js';
import { Redactor } from '../../src/log/redact.js';
import type { Reporter } from '../../src/log/reporter.js';
import { FakeClock, ScriptedHost, fakeConfig } from './host.js';

export type Level = 'info' | 'warn' | 'error' | 'debug';
export type Said = Record<Level, string[]>;

/** A Reporter that keeps every message by level, and the names of the phases it ran, in order. */
export class RecordingReporter implements Reporter {
  readonly said: Said;
  readonly phases: string[] = [];

  /** `into` records a level into an array of the test's own; one array may collect several levels */
  constructor(into: Partial<Said> = {}) {
    this.said = { info: into.info ?? [], warn: into.warn ?? [], error: into.error ?? [], debug: into.debug ?? [] };
  }

  phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.phases.push(name);
    return fn();
  }
  info(message: string): void {
    this.said.info.push(message);
  }
  warn(message: string): void {
    this.said.warn.push(message);
  }
  error(message: string): void {
    this.said.error.push(message);
  }
  debug(message: string): void {
    this.said.debug.push(message);
  }
}

/** the deployer's machine, for tests that must not run anything there: a call is a test bug */
export const refusingLocal: Local = {
  run: (c) => Promise.reject(new Error(`unexpected local command: ${c.argv.join(' ')}`)),
  stream: (c) => {
    throw new Error(`unexpected local stream: ${c.argv.join(' ')}`);
  },
};

export type FakeContextOptions = Partial<Omit<EngineContext, 'reporter'>> & { reporter?: RecordingReporter };

/** an EngineContext whose reporter is known to record */
export type FakeContext = EngineContext & { reporter: RecordingReporter };

export function fakeContext(over: FakeContextOptions = {}): FakeContext {
  const clock: Clock = over.clock ?? new FakeClock();
  return {
    actor: 'tester@unit',
    dryRun: false,
    ...over,
    cfg: over.cfg ?? fakeConfig(),
    host: over.host ?? new ScriptedHost(clock instanceof FakeClock ? clock : new FakeClock()),
    local: over.local ?? refusingLocal,
    reporter: over.reporter ?? new RecordingReporter(),
    redactor: over.redactor ?? new Redactor(),
    clock,
  };
}
