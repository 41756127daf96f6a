import type { HealthConfig } from '../../config/schema.js';
import { DeployError } from '../../errors.js';
import { script, type Command } from '../../host/host.js';
import type { EngineContext } from '../context.js';
import { ENGINE_API, ENGINE_EXEC, execBody } from '../engine-api.js';
import type { Layout } from '../stack/layout.js';
import { short, type Colour, type HealthStatus } from '../types.js';

export interface ProbeResult {
  /** HTTP status, 0 when no answer */
  code: number;
  body: string;
  /** the app container: running, restarting, exited, absent … */
  state: string;
  exitCode?: number;
  restarts?: number;
  error?: string;
  /** 2xx answers in a row at the end of the round, and the probes it made */
  passes: number;
  probes: number;
}

export interface HealthVerdict {
  ok: boolean;
  status: HealthStatus;
  reason: string;
  gitCommit?: string;
  /** set when no amount of waiting can change this answer (see permanentFailure) */
  permanent?: PermanentFailure;
}

export interface PermanentFailure {
  /** the check and its message, as the app reports them */
  what: string;
  remedy: string;
}

type HealthChecks = Record<string, { status?: unknown; message?: unknown; details?: unknown }>;

/**
 * A failing check that waiting cannot fix: the migrations check on a dirty schema_migrations (a migration
 * stopped midway, and only an operator clears the flag). Narrow on purpose: calling a transient failure
 * permanent would fail a good deploy, so everything else (a database still starting, a slow dependency) is
 * waited for until start_timeout.
 */
export function permanentFailure(checks: HealthChecks | undefined): PermanentFailure | undefined {
  const c = checks?.migrations;
  if (!c || c.status !== 'fail') return undefined;
  const message = typeof c.message === 'string' ? c.message.slice(0, 120) : undefined;
  const flag = (c.details as { dirty?: unknown } | undefined)?.dirty;
  if (flag !== true && flag !== 'true' && !/\bdirty\b/i.test(message ?? '')) return undefined;
  return {
    what: `migrations failing (${message ?? 'schema_migrations is dirty'})`,
    remedy:
      'a migration stopped midway and left schema_migrations dirty: ' +
      'restore the snapshot taken before it (togather-deploy snapshot list, then snapshot restore) ' +
      'or repair the schema and mark its version clean with migrate force (docs/migrations.md), then deploy again',
  };
}

/*
 * One round trip for up to about a second of probing: the probes run inside the colour's gate (which shares the
 * app's network namespace, so the colour is probed on its own address, not through the proxy), app.health.interval
 * apart, until the answer was 2xx the needed number of times in a row or the round's probes are used up; the
 * last answer is printed, then the app container's state. The deployer judges that answer (health JSON, required
 * checks, commit) and starts another round when it is not enough. busybox wget prints the status line with -S
 * on stderr; its -T option segfaults in Debian's busybox-static 1.35, so the time limit comes from the timeout
 * applet instead. Headers and body are merged inside the container: merged by the docker client (which writes
 * the two streams apart) the body could land before the status line, on the same line, and a healthy answer
 * read as no answer.
 *
 * The round runs through the engine's API where it can (ENGINE_EXEC: ${10} is the exec's body, the same loop and
 * values, ${11} its time limit), else through `docker exec`; the container's state comes from the engine's API
 * (its first Status and ExitCode are the State's, which comes before any health log), else from docker inspect.
 *
 * PROBE_LOOP's own arguments: $1 probe timeout (s), $2 URL, $3 passes needed, $4 answers at most, $5 pause
 * between probes (s), $6 pause while nothing answers (s; default $5), $7 how many such probes count as one answer
 * towards the round's end (default 1). PROBE's: $1 app container, $2 gate container, then the loop's seven. An
 * app still booting refuses the connection at once: probing it at the shorter pause finds it listening sooner, and
 * the round still lasts about a second (a crash at boot is still seen within one). A probe the time limit ended
 * (the timeout applet's 124, or 143 from busybox's) counts as an answer, so an app that accepts and never answers
 * makes a round of at most $4 probes, which the round trip's time limit allows for.
 */
