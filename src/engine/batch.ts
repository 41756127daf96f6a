import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CommandFailed, script, type Command, type Host, type RunOptions, type RunResult } from '../host/host.js';

/*
 * Several commands in one round trip. Each SSH session costs a round trip and an ssh client start-up on the
 * deployer (tens of ms on a busy runner), so the steps that send independent commands at the same moment — the
 * lock, then the preflight and every read at an operation's start; the cleanups, the host log and the lock
 * release at its end — send them as one host script instead. The parts are the commands themselves, unchanged
 * (argv arrays, passed as positional parameters: the script text is a constant, no value is ever parsed as
 * code); a "group" runs its parts side by side, and a group starts only once the one before it has ended.
 */

/** what a part of a chained batch says when it was not run */
export const NOT_RUN = 'not run: an earlier command of the batch failed';

/** a chained part that was not run because a command before it failed (inTurn) */
export class NotRun extends Error {
  constructor() {
    super(NOT_RUN);
    this.name = 'NotRun';
  }
}

/**
 * $1 a marker no output contains, $2 the part that reads the batch's stdin (-1: none), $3 "chain" when a group
 * runs only if every part before it exited 0 (a part not run says so with exit code 125 and NOT_RUN on stderr);
 * then, per part: its group, its word count, its words. eval only ever sees "\${N}" references, never a value.
 * Every part's stdout, stderr and exit code are printed after all have ended, framed by the marker
 * (parseBatchOutput).
 */
export const BATCH = `
m=$1; si=$2; chain=$3; k=4; p=0; g=; pg=; n=0; skip=
d=$(mktemp -d) || exit 70
trap 'rm -rf -- "$d"' EXIT
if [ "$si" -ge 0 ]; then cat > "$d/in"; fi
while [ "$k" -le "$#" ]; do
  eval "pg=\\\${$k}"; k=$((k+1)); eval "n=\\\${$k}"
  if [ -n "$g" ] && [ "$pg" != "$g" ]; then
    wait
    if [ "$chain" = chain ] && [ -z "$skip" ]; then
      for f in "$d"/*.rc; do [ "$(cat -- "$f")" = 0 ] || skip=1; done
    fi
  fi
  g=$pg
  a=; j=$((k+1)); k=$((k+1+n))
  while [ "$j" -lt "$k" ]; do a="$a \\"\\\${$j}\\""; j=$((j+1)); done
  i=/dev/null; if [ "$p" = "$si" ]; then i=$d/in; fi
  if [ -n "$skip" ]; then
    : > "$d/$p.o"; echo '${NOT_RUN}' > "$d/$p.e"; echo 125 > "$d/$p.rc"
  else
    ( eval "$a" < "$i" > "$d/$p.o" 2> "$d/$p.e"; echo "$?" > "$d/$p.rc" ) &
  fi
  p=$((p+1))
done
wait
q=0
while [ "$q" -lt "$p" ]; do
  printf '%s out %s\\n' "$m" "$q"; cat -- "$d/$q.o"
  printf '\\n%s err %s\\n' "$m" "$q"; cat -- "$d/$q.e"
  printf '\\n%s rc %s %s\\n' "$m" "$q" "$(cat -- "$d/$q.rc" 2>/dev/null)"
  q=$((q+1))
done
`;

export interface BatchPart {
  argv: readonly string[];
  group: number;
  /** this part reads the batch's stdin (at most one part does) */
  stdin?: boolean;
}

/** the one host script that runs `parts` (BATCH); `chain`: a group runs only if everything before it succeeded */
export function batchCmd(marker: string, parts: BatchPart[], chain = false): Command {
  const si = parts.findIndex((p) => p.stdin);
  const words = parts.flatMap((p) => [String(p.group), String(p.argv.length), ...p.argv]);
  return script(BATCH, marker, String(si), chain ? 'chain' : 'all', ...words);
}

