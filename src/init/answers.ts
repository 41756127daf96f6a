// The operator's answers to `togather-deploy init`: from flags, else asked on a terminal, else defaults. Every
// answer is checked here, before any file is computed or written, against the rules the config schema applies
// later, so that init never writes a config its own loader would refuse.
import { HOSTNAME_RE, IMAGE_REPO_RE, NAME_RE, USER_RE } from '../config/schema.js';

export interface EnvironmentAnswer {
  name: string;
  /** SSH host name or IP address */
  host: string;
  /** public site names for automatic HTTPS; empty serves plain HTTP */
  domains: string[];
  /** the proxy's ports, when --http-port / --https-port named them (else the config's defaults, 80 and 443) */
  httpPort?: number;
  httpsPort?: number;
  /** behind the host's shared front proxy (proxy.front): decided by initCommand once the servers are known */
  front?: boolean;
}

export const DEFAULT_HTTP_PORT = 80;
export const DEFAULT_HTTPS_PORT = 443;

export interface Answers {
  environments: EnvironmentAnswer[];
  user: string;
  sshPort: number;
  image: string;
  /** host key fingerprints accepted without asking */
  fingerprints: string[];
}

/** the flags of init, as the CLI parses them (strings: the CLI does no conversion) */
export interface AnswerFlags {
  environments?: string;
  host: string[];
  domain: string[];
  user?: string;
  sshPort?: string;
  /** repeatable: `N` (every environment) or `ENV=N` */
  httpPort: string[];
  httpsPort: string[];
  image?: string;
  fingerprint: string[];
  /** --front: every environment behind its host's shared front proxy (each needs a domain) */
  front?: boolean;
  /** --no-front: never the front proxy (environments sharing a server need ports of their own) */
  noFront?: boolean;
}

export type Ask = (question: string, defaultAnswer?: string) => Promise<string>;

/** a refused answer: the message names the flag or question and says what to give instead */
export class AnswerError extends Error {
  constructor(
    message: string,
    readonly remedy: string,
  ) {
    super(message);
    this.name = 'AnswerError';
  }
}

export const DEFAULT_ENVIRONMENTS = 'staging,production';
export const DEFAULT_USER = 'deploy';
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** a public DNS name with at least two labels: a certificate authority issues nothing for a bare label */
const DOMAIN_RE = new RegExp(`^(?=.{1,253}$)${DNS_LABEL}(?:\\.${DNS_LABEL})+$`);
const FINGERPRINT_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * Collect and check every answer. `ask` is undefined when nobody can answer: flags and defaults are used then.
 * Throws AnswerError on the first answer that cannot be used.
 */
export async function gatherAnswers(flags: AnswerFlags, defaultImage: string, ask: Ask | undefined): Promise<Answers> {
  const envText = flags.environments ?? (ask ? await ask('Environments (comma-separated)', DEFAULT_ENVIRONMENTS) : '');
  const names = parseEnvironments(envText || DEFAULT_ENVIRONMENTS, flags.environments !== undefined);
  const hosts = parseAssignments('--host', flags.host, names, checkHost);
  const domains = parseDomains(flags.domain, names);
  const httpPorts = parseAssignments('--http-port', flags.httpPort, names, parsePort);
  const httpsPorts = parseAssignments('--https-port', flags.httpsPort, names, parsePort);
  if (flags.front && flags.noFront) {
    throw new AnswerError('--front and --no-front given together', 'keep the one you mean');
  }

  const environments: EnvironmentAnswer[] = [];
  let previousHost: string | undefined;
  for (const name of names) {
    let host = hosts.get(name) ?? hosts.get('');
    if (host === undefined && ask) {
      const answer = (await ask(`SSH host of ${name} (host name or IP address)`, previousHost)).trim();
      host = checkHost(answer || previousHost || '', `the host of ${name}`);
    }
    if (host === undefined) {
      throw new AnswerError(
        `no host for ${name}`,
        `pass --host HOST (every environment) or --host ${name}=HOST; e.g. --host ${name}=203.0.113.10`,
      );
    }
    previousHost = host;
    let envDomains = domains.get(name) ?? [];
    // flags given are not asked: any --domain means the operator has said which environments have one
    if (flags.domain.length === 0 && ask) {
      const answer = (await ask(`Public domain of ${name} (empty: plain HTTP on the host's address)`, '')).trim();
      envDomains = answer ? answer.split(/[\s,]+/).map((d) => checkDomain(d, `the domain of ${name}`)) : [];
    }
    const httpPort = httpPorts.get(name) ?? httpPorts.get('');
    const httpsPort = httpsPorts.get(name) ?? httpsPorts.get('');
    if ((httpPort ?? DEFAULT_HTTP_PORT) === (httpsPort ?? DEFAULT_HTTPS_PORT)) {
      throw new AnswerError(
        `${name}: its HTTP and HTTPS ports are both ${httpPort ?? DEFAULT_HTTP_PORT}`,
        `give the two different numbers, e.g. --http-port ${name}=8080 --https-port ${name}=8443`,
      );
    }
    if (flags.front && envDomains.length === 0) {
      throw new AnswerError(
        `--front: ${name} has no domain, and the front proxy routes requests by domain`,
        `give it one, e.g. --domain ${name}=${name}.example.org (its A record pointing at ${host}), or drop --front`,
      );
    }
    if (flags.front && (httpPort !== undefined || httpsPort !== undefined)) {
      throw new AnswerError(
        `--front with ${httpPort !== undefined ? '--http-port' : '--https-port'} for ${name}: behind the front ` +
          'proxy an environment publishes no port of its own',
        'drop the port flags (the front proxy holds 80 and 443 for every environment), or drop --front',
      );
    }
    environments.push({
      name,
      host,
      domains: envDomains,
      ...(httpPort !== undefined ? { httpPort: Number(httpPort) } : {}),
      ...(httpsPort !== undefined ? { httpsPort: Number(httpsPort) } : {}),
    });
  }

  const userText = flags.user ?? (ask ? await ask('SSH user on the host(s)', DEFAULT_USER) : DEFAULT_USER);
  const user = userText.trim() || DEFAULT_USER;
  if (!USER_RE.test(user)) {
    throw new AnswerError(
      `--user ${show(user)} is not a POSIX user name`,
      'use lowercase letters, digits, "_" and "-"',
    );
  }
  const imageText = flags.image ?? (ask ? await ask('Image repository (without tag)', defaultImage) : defaultImage);
  const image = imageText.trim() || defaultImage;
  if (!IMAGE_REPO_RE.test(image)) {
    throw new AnswerError(
      `--image ${show(image)} is not an image repository`,
      'write it lowercase and without a tag, e.g. ghcr.io/your-org/server (every deploy is tagged with its commit)',
    );
  }
  const sshText = flags.sshPort ?? '22';
  const sshPort = Number(parsePort(sshText, `--ssh-port ${show(sshText)}`));
  const fingerprints = flags.fingerprint.map((f) => f.trim());
  for (const f of fingerprints) {
    if (!FINGERPRINT_RE.test(f)) {
      throw new AnswerError(
        `--fingerprint ${show(f)} is not a SHA256 host key fingerprint`,
        'give it as ssh-keygen prints it, e.g. SHA256:followed-by-43-base64-characters',
      );
    }
  }
  return { environments, user, sshPort, image, fingerprints };
}