export const PROBE_LOOP = `
n=0; i=0; r=0; m=\${7:-1}
while :; do
  out=$(timeout "$1" wget -q -S -O - "$2" 2>&1); rc=$?
  case "$out" in
    *"HTTP/1."[01]" "[0-9][0-9][0-9]*) i=$((i+1)); p=$5;;
    *) if [ "$rc" -ge 124 ]; then i=$((i+1)); p=$5; else r=$((r+1)); p=\${6:-$5}; fi;;
  esac
  case "$out" in *"HTTP/1."[01]" 2"[0-9][0-9]*) n=$((n+1));; *) n=0;; esac
  if [ "$n" -ge "$3" ] || [ "$i" -ge "$4" ] || [ "$r" -ge $(($4 * m)) ]; then break; fi
  sleep "$p"
done
i=$((i+r))
echo "passes=$n probes=$i"
echo "$out"; echo; echo "rc=$rc"
`;

export const PROBE = `${ENGINE_API}${ENGINE_EXEC}
api_exec "$2" "\${10}" "\${11}"
[ $? -ne 1 ] || docker exec "$2" sh -c '${PROBE_LOOP}' togather-deploy "$3" "$4" "$5" "$6" "$7" "$8" "$9"
j=$(api "/containers/$1/json" 2>/dev/null | tr -d '\\n')
first() { printf '%s' "$j" | grep -o "\\"$1\\":$2" | head -n 1 | sed 's/^[^:]*://; s/"//g'; }
s="$(first Status '"[a-z]*"') $(first ExitCode '-*[0-9]*') $(first RestartCount '[0-9]*')"
case "$s" in
  [a-z]*" "[0-9-]*" "[0-9]*) ;;
  *) s=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' -- "$1" 2>/dev/null) || s=absent;;
esac
echo "state=$s"
`;

/** busybox wget -S output merged with the body: header lines start with two spaces, errors with "wget:" */
export function parseWgetOutput(lines: string[]): {
  code: number;
  headers: Record<string, string>;
  body: string;
  error?: string;
} {
  let code = 0;
  const headers: Record<string, string> = {};
  const body: string[] = [];
  let error: string | undefined;
  for (const line of lines) {
    const status = /^\s+HTTP\/1\.[01] (\d{3})/.exec(line);
    if (status) code = Number(status[1]);
    else if (/^ {2}[A-Za-z0-9-]+: /.test(line)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    } else if (/^wget: /.test(line)) {
      error = line.replace(/^wget: /, '');
      const m = /HTTP\/1\.[01] (\d{3})/.exec(line);
      if (m) code = Number(m[1]);
    } else if (line.trim()) body.push(line);
  }
  return { code, headers, body: body.join('\n'), error };
}

/**
 * A round's output: the counts, the last answer up to its `rc=` line, then `state=`. Without the `rc=` line the
 * output was cut short (the round trip's time limit, a dropped stream): whatever arrived is no answer, never a
 * healthy one. Without a `state=` line the container's state is unknown (not absent: only the script says that).
 */
export function parseProbe(stdout: string): ProbeResult {
  const lines = stdout.split('\n');
  const stateLine = lines.find((l) => l.startsWith('state='));
  const [state = 'unknown', exit, restarts] = (stateLine ?? '')
    .replace(/^state=/, '')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  const counts = /^passes=(\d+) probes=(\d+)$/m.exec(stdout);
  const probes = counts ? Number(counts[2]) : 1;
  const shared = {
    state,
    exitCode: exit !== undefined ? Number(exit) : undefined,
    restarts: restarts !== undefined ? Number(restarts) : undefined,
  };
  const rcIdx = lines.findIndex((l) => /^rc=\d+$/.test(l));
  if (rcIdx < 0) return { ...shared, code: 0, body: '', error: 'the round of probes was cut short', passes: 0, probes };
  const answer = lines.slice(0, rcIdx).filter((l) => !l.startsWith('state=') && !/^passes=\d+ probes=\d+$/.test(l));
  const w = parseWgetOutput(answer);
  return {
    ...shared,
    code: w.code,
    body: w.body,
    error: w.code === 0 ? (w.error ?? 'no answer') : w.error,
    passes: counts ? Number(counts[1]) : w.code >= 200 && w.code < 300 ? 1 : 0,
    probes,
  };
}