/** the parts of a BATCH command (what a modelled host runs one by one), undefined for any other command */
export function batchParts(
  argv: readonly string[],
): { marker: string; parts: BatchPart[]; chain: boolean } | undefined {
  if (argv[0] !== 'sh' || argv[2] !== BATCH) return undefined;
  const [marker = '', si = '-1', chain = 'all', ...rest] = argv.slice(4);
  const parts: BatchPart[] = [];
  for (let k = 0; k < rest.length;) {
    const group = Number(rest[k]);
    const n = Number(rest[k + 1]);
    parts.push({ group, argv: rest.slice(k + 2, k + 2 + n), stdin: parts.length === Number(si) });
    k += 2 + n;
  }
  return { marker, parts, chain: chain === 'chain' };
}

export function formatBatchOutput(marker: string, results: { code: number; stdout: string; stderr: string }[]): string {
  return results
    .map((r, q) => `${marker} out ${q}\n${r.stdout}\n${marker} err ${q}\n${r.stderr}\n${marker} rc ${q} ${r.code}\n`)
    .join('');
}

/** each part's stdout, stderr and exit code; undefined for a part the output does not frame (it never ended) */
export function parseBatchOutput(
  out: string,
  marker: string,
  count: number,
): ({ code: number; stdout: string; stderr: string } | undefined)[] {
  const results: ({ code: number; stdout: string; stderr: string } | undefined)[] = [];
  for (let q = 0; q < count; q++) {
    const open = `${marker} out ${q}\n`;
    const mid = `\n${marker} err ${q}\n`;
    const a = out.indexOf(open);
    const b = a < 0 ? -1 : out.indexOf(mid, a + open.length);
    const c = b < 0 ? -1 : out.indexOf(`\n${marker} rc ${q} `, b + mid.length);
    const rc = c < 0 ? undefined : /^(\d+)\n/.exec(out.slice(c + `\n${marker} rc ${q} `.length));
    results.push(
      rc
        ? { stdout: out.slice(a + open.length, b), stderr: out.slice(b + mid.length, c), code: Number(rc[1]) }
        : undefined,
    );
  }
  return results;
}

interface Pending extends BatchPart {
  command: Command;
  opts: RunOptions;
  resolve: (r: RunResult) => void;
  reject: (e: unknown) => void;
}

/** the groups of `together`, typed by what each returns */
type Results<T extends readonly (() => Promise<unknown>)[]> = { [K in keyof T]: ReturnType<T[K]> };

/**
 * A host that sends every command as it comes, except inside together(): there, the commands each group sends
 * before its first await are gathered and sent as one BATCH. Anything sent later goes its own way.
 */
export class BatchHost implements Host {
  private queue?: Pending[];
  private group = 0;
  /** commands sent on their own, outside together(): a step whose batch must have been the whole story checks this */
  sentAlone = 0;
  readonly stream?: Host['stream'];

  constructor(
    readonly inner: Host,
    private readonly redact: (s: string) => string = (s) => s,
  ) {
    if (inner.stream) this.stream = (c, o) => inner.stream!(c, o);
  }

  get name(): string {
    return this.inner.name;
  }

  get roundTrips(): number | undefined {
    return this.inner.roundTrips;
  }

