/**
 * A scripted Host for driving the engine in unit tests, with a fake clock and a config of its own. Each
 * command is matched against the rules by its joined argv (an `sh -c` script's text included), the newest
 * matching rule answers, and anything unmatched goes to `fallback` (by default: success with no output).
 * Every command costs `costMs` of the fake clock, so durations are real numbers; every command line and its
 * stdin are recorded. FakeStack (below) is a fallback that models the host's stack, for whole operations.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { loadConfig, type ResolvedConfig } from '../../src/config/load.js';
import type { Clock, EngineContext } from '../../src/engine/context.js';
import { imageRef } from '../../src/engine/release/image.js';
import { batchParts, formatBatchOutput, NOT_RUN } from '../../src/engine/batch.js';
import { Layout } from '../../src/engine/stack/layout.js';
import { applyRecord, emptyState } from '../../src/engine/stack/state.js';
import type { Colour, DeploymentRecord, EnvironmentState } from '../../src/engine/types.js';
import { DeployError } from '../../src/errors.js';
import {
  CommandFailed,
  type Command,
  type Host,
  type Local,
  type RunOptions,
  type RunResult,
} from '../../src/host/host.js';
import { Redactor } from '../../src/log/redact.js';

export type Answer = Partial<Omit<RunResult, 'durationMs'>>;
type Rule = { match: RegExp; answer: Answer | ((line: string, nth: number, stdin: string) => Answer); hits: number };

export class FakeClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

export class ScriptedHost implements Host {
  readonly name = 'deploy@fake-host:22';
  readonly ran: string[] = [];
  /** each command's stdin, index for index with `ran`: '' for none; a stream is read to its end and kept in base64 */
  readonly stdin: string[] = [];
  /** the commands (indexes into `ran`) each BATCH carried: one round trip each */
  readonly batches: number[][] = [];
  /** answers what no rule matches */
  fallback: (line: string, stdin: string) => Answer = () => ({});
  private readonly rules: Rule[] = [];
  constructor(
    private readonly clock: FakeClock,
    private readonly costMs = 50,
  ) {}

  /** answers commands matching `match`; a function answer gets the command line, how many times the rule matched before, and the stdin */
  on(match: RegExp, answer: Rule['answer']): this {
    this.rules.unshift({ match, answer, hits: 0 });
    return this;
  }

  async run(command: Command, opts: RunOptions = {}): Promise<RunResult> {
    const batch = batchParts(command.argv);
    if (batch) return this.runBatch(batch, opts);
    const line = command.argv.join(' ');
    const i = this.ran.push(line) - 1;
    this.clock.t += this.costMs;
    // a string is recorded at once, so concurrent commands keep their order; a stream is consumed like docker load would
    this.stdin[i] =
      opts.stdin instanceof Readable ? await drain(opts.stdin) : opts.stdin === undefined ? '' : opts.stdin.toString();
    const rule = this.rules.find((r) => r.match.test(line));
    const a = rule
      ? typeof rule.answer === 'function'
        ? rule.answer(line, rule.hits++, this.stdin[i]!)
        : rule.answer
      : this.fallback(line, this.stdin[i]!);
    const r: RunResult = { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '', durationMs: this.costMs };
    if (r.code !== 0 && opts.check !== false) throw new CommandFailed(command.argv, r, line.slice(0, 80));
    return r;
  }

  /** a BATCH (engine/batch.ts): its parts run one by one as they would alone, a group after the other */
  private async runBatch(batch: NonNullable<ReturnType<typeof batchParts>>, opts: RunOptions): Promise<RunResult> {
    const results: RunResult[] = [];
    const carried: number[] = [];
    this.batches.push(carried);
    let failed = false;
    for (const g of [...new Set(batch.parts.map((p) => p.group))]) {
      const ps = batch.parts.map((p, i) => ({ p, i })).filter(({ p }) => p.group === g);
      await Promise.all(
        ps.map(async ({ p, i }) => {
          if (failed) {
            results[i] = { code: 125, stdout: '', stderr: `${NOT_RUN}\n`, durationMs: 0 };
            return;
          }
          carried.push(this.ran.length); // run() records the command before its first await
          results[i] = await this.run({ argv: p.argv }, { check: false, ...(p.stdin ? { stdin: opts.stdin } : {}) });
        }),
      );
      failed = batch.chain && results.some((r) => r && r.code !== 0);
    }
    return { code: 0, stdout: formatBatchOutput(batch.marker, results), stderr: '', durationMs: this.costMs };
  }

  async close(): Promise<void> {}
}

