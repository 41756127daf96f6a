// Plan and apply init's files. Every file's content is computed before anything is written, so that a refused
// answer leaves the repository as it was; applying then decides per file: absent → write, identical → leave,
// different → leave unless --force. Env files hold secrets and are never overwritten once they hold one, and the
// line files (.gitignore, known_hosts) are only ever appended to.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseEnvFile, PLACEHOLDER_RE } from '../config/envfile.js';

export type PlannedFile =
  /** a file init owns the whole of */
  | { kind: 'whole'; path: string; content: string; mode?: number }
  /** an env file: like whole, but one holding a value of the operator's is never overwritten */
  | { kind: 'env'; path: string; content: string }
  /** lines that must be present; missing ones are appended, nothing is removed or reordered */
  | { kind: 'lines'; path: string; lines: string[]; mode?: number };

export type Outcome = 'wrote' | 'unchanged' | 'skipped' | 'overwrote' | 'updated';

export interface Applied {
  path: string;
  outcome: Outcome;
  /** the line the operator reads */
  message: string;
}

function readOrUndefined(abs: string): string | undefined {
  return existsSync(abs) ? readFileSync(abs, 'utf8') : undefined;
}

function write(abs: string, content: string, mode: number | undefined): void {
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, content, mode !== undefined ? { mode } : {});
  // the mode option applies only when the file is created
  if (mode !== undefined) chmodSync(abs, mode);
}

export function applyFiles(dir: string, plan: PlannedFile[], force: boolean): Applied[] {
  return plan.map((f) => applyOne(dir, f, force));
}

function applyOne(dir: string, f: PlannedFile, force: boolean): Applied {
  const abs = join(dir, f.path);
  const current = readOrUndefined(abs);
  const done = (outcome: Outcome, message: string): Applied => ({ path: f.path, outcome, message });
  if (f.kind === 'lines') {
    const content = withLines(current, f.lines);
    if (current === undefined) {
      write(abs, content, f.mode);
      return done('wrote', `wrote ${f.path}`);
    }
    if (content === current) return done('unchanged', `unchanged ${f.path}`);
    write(abs, content, f.mode);
    const added = f.lines.filter((l) => !presentLines(current).has(l.trim())).length;
    return done('updated', `updated ${f.path} (added ${added} line${added === 1 ? '' : 's'})`);
  }
  const mode = f.kind === 'env' ? 0o600 : f.mode;
  if (current === undefined) {
    write(abs, f.content, mode);
    return done('wrote', `wrote ${f.path}`);
  }
  if (current === f.content) return done('unchanged', `unchanged ${f.path}`);
  if (f.kind === 'env' && holdsOperatorValues(current, f.content)) {
    return done('skipped', `kept ${f.path} (it holds your values; init never overwrites them, not even with --force)`);
  }
  if (!force) return done('skipped', `skipped ${f.path} (exists; --force to overwrite)`);
  write(abs, f.content, mode);
  return done('overwrote', `overwrote ${f.path}`);
}

function presentLines(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()));
}

/** `current` with every missing line appended (after a newline if it lacks its last one) */
export function withLines(current: string | undefined, lines: string[]): string {
  const base = current ?? '';
  const present = presentLines(base);
  const missing = lines.filter((l) => !present.has(l.trim()));
  // a comment line alone is not worth appending: only when a rule it introduces is missing too
  if (missing.every((l) => l.startsWith('#'))) return base;
  const sep = base === '' || base.endsWith('\n') ? '' : '\n';
  return `${base}${sep}${missing.join('\n')}\n`;
}

/**
 * Does an existing env file hold a value the operator put there: one that is neither a CHANGE_ME placeholder, nor
 * empty, nor what init itself writes for that key?
 */
export function holdsOperatorValues(existing: string, template: string): boolean {
  const ours = parseEnvFile(template, 'template', { required: [] }).values;
  const theirs = parseEnvFile(existing, 'existing', { required: [] });
  // a file that does not parse may still hold secrets: never overwrite it
  if (theirs.problems.some((p) => p.code === 'syntax')) return true;
  return theirs.entries.some((e) => e.value !== '' && !PLACEHOLDER_RE.test(e.value) && ours[e.key] !== e.value);
}