/** what the deploy knows the new colour must report, beyond the configured checks */
export interface HealthExpectation {
  /** the schema version the database was just migrated to (or found at): the `migrations` check must report it */
  schemaVersion?: number;
}

/** details.version of the `migrations` check: a number, null when the app says there is none, undefined when it does not say */
export function reportedSchemaVersion(check: unknown): number | null | undefined {
  const d = (check as { details?: { version?: unknown } } | undefined)?.details;
  if (!d || !('version' in d)) return undefined;
  if (d.version === null) return null;
  const n =
    typeof d.version === 'number'
      ? d.version
      : typeof d.version === 'string' && /^\d+$/.test(d.version)
        ? Number(d.version)
        : NaN;
  return Number.isNaN(n) ? undefined : n;
}

/** Judges one /health answer by the app's contract (contracts.md): HTTP code + status + required checks. */
export function judgeHealth(
  code: number,
  body: string,
  cfg: HealthConfig,
  expect: HealthExpectation = {},
): HealthVerdict {
  if (code === 0) return { ok: false, status: 'unknown', reason: 'no answer' };
  let doc: { status?: unknown; git_commit?: unknown; checks?: HealthChecks } = {};
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch {
    if (code >= 200 && code < 300 && cfg.required_checks.length === 0)
      return { ok: true, status: 'healthy', reason: `HTTP ${code} (no JSON body)` };
    return {
      ok: false,
      status: code >= 500 ? 'unhealthy' : 'unknown',
      reason: `HTTP ${code}, body is not the health JSON`,
    };
  }
  const status = typeof doc.status === 'string' ? doc.status : '';
  const gitCommit = typeof doc.git_commit === 'string' ? doc.git_commit : undefined;
  const permanent = permanentFailure(doc.checks);
  if (code < 200 || code >= 300) {
    // name the checks the app itself reports failing: "database failing (password authentication failed …)"
    // says more to an operator than the bare status code
    const said = Object.entries(doc.checks ?? {})
      .filter(([, c]) => c?.status === 'fail')
      .map(([name, c]) => `${name} failing${typeof c.message === 'string' ? ` (${c.message.slice(0, 120)})` : ''}`);
    return {
      ok: false,
      status: status === 'degraded' ? 'degraded' : 'unhealthy',
      reason: `HTTP ${code} status ${status || '?'}${said.length ? `: ${said.join(', ')}` : ''}`,
      gitCommit,
      permanent,
    };
  }
  const failing: string[] = [];
  for (const name of cfg.required_checks) {
    const c = doc.checks?.[name];
    if (!c) failing.push(`${name} missing`);
    else if (c.status === 'fail')
      failing.push(`${name} failing${typeof c.message === 'string' ? ` (${c.message.slice(0, 120)})` : ''}`);
  }
  if (expect.schemaVersion !== undefined) {
    const reported = reportedSchemaVersion(doc.checks?.migrations);
    if (reported !== undefined && reported !== expect.schemaVersion)
      failing.push(
        `migrations reports schema version ${reported ?? 'none'}, but the database was migrated to ${expect.schemaVersion}`,
      );
  }
  if (failing.length)
    return { ok: false, status: 'unhealthy', reason: `required checks: ${failing.join(', ')}`, gitCommit, permanent };
  if (status === 'healthy') return { ok: true, status: 'healthy', reason: 'healthy', gitCommit };
  if (status === 'degraded') {
    return cfg.allow_degraded
      ? { ok: true, status: 'degraded', reason: 'degraded (allowed by health.allow_degraded)', gitCommit }
      : { ok: false, status: 'degraded', reason: 'degraded (set health.allow_degraded to accept)', gitCommit };
  }
  return { ok: false, status: 'unhealthy', reason: `status "${status}"`, gitCommit, permanent };
}

