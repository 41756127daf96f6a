import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeployError } from '../errors.js';
import type { Redactor } from '../log/redact.js';
import { quote, quoteArgv } from '../util/shell.js';
import { explainConnectFailure } from './ssh-diagnose.js';
import { CommandFailed, type Command, type Host, type RunOptions, type RunResult } from './host.js';
import { countTrip } from './trips.js';
import { runProcess, streamProcess } from './process.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
}

export interface SshCredentials {
  /** private key text (action input) or a path to an existing key file (CLI) */
  privateKey?: string;
  privateKeyPath?: string;
  passphrase?: string;
  /** known_hosts lines, or a path to a known_hosts file */
  knownHosts?: string;
  knownHostsPath?: string;
}

export interface SshOptions {
  target: SshTarget;
  credentials: SshCredentials;
  redactor: Redactor;
  /** directory for the key copy, known_hosts and control socket; created 0700, removed by close() */
  workDir?: string;
  connectTimeoutS?: number;
  /** connection attempts before giving up (connection errors only, never host key failures) */
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
  sshBinary?: string;
  /**
   * reach the target through this host (a Swarm manager): an explicit ProxyCommand with the same pinned
   * known_hosts and key, never ProxyJump (-J passes none of our -o options to the jump connection)
   */
  via?: SshTarget;
}

/** What the post step needs to clean up after a killed or finished main step. */
export interface SshSession {
  workDir: string;
  controlPath: string;
  target: SshTarget;
}

/** the name known_hosts files use for a host: `[host]:port` unless the port is 22 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

// the master outlives its last session by this much, not minutes: after a kill -9 nothing lingers (see hold())
export const CONTROL_PERSIST_S = 5;

/**
 * The OpenSSH client as a subprocess behind the Host port. One master connection per deploy (ControlMaster),
 * every command a multiplexed session on it. The host key must be in the pinned known_hosts: unknown or changed
 * keys are refused (StrictHostKeyChecking=yes, no global known_hosts, no TOFU).
 */
export class SshHost implements Host {
  readonly name: string;
  readonly session: SshSession;
  private readonly baseArgs: string[];
  private readonly ssh: string;
  private connected = false;
  roundTrips = 0;
  private holder?: ChildProcess;
  private closing = false;

  private constructor(
    private readonly opts: SshOptions,
    session: SshSession,
    baseArgs: string[],
    private readonly keyPath: string,
    /** where the host's pinned key is looked up */
    readonly knownHostsPath: string,
  ) {
    this.session = session;
    this.baseArgs = baseArgs;
    this.ssh = opts.sshBinary ?? 'ssh';
    const t = opts.target;
    const v = opts.via;
    this.name = `${t.user}@${t.host}:${t.port}${v ? ` via ${v.user}@${v.host}:${v.port}` : ''}`;
  }

