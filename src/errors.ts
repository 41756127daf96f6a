/**
 * Every failure the engine reports carries one exit code per failure class, so that a caller (the action,
 * the CLI, a wrapping script) can tell a rejected config from an unhealthy release without parsing text.
 * The table is documented in docs/troubleshooting.md; keep the two in step.
 */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  config: 2,
  ciGate: 3,
  connection: 4,
  lock: 5,
  preflight: 6,
  image: 7,
  snapshot: 8,
  migration: 9,
  health: 10,
  switch: 11,
  state: 12,
  refused: 13,
} as const;

export type FailureClass = keyof typeof ExitCode;

export class DeployError extends Error {
  readonly exitCode: number;
  constructor(
    readonly kind: FailureClass,
    message: string,
    /** what the operator can do about it; printed after the message */
    readonly remedy?: string,
  ) {
    super(message);
    this.name = 'DeployError';
    this.exitCode = ExitCode[kind];
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof DeployError ? err.exitCode : ExitCode.unexpected;
}

export function describeError(err: unknown): string {
  if (err instanceof DeployError) return err.remedy ? `${err.message}\n  fix: ${err.remedy}` : err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
