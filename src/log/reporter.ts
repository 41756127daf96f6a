/**
 * How the engine talks to whoever runs it. The action adapter maps phases to core.group and warnings to
 * annotations; the CLI prints to the terminal. Every string passes through the redactor before it gets here.
 */
export interface Reporter {
  /** a named step of the sequence: grouped in the runner log, timed, recorded in the deployment's phases */
  phase<T>(name: string, fn: () => Promise<T>): Promise<T>;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

export interface PhaseTiming {
  name: string;
  ms: number;
  ok: boolean;
  /** commands the phase sent to the host (not those of a phase running beside it) */
  trips?: number;
}
