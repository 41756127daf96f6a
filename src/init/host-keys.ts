// Host keys for config/known_hosts. A key read from the network is only as good as the check made of it, so a
// scanned key is written only when the operator confirms its fingerprint or named it with --fingerprint; the
// fingerprints are computed here from the key blobs, never taken from the scanning tool's output.
import { createHash } from 'node:crypto';
import { runProcess } from '../host/process.js';
import { knownHostsName } from '../host/ssh.js';
import { AnswerError, type Ask } from './answers.js';

export interface HostKey {
  /** the known_hosts line, its host field written as ssh looks it up for this host and port */
  line: string;
  /** ED25519, ECDSA, RSA … */
  type: string;
  /** SHA256:<base64 without padding>, as ssh-keygen -l prints it */
  fingerprint: string;
}

export type ScanHostKeys = (host: string, port: number) => Promise<string>;

export { knownHostsName } from '../host/ssh.js';

export function fingerprintOf(base64Blob: string): string {
  const digest = createHash('sha256').update(Buffer.from(base64Blob, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

function typeLabel(keyType: string): string {
  if (keyType === 'ssh-ed25519') return 'ED25519';
  if (keyType.startsWith('ecdsa-')) return 'ECDSA';
  if (keyType === 'ssh-rsa') return 'RSA';
  return keyType.toUpperCase();
}

/**
 * Keys in known_hosts text. With `name`, only the lines for that host name, rewritten to carry exactly that name
 * (scanners print what they were asked; ssh looks the host up by the config's host and port).
 */
export function parseKnownHosts(text: string, name?: string): HostKey[] {
  const keys: HostKey[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (fields.length < 3 || fields[0]!.startsWith('#') || fields[0]!.startsWith('@')) continue;
    const [hosts, keyType, blob] = fields as [string, string, string];
    if (!/^[A-Za-z0-9+/]+=*$/.test(blob)) continue;
    if (name !== undefined && !hosts.split(',').includes(name)) continue;
    keys.push({
      line: `${name ?? hosts} ${keyType} ${blob}`,
      type: typeLabel(keyType),
      fingerprint: fingerprintOf(blob),
    });
  }
  return keys;
}

/** ssh-keyscan of one host and port: its known_hosts lines (its comments go to stderr) */
export async function defaultScanHostKeys(host: string, port: number): Promise<string> {
  const r = await runProcess('ssh-keyscan', ['-p', String(port), '-T', '5', host], { timeoutMs: 30_000 });
  if (r.code !== 0 && r.stdout.trim() === '') {
    const said = r.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new Error(`ssh-keyscan -p ${port} ${host} got no key (exit ${r.code})${said ? `: ${said}` : ''}`);
  }
  return r.stdout;
}

export interface PinTarget {
  host: string;
  port: number;
  /** the environments reached at this host and port, for messages */
  environments: string[];
}

export interface PinResult {
  /** lines to have in config/known_hosts, in order */
  lines: string[];
  /** what was pinned: `host: ED25519 SHA256:…`, for the report */
  summary: string[];
  /** the fingerprints pinned for each target, by its known_hosts name: one key on two names is one server */
  fingerprints: Map<string, string[]>;
}

/**
 * The keys to pin for every distinct host and port. A host that config/known_hosts already pins is not scanned
 * again (a rerun asks nothing); delete its lines to pin it anew. Throws AnswerError when a key is not accepted.
 */
export async function pinHostKeys(
  targets: PinTarget[],
  existing: string,
  fingerprints: string[],
  scan: ScanHostKeys,
  ask: Ask | undefined,
  out: (line: string) => void,
): Promise<PinResult> {
  const result: PinResult = { lines: [], summary: [], fingerprints: new Map() };
  const seen = new Set<string>();
  for (const t of targets) {
    const name = knownHostsName(t.host, t.port);
    const pinned = parseKnownHosts(existing, name);
    if (pinned.length > 0) {
      pinned.forEach((k) => seen.add(k.fingerprint));
      result.lines.push(...pinned.map((k) => k.line));
      result.summary.push(`${name}: already pinned in config/known_hosts (${describe(pinned)})`);
      result.fingerprints.set(
        name,
        pinned.map((k) => k.fingerprint),
      );
      continue;
    }
    let scanned: HostKey[];
    try {
      scanned = parseKnownHosts(await scan(t.host, t.port)).map((k) => ({
        ...k,
        line: `${name} ${k.line.split(' ').slice(1).join(' ')}`,
      }));
    } catch (e) {
      throw new AnswerError(
        `could not read the host key of ${name}: ${e instanceof Error ? e.message : String(e)}`,
        'check that the host is up and its SSH port is reachable from here (--ssh-port), then run init again',
      );
    }
    if (scanned.length === 0) {
      throw new AnswerError(
        `${name} sent no host key`,
        'check the host and --ssh-port; is an SSH server listening there?',
      );
    }
    scanned.forEach((k) => seen.add(k.fingerprint));
    const accepted = await accept(t, name, scanned, fingerprints, ask, out);
    result.lines.push(...accepted.map((k) => k.line));
    result.summary.push(`${name}: ${describe(accepted)}`);
    result.fingerprints.set(
      name,
      accepted.map((k) => k.fingerprint),
    );
  }
  const unmatched = fingerprints.filter((f) => !seen.has(f));
  if (unmatched.length > 0) {
    throw new AnswerError(
      `--fingerprint ${unmatched.join(', ')} matches none of the hosts' keys`,
      "compare it with the host's own key (provider console, or `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` " +
        'on the host); a different key means something else answered: stop and find out what',
    );
  }
  return result;
}

async function accept(
  t: PinTarget,
  name: string,
  scanned: HostKey[],
  fingerprints: string[],
  ask: Ask | undefined,
  out: (line: string) => void,
): Promise<HostKey[]> {
  const named = scanned.filter((k) => fingerprints.includes(k.fingerprint));
  if (named.length > 0) return named;
  const forWhom = `${name} (${t.environments.join(', ')})`;
  const listing = scanned.map((k) => `  ${k.type} ${k.fingerprint}`);
  const verify =
    'compare with the fingerprint the host itself reports, through a channel you already trust: the provider ' +
    "console's boot log, or `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the host";
  if (!ask) {
    throw new AnswerError(
      `the host key of ${forWhom} is not confirmed; it answered with:\n${listing.join('\n')}`,
      `${verify}, then run init again with --fingerprint SHA256:… (the one you checked)`,
    );
  }
  // the key people can check on the host is the ed25519 one: offer that one alone when the host has it
  const offered = scanned.filter((k) => k.type === 'ED25519');
  const keys = offered.length > 0 ? offered : scanned;
  out(`Host key of ${forWhom}:`);
  for (const k of keys) out(`  ${k.type} ${k.fingerprint}`);
  out(`(${verify})`);
  const answer = (await ask(`Is this the key of ${t.host}? (yes/no)`, 'no')).trim().toLowerCase();
  if (answer === 'yes' || answer === 'y') return keys;
  throw new AnswerError(
    `the host key of ${forWhom} was not confirmed`,
    'find out why the fingerprints differ before connecting; nothing was written',
  );
}

function describe(keys: HostKey[]): string {
  return keys.map((k) => `${k.type} ${k.fingerprint}`).join(', ');
}
