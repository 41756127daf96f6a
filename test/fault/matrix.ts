/**
 * The fault and abuse matrix (issue 9): one row per case — what was done, what was expected, what was
 * observed, with request and failure counts where traffic ran. Each suite prints its rows at its end and
 * stores them under bench-results/issue9/ (gitignored); the combined matrix.md there is rebuilt from every
 * suite's latest rows, so running the three files in any order leaves a complete table.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../e2e/support.js';

export interface Row {
  group: string;
  case: string;
  expected: string;
  observed: string;
  /** requests sent through the proxy during the case, and how many failed */
  requests?: number;
  failures?: number;
  pass: boolean;
}

export const RESULTS_DIR = join(ROOT, 'bench-results', 'issue9');

export class Matrix {
  readonly rows: Row[] = [];
  constructor(readonly suite: string) {}

  add(row: Row): Row {
    this.rows.push(row);
    return row;
  }

  /** prints this suite's rows and rewrites the stored and combined matrices */
  finish(): string {
    const text = render(this.suite, this.rows);
    process.stdout.write(`\n${text}\n`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(
      join(RESULTS_DIR, `${this.suite}.json`),
      JSON.stringify({ suite: this.suite, at: new Date().toISOString(), rows: this.rows }, null, 2) + '\n',
    );
    const parts = readdirSync(RESULTS_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as { suite: string; at: string; rows: Row[] });
    const all = parts.map((p) => `${render(`${p.suite} (${p.at})`, p.rows)}`).join('\n\n');
    writeFileSync(join(RESULTS_DIR, 'matrix.md'), `# Issue 9: fault and abuse matrix\n\n${all}\n`);
    return text;
  }
}

const cell = (s: string | number | undefined) =>
  s === undefined ? '' : String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function render(title: string, rows: Row[]): string {
  const pass = rows.filter((r) => r.pass).length;
  const lines = [
    `## ${title}: ${pass}/${rows.length} as expected`,
    '',
    '| group | case | expected | observed | requests | failed | ok |',
    '|---|---|---|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${cell(r.group)} | ${cell(r.case)} | ${cell(r.expected)} | ${cell(r.observed)} | ` +
        `${cell(r.requests)} | ${cell(r.failures)} | ${r.pass ? 'yes' : 'NO'} |`,
    ),
  ];
  return lines.join('\n');
}