async function drain(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('base64');
}

/** nothing runs on the deployer's machine in these tests: a call is a test bug */
const noLocal: Local = {
  run: (c) => Promise.reject(new Error(`unexpected local command: ${c.argv.join(' ')}`)),
  stream: (c) => {
    throw new Error(`unexpected local stream: ${c.argv.join(' ')}`);
  },
};

/**
 * The runner's docker, for deploys that ship the image (docker save | docker load): it has every image, as after
 * a CI build, and `docker save` streams the image's name, so the host side knows what was loaded.
 */
export function fakeLocal(): Local & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    run: async (c) => {
      ran.push(c.argv.join(' '));
      if (c.argv[0] === 'docker' && c.argv[1] === 'image' && c.argv[2] === 'inspect')
        return { code: 0, stdout: 'sha256:local\n', stderr: '', durationMs: 1 };
      throw new Error(`unexpected local command: ${c.argv.join(' ')}`);
    },
    stream: (c) => {
      ran.push(c.argv.join(' '));
      if (c.argv[0] !== 'docker' || c.argv[1] !== 'save')
        throw new Error(`unexpected local stream: ${c.argv.join(' ')}`);
      return {
        stdout: Readable.from([Buffer.from(c.argv[2]!)]),
        done: Promise.resolve({ code: 0, stdout: '', stderr: '', durationMs: 1 }),
      };
    },
  };
}

export const ENV_FILE =
  'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:pw-0123456789@db:5432/togather\nJWT_SECRET=jwt-0123456789abcdef\n';

/** staging of a minimal deployment.yml, merged with `over` at the top level */
export function fakeConfig(over: Record<string, unknown> = {}): ResolvedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'fake-cfg-'));
  writeFileSync(
    join(dir, 'deployment.yml'),
    stringify({
      app: { image: 'ghcr.io/togather/server' },
      environments: { staging: { host: 'h.example', env_file: '.env' } },
      ...over,
    }),
  );
  writeFileSync(join(dir, '.env'), ENV_FILE);
  chmodSync(join(dir, '.env'), 0o600);
  return loadConfig({ configPath: join(dir, 'deployment.yml'), environment: 'staging', redactor: new Redactor() });
}

export interface FakeEngine {
  ctx: EngineContext;
  host: ScriptedHost;
  clock: FakeClock;
  said: { info: string[]; warn: string[]; error: string[] };
}

export function fakeEngine(cfg: ResolvedConfig = fakeConfig(), local: Local = noLocal): FakeEngine {
  const clock = new FakeClock();
  const host = new ScriptedHost(clock);
  const said = { info: [] as string[], warn: [] as string[], error: [] as string[] };
  const ctx: EngineContext = {
    cfg,
    host,
    local,
    reporter: {
      phase: (_name, fn) => fn(),
      info: (m) => void said.info.push(m),
      warn: (m) => void said.warn.push(m),
      error: (m) => void said.error.push(m),
      debug: () => undefined,
    },
    redactor: new Redactor(),
    clock,
    actor: 'tester@unit',
    dryRun: false,
  };
  return { ctx, host, clock, said };
}

// --- A model of the stack on the host, for whole deploy and rollback runs ------------------------------------