  connect(): Promise<void> {
    return this.inner.connect?.() ?? Promise.resolve();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  run(command: Command, opts: RunOptions = {}): Promise<RunResult> {
    if (!this.queue || opts.stdin instanceof Readable) {
      this.sentAlone++;
      return this.inner.run(command, opts);
    }
    return new Promise((resolve, reject) =>
      this.queue!.push({
        command,
        opts,
        argv: command.argv,
        group: this.group,
        stdin: opts.stdin !== undefined,
        resolve,
        reject,
      }),
    );
  }

  /**
   * Starts each group in turn (synchronously) and sends what they asked for in one round trip; a group's
   * commands run on the host only after the previous group's have ended. Resolves with the groups' results.
   */
  together<T extends readonly (() => Promise<unknown>)[]>(...groups: T): Results<T> {
    return this.gather(false, groups);
  }

  /**
   * Like together(), but a group runs only if every command before it succeeded; the commands of a group that
   * did not run reject with NotRun. For a step whose next one must not start after a failure (a warm start and
   * the first probes of its health gate).
   */
  inTurn<T extends readonly (() => Promise<unknown>)[]>(...groups: T): Results<T> {
    return this.gather(true, groups);
  }

  private gather<T extends readonly (() => Promise<unknown>)[]>(chain: boolean, groups: T): Results<T> {
    this.queue = [];
    this.group = 0;
    const started = groups.map((g, i) => {
      this.group = i;
      // a group that throws before its first await fails on its own, like an async function would
      try {
        return g();
      } catch (e) {
        return Promise.reject(e);
      }
    });
    const parts = this.queue;
    this.queue = undefined;
    void this.send(parts, chain);
    return started as unknown as Results<T>;
  }

  private async send(parts: Pending[], chain: boolean): Promise<void> {
    if (parts.length === 0) return;
    if (parts.length === 1 || parts.filter((p) => p.stdin).length > 1) return this.oneByOne(parts, chain);
    const marker = `tgd-batch-${randomBytes(8).toString('hex')}`;
    const stdin = parts.find((p) => p.stdin)?.opts.stdin;
    const timeouts = parts.map((p) => p.opts.timeoutMs);
    const timeoutMs = timeouts.includes(undefined)
      ? undefined
      : Math.max(...(timeouts as number[])) * (Math.max(...parts.map((p) => p.group)) + 1);
    let r: RunResult;
    try {
      r = await this.inner.run(batchCmd(marker, parts, chain), { stdin, timeoutMs, check: false });
    } catch (e) {
      for (const p of parts) p.reject(e); // the connection itself failed: every part did
      return;
    }
    const results = parseBatchOutput(r.stdout, marker, parts.length);
    // nothing ran (the host could not make its scratch directory): the parts go the plain way
    if (results.every((x) => x === undefined) && !r.stdout.includes(marker)) return this.oneByOne(parts, chain);
    parts.forEach((p, q) => {
      const x = results[q] ?? { code: 1, stdout: '', stderr: `the batch ended before this command did: ${r.stderr}` };
      const res: RunResult = { ...x, durationMs: r.durationMs };
      if (chain && res.code === 125 && res.stderr.trim() === NOT_RUN) p.reject(new NotRun());
      else this.answer(p, res);
    });
  }

  /** the parts sent the plain way: a group's side by side, the groups in turn (chained: until one fails) */
  private async oneByOne(parts: Pending[], chain: boolean): Promise<void> {
    let failed = false;
    for (const g of [...new Set(parts.map((p) => p.group))]) {
      await Promise.all(
        parts
          .filter((p) => p.group === g)
          .map(async (p) => {
            if (failed) return p.reject(new NotRun());
            try {
              // chained, the check is applied once the failure is known, so later groups are not sent
              const r = await this.inner.run(p.command, chain ? { ...p.opts, check: false } : p.opts);
              failed ||= chain && r.code !== 0;
              this.answer(p, r);
            } catch (e) {
              failed = true;
              p.reject(e);
            }
          }),
      );
    }
  }

  /** a part's result as run() would have given it alone: a failure with check rejects, redacted */
  private answer(p: Pending, res: RunResult): void {
    if (res.code === 0 || p.opts.check === false) return p.resolve(res);
    const red = { ...res, stdout: this.redact(res.stdout), stderr: this.redact(res.stderr) };
    p.reject(new CommandFailed(p.argv, red, this.redact(p.argv.slice(0, 3).join(' ').slice(0, 120))));
  }
}

/** the operation's host as a BatchHost (wrapping it once) */
export function batching(host: Host, redact?: (s: string) => string): BatchHost {
  return host instanceof BatchHost ? host : new BatchHost(host, redact);
}
