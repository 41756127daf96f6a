/**
 * The job summary of an operation: what is live now, how long each phase took, and how to go back.
 *
 * core.summary writes what it is given verbatim and GitHub renders it as Markdown with HTML, so every
 * string that came from a user, the config, the host or an API is escaped here — as HTML, and with the
 * characters Markdown would act on turned into entities too, so a value cannot open a table cell, a code
 * span, a link or a mention. Values stay on one line: a blank line would end the HTML block and let the
 * rest be read as Markdown. A step's summary may not exceed 1 MiB, so every part has a size cap.
 * Every summary escaper lives here: escapeText for inline text, escapeCode for the action's <pre> text blocks.
 */
import { ExitCode } from '../errors.js';
import type { OperationReport } from '../engine/index.js';

export interface SummaryExtra {
  runUrl?: string;
  /** how to roll back, when the caller knows better than the default (e.g. the name of a rollback workflow) */
  rollbackHint?: string;
}

export const SUMMARY_LIMIT_BYTES = 1024 * 1024;

interface Caps {
  field: number;
  message: number;
  phases: number;
}

const GENEROUS: Caps = { field: 2_000, message: 20_000, phases: 200 };
const TIGHT: Caps = { field: 300, message: 2_000, phases: 40 };

export function renderSummary(report: OperationReport, extra: SummaryExtra = {}): string {
  for (const caps of [GENEROUS, TIGHT]) {
    const out = render(report, extra, caps);
    if (Buffer.byteLength(out, 'utf8') <= SUMMARY_LIMIT_BYTES) return out;
  }
  // unreachable with the caps above; kept so the limit holds whatever the caps become
  return truncateUtf8(render(report, extra, TIGHT), SUMMARY_LIMIT_BYTES);
}

function render(report: OperationReport, extra: SummaryExtra, caps: Caps): string {
  const rec = report.record;
  const env = text(report.environment, caps.field);
  const version = report.version ?? rec?.version;
  const short = version ? code(text(version.slice(0, 7), 7)) : '';
  const previous = report.previousVersion ?? rec?.previous_version;
  const dryRun = report.operation === 'plan' || !!rec?.flags.dry_run;

  const verb = report.operation === 'rollback' ? 'Rolled back' : 'Deployed';
  let heading: string;
  if (dryRun) heading = `🧪 Dry run for ${env}${short ? ` at ${short}` : ''}: ${report.ok ? 'plan ready' : 'failed'}`;
  else if (report.ok) heading = `✅ ${verb} ${short || 'nothing'} to ${env}`;
  else
    heading = `❌ ${report.operation === 'rollback' ? 'Rollback' : 'Deploy'} to ${env} failed${short ? ` at ${short}` : ''}`;

  const rows: [string, string][] = [];
  rows.push(['Environment', env]);
  if (version) rows.push(['Version', `${code(text(version.slice(0, 12), 12))} <sub>${text(version, 80)}</sub>`]);
  if (rec?.ref && rec.ref !== version) rows.push(['Requested as', code(text(rec.ref, caps.field))]);
  // a failed deploy's record names the colour that failed: the row shows only the one serving
  const colour = report.ok ? (report.colour ?? rec?.colour) : report.colour;
  if (colour) rows.push(['Colour', `${colour === 'blue' ? '🔵' : '🟢'} ${text(colour, 10)}`]);
  if (report.deploymentId) rows.push(['Deployment ID', code(text(report.deploymentId, 100))]);
  if (report.url) rows.push(['URL', link(report.url, caps.field)]);
  rows.push(['Duration', duration(report.durationMs)]);
  if (previous && report.ok) rows.push(['Previous version (rollback target)', code(text(previous.slice(0, 12), 12))]);
  if (rec?.snapshot) rows.push(['Database snapshot', code(text(rec.snapshot, caps.field))]);
  if (rec?.migrations) {
    const m = rec.migrations;
    rows.push([
      'Migrations',
      `${m.ran} ran${m.from !== undefined || m.to !== undefined ? ` (${m.from ?? '?'} → ${m.to ?? '?'})` : ''}`,
    ]);
  }
  const flags = [
    rec?.flags.skip_ci_check ? 'CI check skipped' : '',
    rec?.flags.skip_migrations ? 'migrations skipped' : '',
    rec?.flags.force ? 'forced' : '',
    dryRun ? 'dry run' : '',
  ].filter(Boolean);
  if (flags.length) rows.push(['Flags', `⚠️ ${flags.join(', ')}`]);
  if (!report.ok) rows.push(['Exit code', `${report.exitCode}${failureClass(report.exitCode)}`]);
  if (rec?.deployed_by) rows.push(['By', text(rec.deployed_by, caps.field)]);
  if (extra.runUrl) rows.push(['Run', link(extra.runUrl, caps.field)]);
  if (report.message) rows.push([report.ok ? 'Result' : 'Error', text(report.message, caps.message)]);

  const parts: string[] = [];
  parts.push(`## ${heading}`, '');
  parts.push(table(['', ''], rows, true), '');

  if (report.phases.length) {
    const shown = report.phases.slice(0, caps.phases);
    const phaseRows: [string, string, string][] = shown.map((p) => [
      text(p.name, 200),
      duration(p.ms),
      p.ok ? '✅' : '❌',
    ]);
    parts.push('### Phases', '');
    parts.push(table(['Phase', 'Duration', ''], phaseRows, false), '');
    if (report.phases.length > shown.length)
      parts.push(`<p>… and ${report.phases.length - shown.length} more phases</p>`, '');
  }

  if (report.plan?.length) {
    parts.push('### Plan', '');
    const lines = report.plan.slice(0, caps.phases).map((l) => text(l, caps.field));
    parts.push(`<pre>${lines.join('\n')}</pre>`, '');
  }

  const hint = rollbackHint(report, previous, extra, caps);
  if (hint) parts.push('### Rolling back', '', `<p>${hint}</p>`, '');
  return parts.join('\n');
}