function parseEnvironments(text: string, fromFlag: boolean): string[] {
  const what = fromFlag ? '--environments' : 'the environments';
  const names = text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0)
    throw new AnswerError(`${what}: none given`, `name at least one, e.g. ${DEFAULT_ENVIRONMENTS}`);
  const seen = new Set<string>();
  for (const n of names) {
    if (!NAME_RE.test(n)) {
      throw new AnswerError(
        `${what}: ${show(n)} is not a valid environment name`,
        'use lowercase letters, digits and "-", starting with a letter (at most 40), e.g. staging',
      );
    }
    if (seen.has(n)) throw new AnswerError(`${what}: ${n} is named twice`, 'name each environment once');
    seen.add(n);
  }
  return names;
}

/** `VALUE` (key '': every environment) or `ENV=VALUE`, repeatable; a later flag for the same key wins */
function parseAssignments(
  flag: string,
  values: string[],
  names: string[],
  check: (value: string, what: string) => string,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of values) {
    const eq = raw.indexOf('=');
    const env = eq < 0 ? '' : raw.slice(0, eq).trim();
    const value = (eq < 0 ? raw : raw.slice(eq + 1)).trim();
    if (env !== '' && !names.includes(env)) {
      throw new AnswerError(
        `${flag} ${show(raw)}: there is no environment ${show(env)}`,
        `use one of: ${names.join(', ')} (or add it with --environments)`,
      );
    }
    out.set(env, check(value, `${flag} ${show(raw)}`));
  }
  return out;
}

function parseDomains(values: string[], names: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of values) {
    const eq = raw.indexOf('=');
    if (eq < 0) {
      throw new AnswerError(
        `--domain ${show(raw)} names no environment`,
        `write --domain ENV=NAME, e.g. --domain ${names[0]}=${names[0]}.example.org`,
      );
    }
    const env = raw.slice(0, eq).trim();
    if (!names.includes(env)) {
      throw new AnswerError(
        `--domain ${show(raw)}: there is no environment ${show(env)}`,
        `use one of: ${names.join(', ')}`,
      );
    }
    const list = out.get(env) ?? [];
    const domain = checkDomain(raw.slice(eq + 1).trim(), `--domain ${show(raw)}`);
    if (!list.includes(domain)) list.push(domain);
    out.set(env, list);
  }
  return out;
}

/** a host name or IP address that no shell, ssh option or YAML could misread */
export function checkHost(host: string, what: string): string {
  if (host === '') throw new AnswerError(`${what}: empty`, 'give a host name or IP address, e.g. 203.0.113.10');
  if (host.startsWith('-') || /[[\]\s]/.test(host) || !HOSTNAME_RE.test(host)) {
    throw new AnswerError(
      `${what}: ${show(host)} is not a host name or IP address`,
      'give only the host (no user@, no :port, no brackets): e.g. deploy.example.org or 203.0.113.10; the port is --ssh-port',
    );
  }
  return host;
}

function checkDomain(domain: string, what: string): string {
  const d = domain.toLowerCase();
  if (!DOMAIN_RE.test(d)) {
    throw new AnswerError(
      `${what}: ${show(domain)} is not a DNS name`,
      'give the public name whose A record points at the host, e.g. staging.example.org (no scheme, no port)',
    );
  }
  return d;
}

/** a port number as text (parseAssignments keeps values as strings); `what` names the flag in a refusal */
function parsePort(text: string, what: string): string {
  const n = /^\d{1,5}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new AnswerError(`${what} is not a port`, 'give a number from 1 to 65535');
  return String(n);
}

/** an answer quoted for a message, with anything unprintable made visible */
function show(s: string): string {
  return JSON.stringify(s);
}
