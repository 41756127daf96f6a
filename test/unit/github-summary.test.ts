import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderSummary, escapeCode, escapeText, SUMMARY_LIMIT_BYTES } from '../../src/github/summary.js';
import type { DeploymentRecord, OperationReport } from '../../src/engine/types.js';

const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const PREV = '1b2e3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c';

function record(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    id: '01JHZ3W8X5Q2C4V6B8N0M2K4J6',
    kind: 'deploy',
    environment: 'production',
    version: SHA,
    image: 'ghcr.io/togather/server:9fceb02',
    colour: 'green',
    deployed_at: '2026-01-15T12:00:00Z',
    deployed_by: 'octocat (GitHub Actions run 42)',
    status: 'active',
    health_status: 'healthy',
    previous_version: PREV,
    phases: [],
    flags: {},
    snapshot: 'togather_20260115_120000_9fceb02.sql.gz',
    migrations: { from: 41, to: 43, ran: 2 },
    ...over,
  };
}

function report(over: Partial<OperationReport> = {}): OperationReport {
  return {
    operation: 'deploy',
    ok: true,
    exitCode: 0,
    environment: 'production',
    deploymentId: '01JHZ3W8X5Q2C4V6B8N0M2K4J6',
    version: SHA,
    colour: 'green',
    previousVersion: PREV,
    url: 'https://togather.example.org',
    durationMs: 83_400,
    phases: [
      { name: 'CI check', ms: 1_200, ok: true },
      { name: 'health gate', ms: 14_050, ok: true },
      { name: 'switch', ms: 640, ok: true },
    ],
    message: 'green is live',
    record: record(),
    ...over,
  };
}

/** the HTML table must survive as one HTML block: no blank line between <table> and </table> */
function assertTablesIntact(md: string): void {
  for (const m of md.matchAll(/<table>[\s\S]*?<\/table>/g))
    assert.ok(!/\n\s*\n/.test(m[0]), `blank line inside a table:\n${m[0]}`);
  assert.equal((md.match(/<table>/g) ?? []).length, (md.match(/<\/table>/g) ?? []).length);
}