function rollbackHint(report: OperationReport, previous: string | undefined, extra: SummaryExtra, caps: Caps): string {
  if (extra.rollbackHint) return text(extra.rollbackHint, caps.field);
  if (report.operation !== 'deploy' && report.operation !== 'rollback') return '';
  if (!report.ok) {
    switch (report.serving) {
      case 'none':
        return 'No version was serving before, and none serves now: there is nothing to roll back to. Fix the cause above and deploy again.';
      case 'new':
        return (
          'The new version is serving: the failure above came after the switch. Read it before deploying again; ' +
          '<code>command: rollback</code> returns to the previous good version, if there is one.'
        );
      case 'previous':
        return 'The previous version kept serving: nothing to roll back. Fix the cause above and deploy again.';
      default:
        return 'The operation stopped before it changed what serves: nothing to roll back. Fix the cause above and try again.';
    }
  }
  if (!previous) return 'This was the first deployment of this environment: there is no earlier version to return to.';
  const env = text(report.environment, caps.field);
  const prev = text(previous, 64);
  return (
    `To return to ${code(text(previous.slice(0, 7), 7))}, run this action with <code>command: rollback</code> and ` +
    `<code>environment: ${env}</code> (an empty version means the previous good one), or from a shell: ` +
    `<code>togather-deploy rollback ${env} --version ${prev}</code>`
  );
}

function table(head: string[], rows: string[][], firstIsHeader: boolean): string {
  const out: string[] = ['<table>'];
  if (head.some(Boolean)) out.push(`<tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>`);
  for (const row of rows) {
    out.push(
      `<tr>${row.map((cell, i) => (i === 0 && firstIsHeader ? `<th align="left">${cell}</th>` : `<td>${cell}</td>`)).join('')}</tr>`,
    );
  }
  out.push('</table>');
  return out.join('\n');
}

/**
 * Untrusted text → one line of inert HTML. Beyond & < > " ', the characters Markdown, tables and mentions
 * act on become numeric entities; newlines become <br>.
 */
export function escapeText(s: string): string {
  return (
    s
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')
      .replace(/[&<>"'`|*_[\]\\~@#!:]/g, (c) => `&#${c.charCodeAt(0)};`)
      .replace(/\n/g, '<br>')
  );
}

/**
 * Untrusted text → the content of a <pre><code> block: & < > " ' become entities and newlines stay, so the
 * block keeps its lines. Markdown does not act inside <pre>, and a blank line does not end it (only </pre> does).
 */
export function escapeCode(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function text(s: string, max: number): string {
  const chars = [...s];
  return escapeText(chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : s);
}

/** wraps already-escaped HTML */
function code(html: string): string {
  return `<code>${html}</code>`;
}

function link(url: string, max: number): string {
  let safe: URL | undefined;
  try {
    safe = new URL(url);
  } catch {
    safe = undefined;
  }
  if (!safe || (safe.protocol !== 'https:' && safe.protocol !== 'http:')) return text(url, max);
  const href = safe.href.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<a href="${href}">${text(safe.href, max)}</a>`;
}

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

function failureClass(exitCode: number): string {
  const name = Object.entries(ExitCode).find(([, v]) => v === exitCode)?.[0];
  return name ? ` (${name})` : '';
}

function truncateUtf8(s: string, maxBytes: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  return buf
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}
