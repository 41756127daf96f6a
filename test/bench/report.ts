/** The benches' printed tables: durations, aligned columns, and one row per load lane. */
import type { LaneSummary } from './load.js';

export function fmtMs(ms: number | undefined): string {
  return ms === undefined ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`;
}

/** the first column left-aligned, the others right-aligned, two spaces apart */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

export const LANE_HEADER = [
  'lane',
  'requests',
  'failed',
  'in windows',
  'p50 in',
  'p50 out',
  'p99 in',
  'p99 out',
  'failures by kind',
];

/** a lane's row under LANE_HEADER: "in" is inside the operations' windows, "out" outside them */
export function laneRow(l: LaneSummary): string[] {
  const failed = Object.values(l.failures).reduce((a, b) => a + b, 0);
  const kinds =
    Object.entries(l.failures)
      .map(([k, n]) => `${k}:${n}`)
      .join(' ') || '—';
  return [
    l.lane,
    String(l.requests),
    String(failed),
    String(l.failuresInWindows),
    fmtMs(l.inside.p50),
    fmtMs(l.outside.p50),
    fmtMs(l.inside.p99),
    fmtMs(l.outside.p99),
    kinds,
  ];
}