export function commitMatches(reported: string | undefined, sha: string): boolean {
  if (!reported) return true; // an app that does not say is judged by health alone
  const r = reported.trim().toLowerCase();
  if (!/^[0-9a-f]{7,40}$/.test(r)) return true; // a version name, not a commit: nothing to compare
  return sha.startsWith(r);
}

/** the probe's time limit for the timeout applet: whole seconds, at least one */
const timeoutSeconds = (ms: number): string => String(Math.max(1, Math.ceil(ms / 1000)));

/** the pause between probes while the app does not answer at all (booting: its port refuses at once) */
const REFUSED_PAUSE_MS = 50;

/** probes one round makes at most: about a second's worth, and at least the passes needed */
export function probesPerRound(h: HealthConfig): number {
  return Math.min(50, Math.max(h.consecutive, Math.ceil(1000 / Math.max(h.interval, 20))));
}

/** one round of probes of a colour (PROBE), and how long its round trip may last */
export function probeCmd(
  h: HealthConfig,
  port: number,
  layout: Layout,
  colour: Colour,
): { cmd: Command; timeoutMs: number } {
  const n = probesPerRound(h);
  // the loop's own arguments, $1 … $7 inside it
  const loop = [
    timeoutSeconds(h.timeout),
    `http://127.0.0.1:${port}${h.path}`,
    String(h.consecutive),
    String(n),
    (h.interval / 1000).toFixed(3),
    (Math.min(h.interval, REFUSED_PAUSE_MS) / 1000).toFixed(3),
    String(Math.max(1, Math.round(h.interval / REFUSED_PAUSE_MS))),
  ];
  const timeoutMs = n * (h.timeout + h.interval) + 15_000;
  const body = execBody(script(PROBE_LOOP, ...loop));
  const limitS = String(Math.ceil((timeoutMs - 5_000) / 1000));
  return { cmd: script(PROBE, layout.app(colour), layout.gate(colour), ...loop, body, limitS), timeoutMs };
}

export async function probeColour(ctx: EngineContext, layout: Layout, colour: Colour): Promise<ProbeResult> {
  const p = probeCmd(ctx.cfg.config.app.health, ctx.cfg.config.app.port, layout, colour);
  const r = await ctx.host.run(p.cmd, { check: false, timeoutMs: p.timeoutMs });
  return parseProbe(r.stdout);
}

/**
 * Polls the new colour until it passes `consecutive` times in a row. Fails fast when the container has exited
 * or is restart-looping (a crash at boot shows in under a second), or when it gives an answer no wait can
 * change (permanentFailure) that many times in a row; else at start_timeout. `serving` says what the failure
 * leaves serving, for callers that switch (cutOver); the others say it themselves.
 */
