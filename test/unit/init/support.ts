// Shared by the init tests: an operator's repository in a temp dir, a host key made with ssh-keygen, a fake
// scanner that answers the way ssh-keyscan does, and a recording terminal.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { initCommand, type InitIo, type InitOptions } from '../../../src/init/command.js';

export interface HostKeyFixture {
  /** "ssh-ed25519 AAAA…" */
  pub: string;
  /** as `ssh-keygen -lf` prints it */
  fingerprint: string;
}

/** a real key pair made by ssh-keygen; its fingerprint as ssh-keygen itself computes it */
export function makeHostKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): HostKeyFixture {
  const dir = mkdtempSync(join(tmpdir(), 'tgd-init-key-'));
  const file = join(dir, 'key');
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
  const pub = readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  return { pub, fingerprint };
}

/** the key of every host but 203.0.113.10 */
export const HOST_KEY = makeHostKey();
/** the key of 203.0.113.10 (FULL's production): two servers, two keys */
export const PROD_KEY = makeHostKey();
const KEYS_BY_HOST: Record<string, HostKeyFixture> = { '203.0.113.10': PROD_KEY };

export function emptyRepo(): string {
  return mkdtempSync(join(tmpdir(), 'tgd-init-'));
}

export interface Run {
  code: number;
  out: string[];
  err: string[];
  scans: string[];
  questions: string[];
}

export interface RunOptions {
  /** keys each host answers with (default: PROD_KEY for 203.0.113.10, HOST_KEY for every other host) */
  keys?: (host: string) => HostKeyFixture[];
  /** the scanner fails with this message, as when the host is unreachable */
  scanFails?: string;
  /** the terminal's answers, by a part of the question; undefined: nobody can answer */
  answers?: Record<string, string>;
}

/** init with flags as the CLI would pass them; a fake scanner answering like ssh-keyscan */
export async function runInit(dir: string, flags: Partial<InitOptions>, opts: RunOptions = {}): Promise<Run> {
  const run: Run = { code: -1, out: [], err: [], scans: [], questions: [] };
  const answers = opts.answers;
  const io: InitIo = {
    out: (l) => run.out.push(l),
    err: (l) => run.err.push(l),
    scanHostKeys: async (host, port) => {
      run.scans.push(`${host}:${port}`);
      if (opts.scanFails) throw new Error(opts.scanFails);
      const name = port === 22 ? host : `[${host}]:${port}`;
      return (opts.keys?.(host) ?? [KEYS_BY_HOST[host] ?? HOST_KEY]).map((k) => `${name} ${k.pub}\n`).join('');
    },
    ...(answers
      ? {
          ask: async (question: string, def?: string) => {
            run.questions.push(def !== undefined && def !== '' ? `${question} [${def}]` : question);
            const key = Object.keys(answers).find((k) => question.includes(k));
            return key === undefined ? '' : answers[key]!;
          },
        }
      : {}),
  };
  run.code = await initCommand(
    {
      dir,
      host: [],
      domain: [],
      fingerprint: [],
      httpPort: [],
      httpsPort: [],
      nonInteractive: false,
      force: false,
      ...flags,
    },
    io,
  );
  return run;
}

/** every file under dir with its content and mode, for before/after comparisons */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        if (name !== '.git') walk(p);
      } else out[relative(dir, p)] = `${(st.mode & 0o777).toString(8)}\n${readFileSync(p, 'utf8')}`;
    }
  };
  walk(dir);
  return out;
}

/** the flags of a complete non-interactive init of staging and production on one host each */
export const FULL: Partial<InitOptions> = {
  host: ['staging=staging.example.org', 'production=203.0.113.10'],
  domain: ['production=events.example.org'],
  fingerprint: [HOST_KEY.fingerprint, PROD_KEY.fingerprint],
  nonInteractive: true,
  image: 'ghcr.io/acme/events',
};