/** a name for each command the engine sends, so tests read and assert the sequence: 'lock acquire', 'flag on green' … */
const OPS: [RegExp, string | ((m: RegExpExecArray) => string)][] = [
  [/compose2=/, 'preflight'],
  [/then cat > "\$1\/info\.json"/, 'lock acquire'],
  [/\.released\./, 'lock release'],
  [/\.takeover\./, 'lock takeover'],
  [/touch -- "\$1\/heartbeat"/, 'lock heartbeat'],
  [/then cat -- "\$1"; else exit 3; fi togather-deploy \S+\/state\.json$/, 'state read'],
  [/IFS= read -r line/, 'state write'],
  [/\.gate=\$\(st /, 'stack inspect'],
  [/^docker image inspect --format \{\{\.Id\}\} /, 'image inspect'],
  [/^docker image inspect --format \. /, 'db image inspect'],
  [/^docker load/, 'image load'],
  [/^docker pull/, 'image pull'],
  [/docker image ls --format '\{\{\.Tag\}\}' "\$1"/, 'image list'],
  [/^docker image ls /, 'prune list'],
  [/^docker image rm /, 'image rm'],
  [/^docker ps -a /, 'container list'],
  [/pwd -P/, 'neighbours'],
  [/docker cp -- "\$hold:\$src"/, 'migrations extract'],
  [/--label org\.togather\.role=release-hold/, 'hold'],
  [/^docker rm -f \S+-release-hold$/, 'hold rm'],
  [/base64 -d/, 'files write'],
  [
    /^docker(?:-compose| compose) .* up -d (.*)$/,
    (m) =>
      `up ${m[1]!
        .split(' ')
        .filter((a) => !a.startsWith('-'))
        .join(' ')}`,
  ],
  [/touch -- "\$1\/ready"\nif \[ -n "\$2" \][^]* togather-deploy \S+\/gates\/(blue|green) /, (m) => `switch ${m[1]}`],
  [/touch -- "\$1\/ready" togather-deploy \S+\/gates\/(blue|green)$/, (m) => `flag on ${m[1]}`],
  [/rm -f -- "\$1\/ready" togather-deploy \S+\/gates\/(blue|green)$/, (m) => `flag off ${m[1]}`],
  [/echo "state=\$s"[^]* togather-deploy \S+-app-(blue|green) /, (m) => `probe ${m[1]}`],
  [/nc 127\.0\.0\.1[^]* togather-deploy \S+-gate-(blue|green) /, (m) => `raw ${m[1]}`],
  [/^docker logs --tail \d+ \S+-app-(blue|green)$/, (m) => `logs ${m[1]}`],
  [/echo "--- \$i"[^]* togather-deploy \S+-gate-(blue|green) /, (m) => `verify ${m[1]}`],
  [/^docker stop -t \d+ \S+-app-(blue|green)$/, (m) => `stop ${m[1]}`],
  [/^sh -c # docker start "\$1"[^]* togather-deploy \S+-app-(blue|green)$/, (m) => `start ${m[1]}`],
  [/cat >> "\$1" togather-deploy \S+\/logs\/\S+\.jsonl$/, 'host log'],
];

export function opOf(line: string): string {
  for (const [re, name] of OPS) {
    const m = re.exec(line);
    if (m) return typeof name === 'string' ? name : name(m);
  }
  return `other: ${line.slice(0, 60)}`;
}

interface App {
  state: 'running' | 'exited' | 'absent';
  image?: string;
}

const short = (ref: string | undefined) => /:([0-9a-f]{7})[0-9a-f]{33}$/.exec(ref ?? '')?.[1] ?? 'unknown';

/**
 * The host as the engine sees it, answering the fake's unmatched commands: the proxy's gate flags, the apps of
 * both colours, the lock directory, state.json and history.jsonl, the images. Commands change it as on a real
 * host (a flag touch routes, compose up starts the image provision wrote to .env, docker stop stops), so a test
 * reads the outcome here and the sequence in `ops`. The base services (db, proxy, gates) already run.
 */
export class FakeStack {
  readonly layout: Layout;
  readonly apps: Record<Colour, App> = { blue: { state: 'absent' }, green: { state: 'absent' } };
  readonly flags: Record<Colour, boolean> = { blue: false, green: false };
  lockHeld = false;
  /** state.json as last written */
  state?: EnvironmentState;
  /** history.jsonl, oldest first */
  readonly history: DeploymentRecord[] = [];
  readonly images = new Set<string>();
  /** the compose .env provision wrote last: it names each colour's image */
  private env: Record<string, string> = {};
  private readonly failures = new Map<string, { answer: Answer; times: number }>();

  constructor(readonly e: FakeEngine) {
    this.layout = new Layout(e.ctx.cfg);
    e.host.fallback = (line, stdin) => this.answer(line, stdin);
  }

  /** every command so far by its op name, index for index with host.ran */
  get ops(): string[] {
    return this.e.host.ran.map(opOf);
  }

  /** the ops each round trip that carried several commands carried */
  get batchedOps(): string[][] {
    const ops = this.ops;
    return this.e.host.batches.map((b) => b.map((i) => ops[i]!));
  }

  ref(sha: string): string {
    return imageRef(this.e.ctx.cfg.config.app.image, sha);
  }

  /** `sha` serves from `colour` as its deploy leaves it: routed, recorded, the colour that served before stopped and kept */
  serving(sha: string, colour: Colour): this {
    const other: Colour = colour === 'blue' ? 'green' : 'blue';
    if (this.apps[other].state === 'running') this.apps[other].state = 'exited';
    this.flags[other] = false;
    this.apps[colour] = { state: 'running', image: this.ref(sha) };
    this.flags[colour] = true;
    this.images.add(this.ref(sha));
    const rec: DeploymentRecord = {
      id: `seed-${this.history.length}`,
      kind: 'deploy',
      environment: this.e.ctx.cfg.environment,
      version: sha,
      image: this.ref(sha),
      colour,
      deployed_at: new Date(this.e.clock.now()).toISOString(),
      deployed_by: 'seed',
      status: 'active',
      health_status: 'healthy',
      phases: [],
      flags: {},
    };
    this.history.push(rec);
    this.state = applyRecord(this.state ?? emptyState(rec.environment), rec, 20);
    return this;
  }

  /** the next `times` commands named `op` (see opOf) get `answer` and change nothing */
  fail(op: string, answer: Answer = { code: 1, stderr: `${op}: injected failure` }, times = Infinity): this {
    this.failures.set(op, { answer, times });
    return this;
  }

  private answer(line: string, stdin: string): Answer {
    const op = opOf(line);
    const failure = this.failures.get(op);
    if (failure && failure.times-- > 0) return failure.answer;
    const [verb = '', arg = ''] = op.split(' ').slice(-2);
    const c = arg.replace(/^app-/, '') as Colour;
    switch (op) {
      case 'preflight':
        return {
          stdout:
            'docker=26.1.5\ncompose2=2.26.1\nfree_kb=99999999\ndocker_free_kb=99999999\ndocker_host=unix:///var/run/docker.sock\n',
        };
      case 'lock acquire':
        if (this.lockHeld) return { code: 4, stdout: '\nheartbeat_age=0\ndir_mtime=1\n' };
        this.lockHeld = true;
        return {};
      case 'lock release':
        if (!this.lockHeld) return { code: 5 };
        this.lockHeld = false;
        return {};
      case 'state read':
        return this.state ? { stdout: JSON.stringify(this.state) } : { code: 3 };
      case 'state write': {
        const [record, ...rest] = stdin.split('\n');
        this.history.push(JSON.parse(record!) as DeploymentRecord);
        this.state = JSON.parse(rest.join('\n')) as EnvironmentState;
        return {};
      }
      case 'stack inspect':
        return { stdout: this.inspect() };
      case 'image inspect':
        return this.images.has(line.split(' ').at(-1)!)
          ? { stdout: 'sha256:1\n' }
          : { code: 1, stderr: 'No such image' };
      case 'image load':
        this.images.add(gunzipSync(Buffer.from(stdin, 'base64')).toString());
        return {};
      case 'image pull':
        this.images.add(line.split(' ').at(-1)!);
        return {};
      case 'image list':
        return { stdout: [...this.images].map((r) => r.split(':').at(-1)).join('\n') };
      case 'migrations extract':
        return { code: 3 }; // the release image has no migrations directory: the database is not touched
      case 'files write':
        this.env = envOf(stdin) ?? this.env;
        return {};
    }
    if (verb === 'on' || verb === 'off') this.flags[c] = verb === 'on';
    else if (verb === 'up' && (c === 'blue' || c === 'green'))
      this.apps[c] = { state: 'running', image: this.env[`TOGATHER_APP_IMAGE_${c.toUpperCase()}`] };
    else if (verb === 'stop' && this.apps[c].state !== 'absent') this.apps[c].state = 'exited';
    else if (verb === 'start') {
      if (this.apps[c].state === 'absent') return { code: 1, stderr: `No such container: ${this.layout.app(c)}` };
      this.apps[c].state = 'running';
    } else if (verb === 'probe') return { stdout: this.probe(c) };
    else if (verb === 'verify') return { stdout: this.throughProxy() };
    else if (verb === 'switch') {
      // the new flag on and, when the command names the old colour's flag directory, that one off
      this.flags[c] = true;
      const other: Colour = c === 'blue' ? 'green' : 'blue';
      if (line.includes(`/gates/${other} `)) this.flags[other] = false;
      return { stdout: this.throughProxy() };
    }
    return {};
  }

  private inspect(): string {
    const app = (c: Colour) =>
      this.apps[c].state === 'absent' ? 'absent' : `${this.apps[c].state} ${this.apps[c].image}`;
    const colour = (c: Colour) =>
      `${c}.gate=running gate\n${c}.app=${app(c)}\n${c}.flag=${this.flags[c] ? 'on' : 'off'}\n`;
    return `${colour('blue')}${colour('green')}caddy=running caddy\ndb=running postgres\nkeeper=running keeper\n`;
  }

  /** the app answers /health with the commit of the image it runs; a stopped one is a crash */
  private probe(c: Colour): string {
    const a = this.apps[c];
    if (a.state === 'absent') return 'state=absent\n\nrc=1\n';
    if (a.state !== 'running') return 'state=exited 1 0\n\nrc=1\n';
    return `passes=9 probes=9\n  HTTP/1.1 200 OK\n{"status":"healthy","git_commit":"${short(a.image)}","checks":{}}\n\nrc=0\nstate=running 0 0\n`;
  }

  /** Caddy's `lb_policy first`: the first colour (blue, then green) whose flag is on and whose app runs */
  private throughProxy(): string {
    const to = (['blue', 'green'] as const).find((c) => this.flags[c] && this.apps[c].state === 'running');
    const one = to
      ? `  HTTP/1.1 200 OK\n  X-Togather-Upstream: app-${to}:8080\n{"git_commit":"${short(this.apps[to].image)}"}\n`
      : '  HTTP/1.1 502 Bad Gateway\n';
    return [1, 2, 3].map((i) => `--- ${i}\n${one}`).join('');
  }

  /** the colour the proxy routes to, as the engine itself judges it: flag on and app running */
  get routed(): Colour[] {
    return (['blue', 'green'] as const).filter((c) => this.flags[c] && this.apps[c].state === 'running');
  }
}

/** the compose .env out of provision's file upload ("name mode base64" lines) */
function envOf(upload: string): Record<string, string> | undefined {
  const line = upload.split('\n').find((l) => l.startsWith('.env '));
  if (!line) return undefined;
  const text = Buffer.from(line.split(' ')[2]!, 'base64').toString();
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** a fresh modelled host whose runner has every image: nothing deployed yet, the base services up */
export function fakeStack(): FakeStack {
  return new FakeStack(fakeEngine(fakeConfig(), fakeLocal()));
}

/** the DeployError an operation fails with; a pass or another error fails the test */
export async function failsWith(operation: Promise<unknown>): Promise<DeployError> {
  const err = await operation.then(
    () => assert.fail('the operation passed'),
    (x: unknown) => x,
  );
  assert.ok(err instanceof DeployError, String(err));
  return err;
}

// --- Assertions on the sequence -------------------------------------------------------------------------------

type OpMatch = string | RegExp;
const hit = (op: string, m: OpMatch) => (typeof m === 'string' ? op === m : m.test(op));
const numbered = (ops: string[]) => ops.map((o, i) => `${i}:${o}`).join(', ');

/** every op matching `earlier` comes before every op matching `later`; both must occur */
export function assertBefore(ops: string[], earlier: OpMatch, later: OpMatch, why: string): void {
  const last = ops.reduce((at, o, i) => (hit(o, earlier) ? i : at), -1);
  const first = ops.findIndex((o) => hit(o, later));
  assert.ok(last >= 0, `${why}: no '${earlier}' was sent\n  ops: ${numbered(ops)}`);
  assert.ok(first >= 0, `${why}: no '${later}' was sent\n  ops: ${numbered(ops)}`);
  assert.ok(
    last < first,
    `${why}: '${ops[last]}' (#${last}) came after '${ops[first]}' (#${first})\n  ops: ${numbered(ops)}`,
  );
}

/** no op matching `m` was sent from index `from` on */
export function assertNone(ops: string[], m: OpMatch, why: string, from = 0): void {
  const i = ops.findIndex((o, j) => j >= from && hit(o, m));
  assert.equal(i, -1, `${why}: '${ops[i]}' was sent (#${i})\n  ops: ${numbered(ops)}`);
}

/** the lock was taken once and released once, and the release was the run's last command: nothing ran unlocked */
export function assertLockReleasedLast(stack: FakeStack): void {
  const ops = stack.ops;
  const times = (op: string) => ops.filter((o) => o === op).length;
  assert.equal(
    times('lock acquire'),
    1,
    `the lock is taken once, not ${times('lock acquire')} times\n  ops: ${numbered(ops)}`,
  );
  assert.equal(
    times('lock release'),
    1,
    `the lock is released once, not ${times('lock release')} times\n  ops: ${numbered(ops)}`,
  );
  assert.equal(ops.at(-1), 'lock release', `the lock's release is the last command\n  ops: ${numbered(ops)}`);
  assert.equal(stack.lockHeld, false, 'the lock directory is gone');
}