export async function healthGate(
  ctx: EngineContext,
  layout: Layout,
  colour: Colour,
  sha: string,
  expect: HealthExpectation = {},
  serving?: string,
): Promise<HealthVerdict> {
  const h = ctx.cfg.config.app.health;
  const deadline = ctx.clock.now() + h.start_timeout;
  const leaves = serving ? `; ${serving}.` : '.';
  let stuck = 0;
  let last: HealthVerdict;
  let probes = 0;
  for (;;) {
    const p = await probeColour(ctx, layout, colour);
    probes += p.probes;
    if (
      p.state === 'exited' ||
      p.state === 'dead' ||
      (p.restarts ?? 0) > 0 ||
      p.state === 'restarting' ||
      p.state === 'absent'
    ) {
      const logs = await appLogs(ctx, layout, colour);
      const what =
        p.state === 'absent'
          ? 'does not exist'
          : `crashed (state ${p.state}, exit code ${p.exitCode ?? '?'}, ${p.restarts ?? 0} restarts)`;
      throw new DeployError(
        'health',
        `the new ${colour} colour ${what}${leaves}${logs ? `\n  last log lines:\n${logs}` : ''}`,
        'fix the release and deploy again; the logs above come from the failed container',
      );
    }
    // wget keeps no body of an error answer: read it raw, to know which checks fail and whether waiting can help
    const raw = p.error && p.code >= 400 ? await rawAnswer(ctx, layout, colour) : undefined;
    last = raw ? judgeHealth(raw.code, raw.body, h, expect) : judgeHealth(p.code, p.body, h, expect);
    if (last.ok && !commitMatches(last.gitCommit, sha)) {
      throw new DeployError(
        'health',
        `the new colour reports commit ${last.gitCommit}, not ${short(sha)}: the image is not the build of this commit`,
        'rebuild the image from this commit',
      );
    }
    const passes = last.ok ? p.passes : 0;
    stuck = last.permanent ? stuck + 1 : 0;
    if (passes >= h.consecutive) {
      ctx.reporter.info(`${colour} is ${last.status} after ${probes} probes`);
      return last;
    }
    if (last.permanent && stuck >= h.consecutive) {
      const logs = await appLogs(ctx, layout, colour);
      throw new DeployError(
        'health',
        `the new ${colour} colour reports what no wait can change: ${ctx.redactor.redact(last.permanent.what)}, ` +
          `${stuck} rounds of probes in a row${leaves}${logs ? `\n  last log lines:\n${logs}` : ''}`,
        last.permanent.remedy,
      );
    }
    if (ctx.clock.now() >= deadline) {
      const logs = await appLogs(ctx, layout, colour);
      const why = last.ok
        ? `it passed only ${passes} of the ${h.consecutive} probes in a row needed ` +
          `(${probes} probes in ${Math.round((ctx.clock.now() - deadline + h.start_timeout) / 1000)}s)`
        : raw
          ? last.reason
          : (p.error ?? last.reason);
      throw new DeployError(
        'health',
        `the new ${colour} colour did not become healthy within ${Math.round(h.start_timeout / 1000)}s: ` +
          `${ctx.redactor.redact(why)}${leaves}${logs ? `\n  last log lines:\n${logs}` : ''}`,
        'look at the app logs above; raise app.health.start_timeout only if the app is merely slow to start',
      );
    }
    await ctx.clock.sleep(h.interval);
  }
}

// the health answer whatever its status: a raw HTTP/1.0 request through busybox nc in the colour's gate. The
// request is written by nc's -e program, which then reads the answer: busybox nc closes the connection when its
// stdin ends, so a request piped into it loses any answer slower than that (a Node app's, seen on Docker 26).
export const RAW_GET = `req='printf "GET %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" "$0"; cat >&2'
docker exec "$1" sh -c 'timeout "$0" nc 127.0.0.1 "$2" -e sh -c "$3" "$1" 2>&1' "$2" "$3" "$4" "$req"`;

/** the health answer with its body whatever its status ("HTTP 503" with the checks that fail), if one can be read */
export async function rawAnswer(
  ctx: EngineContext,
  layout: Layout,
  colour: Colour,
): Promise<{ code: number; body: string } | undefined> {
  const h = ctx.cfg.config.app.health;
  const r = await ctx.host.run(
    script(RAW_GET, layout.gate(colour), timeoutSeconds(h.timeout), h.path, String(ctx.cfg.config.app.port)),
    { check: false, timeoutMs: h.timeout + 15_000 },
  );
  return parseRawHttp(r.stdout);
}

export function parseRawHttp(text: string): { code: number; body: string } | undefined {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  if (!m) return undefined;
  const at = text.indexOf('\r\n\r\n');
  return { code: Number(m[1]), body: at < 0 ? '' : text.slice(at + 4) };
}

export async function appLogs(ctx: EngineContext, layout: Layout, colour: Colour, lines = 15): Promise<string> {
  const r = await ctx.host.run(
    { argv: ['docker', 'logs', '--tail', String(lines), layout.app(colour)] },
    { check: false, timeoutMs: 15_000 },
  );
  const text = ctx.redactor.redact((r.stdout + r.stderr).trim());
  return text
    .split('\n')
    .slice(-lines)
    .map((l) => `    ${l.slice(0, 300)}`)
    .join('\n');
}