test('a successful deploy: environment, short SHA, colour, phases with durations, snapshot, rollback target and how', () => {
  const md = renderSummary(report(), { runUrl: 'https://github.com/togather/server/actions/runs/42' });
  assert.match(md, /^## ✅ Deployed <code>9fceb02<\/code> to production\n/);
  assert.match(md, /<th align="left">Environment<\/th><td>production<\/td>/);
  assert.match(md, /<code>9fceb02d0ae5<\/code>/);
  assert.match(md, /🟢 green/);
  assert.match(md, /<td>1 min 23 s<\/td>/);
  assert.match(md, /<tr><td>health gate<\/td><td>14\.1 s<\/td><td>✅<\/td><\/tr>/);
  assert.match(md, /<tr><td>switch<\/td><td>640 ms<\/td>/);
  assert.match(md, /Database snapshot<\/th><td><code>togather&#95;20260115&#95;120000&#95;9fceb02\.sql\.gz<\/code>/);
  assert.match(md, /Previous version \(rollback target\)<\/th><td><code>1b2e3a4c5d6e<\/code>/);
  assert.match(md, /2 ran \(41 → 43\)/);
  assert.match(md, /### Rolling back/);
  assert.match(md, /togather-deploy rollback production --version 1b2e3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c/);
  assert.match(md, /<a href="https:\/\/github\.com\/togather\/server\/actions\/runs\/42">/);
  assert.match(md, /<a href="https:\/\/togather\.example\.org\/">/);
  assertTablesIntact(md);
});

test('a failed deploy says so, with the exit code class, and that the old version kept serving', () => {
  const md = renderSummary(
    report({
      ok: false,
      exitCode: 10,
      colour: undefined,
      message: 'health gate failed: /health answered 503',
      record: undefined,
      serving: 'previous',
    }),
  );
  assert.match(md, /^## ❌ Deploy to production failed at <code>9fceb02<\/code>/);
  assert.match(md, /Exit code<\/th><td>10 \(health\)<\/td>/);
  assert.match(md, /<th align="left">Error<\/th><td>health gate failed&#58; \/health answered 503<\/td>/);
  assert.match(md, /previous version kept serving/);
});

test('a failed deploy says what serves: nothing, the new version after a late failure, or unknown before the host was read', () => {
  const failed = (serving: OperationReport['serving']) =>
    renderSummary(
      report({
        ok: false,
        exitCode: 7,
        colour: undefined,
        message: 'x',
        record: record({ status: 'failed' }),
        serving,
      }),
    );
  assert.match(failed('none'), /No version was serving before, and none serves now/);
  assert.match(failed('new'), /The new version is serving: the failure above came after the switch/);
  assert.match(failed(undefined), /stopped before it changed what serves/);
  for (const s of ['none', 'new', undefined] as const) assert.doesNotMatch(failed(s), /kept serving/);
  // the failed record names the colour that failed, and its previous version is no rollback target
  assert.doesNotMatch(failed('none'), /🟢|rollback target/);
});

test('a first deploy has no rollback target; a caller hint replaces the default', () => {
  let md = renderSummary(report({ previousVersion: undefined, record: record({ previous_version: undefined }) }));
  assert.match(md, /first deployment of this environment/);
  md = renderSummary(report(), { rollbackHint: 'Run the "Rollback production" workflow' });
  assert.match(md, /<p>Run the &#34;Rollback production&#34; workflow<\/p>/);
  assert.doesNotMatch(md, /togather-deploy rollback/);
});

test('flags (skipped CI, dry run) are shown as warnings', () => {
  const md = renderSummary(
    report({
      operation: 'plan',
      record: record({ flags: { skip_ci_check: true, dry_run: true } }),
      plan: ['docker compose up -d green'],
    }),
  );
  assert.match(md, /^## 🧪 Dry run for production/);
  assert.match(md, /⚠️ CI check skipped, dry run/);
  assert.match(md, /<pre>docker compose up -d green<\/pre>/);
});

test('hostile strings are inert: <script>, pipes, backticks, newlines, mentions, markdown links', () => {
  const evil =
    '<script>alert(1)</script> | `rm -rf` **bold** [x](javascript:alert(1)) @org/team #1\n\n## injected\r\n<img src=x onerror=alert(1)>';
  const md = renderSummary(
    report({
      environment: `prod<script>`,
      message: evil,
      url: 'javascript:alert(1)',
      phases: [{ name: evil, ms: 5, ok: false }],
      record: record({ snapshot: evil, deployed_by: evil, ref: evil }),
      plan: [evil],
    }),
    { runUrl: 'https://github.com/x/y/actions/runs/1"><script>', rollbackHint: evil },
  );
  assert.ok(!/<script/i.test(md), 'a raw <script> tag survived');
  assert.ok(!/<img/i.test(md), 'a raw <img> tag survived');
  assert.ok(!md.includes('`'), 'a raw backtick survived');
  assert.ok(!md.includes('|'), 'a raw pipe survived');
  assert.ok(!md.includes('**'), 'raw markdown emphasis survived');
  assert.ok(!md.includes('](javascript'), 'a markdown link survived');
  assert.ok(!md.includes('@org'), 'a mention survived');
  assert.ok(!/^#+ injected/m.test(md), 'an injected heading reached the start of a line');
  assert.ok(!md.includes('href="javascript'), 'a javascript: URL became a link');
  // the run URL is a real https URL, escaped inside the attribute
  assert.match(md, /<a href="https:\/\/github\.com\/x\/y\/actions\/runs\/1%22%3E%3Cscript%3E">/);
  assertTablesIntact(md);
  // every line that is not ours starts inside a tag or a table row
  for (const line of md.split('\n')) assert.ok(line === '' || /^(##|###|<)/.test(line), `stray line: ${line}`);
});

test('escapeText keeps plain text readable and turns newlines into <br>', () => {
  assert.equal(escapeText('green is live'), 'green is live');
  assert.equal(escapeText('a\nb\r\nc'), 'a<br>b<br>c');
  assert.equal(escapeText('a & b < c'), 'a &amp; b &lt; c'.replace('&amp;', '&#38;').replace('&lt;', '&#60;'));
});

test("escapeCode keeps a code block's lines and leaves no tag or attribute quote to close its <pre>", () => {
  assert.equal(escapeCode('current: abc\n\ncan roll back to:'), 'current: abc\n\ncan roll back to:');
  assert.equal(
    escapeCode(`</code></pre><script>x="1" & 'y'</script>`),
    '&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;x=&quot;1&quot; &amp; &#39;y&#39;&lt;/script&gt;',
  );
});

test('the summary stays under 1 MiB whatever the report holds', () => {
  const huge = '<|`'.repeat(400_000);
  const md = renderSummary(
    report({
      message: huge,
      phases: Array.from({ length: 5_000 }, (_, i) => ({ name: `${huge.slice(0, 5_000)}${i}`, ms: i, ok: true })),
      plan: Array.from({ length: 5_000 }, () => huge.slice(0, 10_000)),
      record: record({ snapshot: huge, deployed_by: huge }),
    }),
    { rollbackHint: huge },
  );
  assert.ok(Buffer.byteLength(md) <= SUMMARY_LIMIT_BYTES, `${Buffer.byteLength(md)} bytes`);
  assert.match(md, /… and \d+ more phases/);
  assertTablesIntact(md);
});