  /**
   * The host's keys as pinned in known_hosts ("ED25519 SHA256:…"), read locally with ssh-keygen: empty when the
   * file has no line for this host and port, so the first connection would be refused.
   */
  async pinnedKeys(): Promise<string[]> {
    const t = this.opts.target;
    const r = await runProcess('ssh-keygen', ['-l', '-F', knownHostsName(t.host, t.port), '-f', this.knownHostsPath], {
      timeoutMs: 10_000,
    });
    if (r.code !== 0) return [];
    return r.stdout
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(' ').slice(1, 3).join(' '));
  }

  static prepare(opts: SshOptions): SshHost {
    // the ProxyCommand is shell text: refuse, before anything is written, a value that could change what it runs
    if (opts.via) {
      checkTarget(opts.via, 'the manager');
      checkTarget(opts.target, 'the node');
    }
    const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'tgd-'));
    chmodSync(workDir, 0o700);
    const cred = opts.credentials;
    let keyPath = cred.privateKeyPath;
    if (cred.privateKey) {
      keyPath = join(workDir, 'id');
      // a key pasted into a secret often loses its final newline; OpenSSH then calls the key invalid
      writeFileSync(keyPath, cred.privateKey.replace(/\r\n/g, '\n').trimEnd() + '\n', { mode: 0o600 });
      opts.redactor.add(cred.privateKey.trim());
    }
    if (!keyPath)
      throw new DeployError(
        'connection',
        'no SSH private key given',
        'pass ssh-private-key (action) or --identity FILE (CLI)',
      );
    if (!existsSync(keyPath)) throw new DeployError('connection', `SSH private key file not found: ${keyPath}`);
    let knownHostsPath = cred.knownHostsPath;
    if (cred.knownHosts) {
      knownHostsPath = join(workDir, 'known_hosts');
      writeFileSync(knownHostsPath, cred.knownHosts.replace(/\r\n/g, '\n').trim() + '\n', { mode: 0o600 });
    }
    // a missing pin is an input problem (exit 2), found before any connection attempt
    if (knownHostsPath && !existsSync(knownHostsPath)) {
      throw new DeployError(
        'config',
        `known_hosts file not found: ${knownHostsPath}`,
        "pass --known-hosts with the path of a file holding the host's known_hosts line",
      );
    }
    if (!knownHostsPath) {
      throw new DeployError(
        'config',
        'no known_hosts given for the host: its key cannot be verified, so no connection is made',
        'pass ssh-known-hosts (action) or --known-hosts FILE (CLI); ' +
          'produce the line with ssh-keyscan from a trusted network and compare its fingerprint with the host',
      );
    }
    if (cred.passphrase) opts.redactor.add(cred.passphrase);
    const controlPath = join(workDir, 'c');
    const t = opts.target;
    const pinned = { knownHostsPath, keyPath, connectTimeoutS: opts.connectTimeoutS ?? 10 };
    const baseArgs = [
      '-F',
      '/dev/null',
      '-o',
      `ControlPath=${controlPath}`,
      ...pinningArgs(pinned),
      '-p',
      String(t.port),
      '-l',
      t.user,
    ];
    if (opts.via) {
      const proxy = proxyCommand({
        ...pinned,
        ssh: opts.sshBinary ?? 'ssh',
        via: opts.via,
        target: t,
        passphrase: !!cred.passphrase,
        errorLog: proxyErrors(workDir),
      });
      baseArgs.push('-o', `ProxyCommand=${proxy}`);
    }
    return new SshHost(opts, { workDir, controlPath, target: t }, baseArgs, keyPath, knownHostsPath);
  }

  /** Open the master connection, retrying connection failures with backoff; host key failures are final. */
  async connect(): Promise<void> {
    const attempts = this.opts.attempts ?? 3;
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    let last = '';
    for (let i = 1; i <= attempts; i++) {
      const env: NodeJS.ProcessEnv = sshEnv();
      const args = [
        ...this.baseArgs,
        '-M',
        '-N',
        '-f',
        '-o',
        'ControlMaster=yes',
        '-o',
        `ControlPersist=${CONTROL_PERSIST_S}`,
      ];
      if (this.opts.credentials.passphrase) {
        // OpenSSH reads a passphrase only from a tty or an askpass program; the program echoes an env var
        const askpass = join(this.session.workDir, 'askpass');
        writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$TOGATHER_SSH_PASSPHRASE"\n', { mode: 0o700 });
        Object.assign(env, {
          SSH_ASKPASS: askpass,
          SSH_ASKPASS_REQUIRE: 'force',
          DISPLAY: 'none',
          TOGATHER_SSH_PASSPHRASE: this.opts.credentials.passphrase,
        });
        args.push('-o', 'BatchMode=no', '-o', 'NumberOfPasswordPrompts=1');
      } else {
        args.push('-o', 'BatchMode=yes');
      }
      args.push(this.opts.target.host);
      if (this.opts.via) writeFileSync(proxyErrors(this.session.workDir), '', { mode: 0o600 });
      const r = await runProcess(this.ssh, args, { env, timeoutMs: ((this.opts.connectTimeoutS ?? 10) + 20) * 1000 });
      if (r.code === 0) {
        this.connected = true;
        this.hold();
        return;
      }
      last = this.opts.redactor.redact(`${this.proxyErrors()}${r.stderr}`.trim());
      const via = this.opts.via;
      // the manager's sshd refused the -W forward (AllowTcpForwarding no): no retry changes that
      if (via && /administratively prohibited|stdio forwarding failed/i.test(last))
        throw new DeployError(
          'connection',
          `${via.user}@${via.host}:${via.port} does not forward SSH to ${this.opts.target.host}:${this.opts.target.port}: ${firstLine(last)}`,
          "allow it in the manager's sshd_config (AllowTcpForwarding yes, or local) for the deploy user",
        );
      // host key, key file and authentication failures are final: retrying cannot fix them
      const final = await explainConnectFailure(last, {
        name: this.name,
        keyPath: this.keyPath,
        keyText: readKeyText(this.keyPath),
        passphraseGiven: !!this.opts.credentials.passphrase,
        // ssh-keygen asks the same askpass program, so the passphrase never appears on a command line
        passphraseWorks: async () =>
          (await runProcess('ssh-keygen', ['-y', '-f', this.keyPath], { env, timeoutMs: 10_000 })).code === 0,
      });
      if (final) throw final;
      if (i < attempts) {
        const wait = 1000 * 2 ** (i - 1);
        this.opts.log?.(
          `ssh: connecting to ${this.name} failed (${firstLine(last)}); retrying in ${wait} ms (${i}/${attempts})`,
        );
        await sleep(wait);
      }
    }
    throw new DeployError(
      'connection',
      `cannot connect to ${this.name} after ${attempts} attempts: ${firstLine(last)}`,
      'check that the host is up, the port is open and the host name resolves',
    );
  }

  async run(command: Command, opts: RunOptions = {}): Promise<RunResult> {
    if (!this.connected) await this.connect();
    this.roundTrips++;
    countTrip();
    const r = await runProcess(this.ssh, this.sessionArgs(command), {
      stdin: opts.stdin,
      timeoutMs: opts.timeoutMs,
      env: sshEnv(),
    });
    return this.checked(command, r, opts.check);
  }

  /** a command whose stdout is read as a stream (a snapshot on its way off the host); `done` is checked like run() */
  stream(
    command: Command,
    opts: Pick<RunOptions, 'timeoutMs' | 'check'> = {},
  ): { stdout: Readable; done: Promise<RunResult> } {
    if (!this.connected) throw new Error('SshHost.stream before connect()');
    this.roundTrips++;
    countTrip();
    const s = streamProcess(this.ssh, this.sessionArgs(command), { timeoutMs: opts.timeoutMs, env: sshEnv() });
    return { stdout: s.stdout, done: s.done.then((r) => this.checked(command, r, opts.check)) };
  }

  /** one multiplexed session on the master connection, running the command quoted once */
  private sessionArgs(command: Command): string[] {
    return [
      ...this.baseArgs,
      '-o',
      'ControlMaster=no',
      '-o',
      'BatchMode=yes',
      '-T',
      this.opts.target.host,
      '--',
      quoteArgv(command.argv),
    ];
  }

  /** what the proxy to the manager said (its own host key check, a refused forward), else nothing */
  private proxyErrors(): string {
    if (!this.opts.via) return '';
    try {
      const text = readFileSync(proxyErrors(this.session.workDir), 'utf8').trim();
      return text ? `${text}\n` : '';
    } catch {
      return '';
    }
  }

  private checked(command: Command, r: RunResult, check: boolean | undefined): RunResult {
    // a session whose master connection is killed ends with 255 and nothing on stderr
    if (
      r.code === 255 &&
      (!r.stderr.trim() || /^(ssh|mux_client|Control socket|Connection|client_loop|Timeout)/im.test(r.stderr))
    ) {
      throw new DeployError(
        'connection',
        `lost the SSH connection to ${this.name}: ${firstLine(this.opts.redactor.redact(r.stderr)) || 'the session ended with exit code 255 and no message'}`,
      );
    }
    if (r.code !== 0 && check !== false) {
      const red: RunResult = {
        ...r,
        stderr: this.opts.redactor.redact(r.stderr),
        stdout: this.opts.redactor.redact(r.stdout),
      };
      throw new CommandFailed(command.argv, red, this.opts.redactor.redact(shortArgv(command.argv)));
    }
    return r;
  }

  /*
   * One idle session keeps the master open for as long as this process lives, whatever its idle gaps (a local
   * build, a prompt): its remote `cat` reads our end of a pipe, which the kernel closes when we exit, even by
   * kill -9. The session then ends, and the master CONTROL_PERSIST_S later. Unreferenced: it never keeps us alive.
   */
  private hold(): void {
    const child = spawn(
      this.ssh,
      [...this.baseArgs, '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', '-T', this.opts.target.host, '--', 'cat'],
      {
        env: sshEnv(),
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    child.on('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    child.on('exit', (code) => {
      if (!this.closing)
        this.opts.log?.(
          `ssh: the session holding the connection to ${this.name} open ended (exit ${code ?? 'by signal'}); ` +
            `it now closes after ${CONTROL_PERSIST_S}s without a command`,
        );
    });
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    child.unref();
    this.holder = child;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.holder?.stdin?.end();
    await closeSession(this.session, this.ssh);
  }
}

