/**
 * A scripted Host for driving the engine in unit tests, with a fake clock and a config of its own. Each
 * command is matched against the rules by its joined argv (an `sh -c` script's text included), the newest
 * matching rule answers, and anything unmatched succeeds with no output. Every command costs `costMs` of the
 * fake clock, so durations are real numbers; every command line is recorded.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, type ResolvedConfig } from '../../src/config/load.js';
import type { Clock, EngineContext } from '../../src/engine/context.js';
import { CommandFailed, type Command, type Host, type Local, type RunOptions, type RunResult } from '../../src/host/host.js';
import { Redactor } from '../../src/log/redact.js';

export type Answer = Partial<Omit<RunResult, 'durationMs'>>;
type Rule = { match: RegExp; answer: Answer | ((line: string, nth: number) => Answer); hits: number };

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
  private readonly rules: Rule[] = [];
  constructor(
    private readonly clock: FakeClock,
    private readonly costMs = 50,
  ) {}

  /** answers commands matching `match`; a function answer gets the command line and how many times the rule matched before */
  on(match: RegExp, answer: Rule['answer']): this {
    this.rules.unshift({ match, answer, hits: 0 });
    return this;
  }

  async run(command: Command, opts: RunOptions = {}): Promise<RunResult> {
    const line = command.argv.join(' ');
    this.ran.push(line);
    this.clock.t += this.costMs;
    const rule = this.rules.find((r) => r.match.test(line));
    const a = rule ? (typeof rule.answer === 'function' ? rule.answer(line, rule.hits++) : rule.answer) : {};
    const r: RunResult = { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '', durationMs: this.costMs };
    if (r.code !== 0 && opts.check !== false) throw new CommandFailed(command.argv, r, line.slice(0, 80));
    return r;
  }

  async close(): Promise<void> {}
}

/** nothing runs on the deployer's machine in these tests: a call is a test bug */
const noLocal: Local = {
  run: (c) => Promise.reject(new Error(`unexpected local command: ${c.argv.join(' ')}`)),
  stream: (c) => {
    throw new Error(`unexpected local stream: ${c.argv.join(' ')}`);
  },
};

export const ENV_FILE = 'ENVIRONMENT=staging\nDATABASE_URL=postgres://togather:pw-0123456789@db:5432/togather\nJWT_SECRET=jwt-0123456789abcdef\n';

/** staging of a minimal deployment.yml, merged with `over` at the top level */
export function fakeConfig(over: Record<string, unknown> = {}): ResolvedConfig {
  const dir = mkdtempSync(join(tmpdir(), 'fake-cfg-'));
  writeFileSync(join(dir, 'deployment.yml'), stringify({ app: { image: 'ghcr.io/togather/server' }, environments: { staging: { host: 'h.example', env_file: '.env' } }, ...over }));
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

export function fakeEngine(cfg: ResolvedConfig = fakeConfig()): FakeEngine {
  const clock = new FakeClock();
  const host = new ScriptedHost(clock);
  const said = { info: [] as string[], warn: [] as string[], error: [] as string[] };
  const ctx: EngineContext = {
    cfg,
    host,
    local: noLocal,
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
