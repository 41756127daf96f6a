import { DeployError } from '../errors.js';

/**
 * One thing wrong with the configuration, located precisely enough for a GitHub annotation
 * (`core.error(message, { file, startLine: line })`) and for a person reading the CLI output.
 * Messages never quote env-file values: those may be secrets.
 */
export interface ConfigProblem {
  /** the file at fault as the operator named it; `env-file input` when the env file came from the action input */
  file: string;
  /** dotted key (`environments.production.host`) or, for env files, the variable name; '' for the whole file */
  path: string;
  /** 1-based line in `file`, when known */
  line?: number;
  message: string;
  remedy?: string;
  /** stable class of the problem, for tests and tools: 'yaml', 'unknown-key', 'placeholder', 'file-mode', … */
  code: ProblemCode;
}

export type ProblemCode =
  | 'file' // missing, unreadable, oversize or not UTF-8
  | 'file-mode'
  | 'yaml'
  | 'duplicate-key'
  | 'alias-bomb'
  | 'not-mapping'
  | 'required'
  | 'invalid'
  | 'unknown-key'
  | 'unknown-environment'
  | 'no-env-file'
  | 'syntax'
  | 'placeholder'
  | 'bad-character'
  | 'environment-mismatch';

/** The `file` of problems found in env-file content passed as an action input (not a file in the workspace). */
export const ENV_INPUT_SOURCE = 'env-file input';

export function formatProblem(p: ConfigProblem): string {
  const where = p.line !== undefined ? `${p.file}:${p.line}` : p.file;
  const key = p.path ? ` ${p.path}:` : '';
  const fix = p.remedy ? ` — fix: ${p.remedy}` : '';
  return `${where}${key} ${p.message}${fix}`;
}

/** Every problem found while loading the configuration, reported together so one run shows all of them. */
export class ConfigError extends DeployError {
  constructor(readonly problems: ConfigProblem[]) {
    super('config', ConfigError.render(problems));
    this.name = 'ConfigError';
  }

  static render(problems: ConfigProblem[]): string {
    const head =
      problems.length === 1 ? 'The configuration has 1 problem:' : `The configuration has ${problems.length} problems:`;
    return [head, ...problems.map((p) => `  ${formatProblem(p)}`)].join('\n');
  }
}

/** problems in file order, then by line, so the list reads top to bottom */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const order = new Map<string, number>();
  for (const p of problems) if (!order.has(p.file)) order.set(p.file, order.size);
  return problems
    .map((p, i) => ({ p, i }))
    .sort(
      (a, b) =>
        (order.get(a.p.file) ?? 0) - (order.get(b.p.file) ?? 0) || (a.p.line ?? 0) - (b.p.line ?? 0) || a.i - b.i,
    )
    .map(({ p }) => p);
}