/** what pins a connection to our key and our known_hosts, and nothing else: the same for the master and its proxy */
interface Pinning {
  knownHostsPath: string;
  keyPath: string;
  connectTimeoutS: number;
}

function pinningArgs(p: Pinning): string[] {
  return [
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${p.knownHostsPath}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    `ConnectTimeout=${p.connectTimeoutS}`,
    '-o',
    'ServerAliveInterval=10',
    '-o',
    'ServerAliveCountMax=3',
    '-o',
    'LogLevel=ERROR',
    '-i',
    p.keyPath,
  ];
}

// host names and addresses (IPv6 without a zone: `%` is ssh's token character), user names; no leading '-'
const HOST_NAME = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** refuses a target whose host, user or port could not appear as they are in a ProxyCommand */
export function checkTarget(t: SshTarget, what: string): void {
  const bad = !HOST_NAME.test(t.host)
    ? `host ${JSON.stringify(t.host)}`
    : !USER_NAME.test(t.user)
      ? `user ${JSON.stringify(t.user)}`
      : !(Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535)
        ? `port ${JSON.stringify(t.port)}`
        : undefined;
  if (bad)
    throw new DeployError(
      'config',
      `${what}'s SSH ${bad} is not a plain host name, address, user name or port, so no connection is made through it`,
      'use a host name or IP address, a user name of letters, digits, ".", "_" and "-", and a port from 1 to 65535',
    );
}

/**
 * `ssh … -W %h:%p <manager>` for ProxyCommand: ssh expands its %-tokens, then hands the text to /bin/sh. Every
 * value is quoted for the shell and its % doubled; host, user and port are checked (checkTarget) before, and a
 * path with a control character is refused.
 */
export function proxyCommand(
  p: Pinning & {
    ssh: string;
    via: SshTarget;
    target: SshTarget;
    passphrase: boolean;
    /** where the proxy's stderr goes: with ControlPersist, ssh sends it to /dev/null, and the failure's cause with it */
    errorLog?: string;
  },
): string {
  checkTarget(p.via, 'the manager');
  checkTarget(p.target, 'the node');
  const argv = [
    p.ssh,
    '-F',
    '/dev/null',
    ...pinningArgs(p),
    // the proxy is a connection of its own: no control socket, and it never prompts unless a passphrase is needed
    '-o',
    'ControlMaster=no',
    '-o',
    'ControlPath=none',
    ...(p.passphrase ? ['-o', 'BatchMode=no', '-o', 'NumberOfPasswordPrompts=1'] : ['-o', 'BatchMode=yes']),
    '-p',
    String(p.via.port),
    '-l',
    p.via.user,
  ];
  const log = p.errorLog === undefined ? [] : [p.errorLog];
  for (const a of [...argv, ...log])
    if ([...a].some((c) => c < ' ' || c === '\x7f'))
      throw new DeployError('config', `a control character in ${JSON.stringify(a)}: it cannot go into a ProxyCommand`);
  // -W takes an IPv6 address in brackets; %h is the node's checked host
  const forward = p.target.host.includes(':') ? '[%h]:%p' : '%h:%p';
  const q = (a: string) => quote(a).replace(/%/g, '%%');
  return `${argv.map(q).join(' ')} -W ${forward} ${p.via.host}${log.map((l) => ` 2>>${q(l)}`).join('')}`;
}

/** the file the proxy's stderr goes to, in the connection's private directory */
function proxyErrors(workDir: string): string {
  return join(workDir, 'proxy.err');
}

/** Ends the master connection and deletes key material; safe to call twice and from the post step. */
export async function closeSession(session: SshSession, ssh = 'ssh'): Promise<void> {
  if (existsSync(session.controlPath)) {
    await runProcess(
      ssh,
      [
        '-F',
        '/dev/null',
        '-o',
        `ControlPath=${session.controlPath}`,
        '-O',
        'exit',
        '-p',
        String(session.target.port),
        '-l',
        session.target.user,
        session.target.host,
      ],
      { timeoutMs: 10_000 },
    );
  }
  rmSync(session.workDir, { recursive: true, force: true });
}

function readKeyText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** what every ssh process gets of our environment: nothing that could configure it behind our back */
function sshEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim()) ?? s;
}

/** scripts are long; in messages show the first line of an `sh -c` script and its arguments */
export function shortArgv(argv: readonly string[]): string {
  if (argv[0] === 'sh' && argv[1] === '-c' && argv[2]) {
    const first = argv[2].trim().split('\n')[0]!.slice(0, 60);
    return `sh -c '${first}…' ${quoteArgv(argv.slice(4))}`;
  }
  return quoteArgv(argv);
}
