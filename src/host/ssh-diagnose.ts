/**
 * Turns a failed OpenSSH connection into one message an operator can act on. OpenSSH's own stderr is terse
 * ("Permission denied (publickey)") or buried in banners ("@@@@ WARNING …"), and says nothing at all about a
 * passphrase-protected key in batch mode, so the key itself is inspected too: an OpenSSH private key carries its
 * cipher name and public key in the clear, which tells "encrypted" and gives the fingerprint without decrypting.
 */
import { createHash } from 'node:crypto';
import { DeployError } from '../errors.js';

export interface KeyFacts {
  format: 'openssh' | 'pem' | 'unknown';
  /** undefined when the format does not say */
  encrypted?: boolean;
  /** SHA256:… of the public key, when the file carries it in the clear */
  fingerprint?: string;
}

export function inspectPrivateKey(text: string): KeyFacts {
  const openssh = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (openssh) {
    try {
      const blob = Buffer.from(openssh[1]!.replace(/\s+/g, ''), 'base64');
      const magic = 'openssh-key-v1\0';
      if (blob.subarray(0, magic.length).toString('latin1') !== magic) return { format: 'unknown' };
      let at = magic.length;
      const str = (): Buffer => {
        const n = blob.readUInt32BE(at);
        const s = blob.subarray(at + 4, at + 4 + n);
        at += 4 + n;
        return s;
      };
      const cipher = str().toString('latin1');
      str(); // kdf name
      str(); // kdf options
      const keys = blob.readUInt32BE(at);
      at += 4;
      const pub = keys >= 1 ? str() : undefined;
      return {
        format: 'openssh',
        encrypted: cipher !== 'none',
        ...(pub
          ? { fingerprint: `SHA256:${createHash('sha256').update(pub).digest('base64').replace(/=+$/, '')}` }
          : {}),
      };
    } catch {
      return { format: 'unknown' };
    }
  }
  if (/-----BEGIN (RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY-----/.test(text)) {
    return { format: 'pem', encrypted: /Proc-Type: 4,ENCRYPTED|BEGIN ENCRYPTED PRIVATE KEY/.test(text) };
  }
  return { format: 'unknown' };
}

export interface FailureContext {
  /** user@host:port, for messages */
  name: string;
  keyPath: string;
  /** the key file's text, when it could be read */
  keyText?: string;
  passphraseGiven: boolean;
  /** true when the given passphrase decrypts the key (asked only when it matters) */
  passphraseWorks?: () => Promise<boolean>;
}

const PIN_REMEDY =
  'if the host was rebuilt, verify its new key out of band (its console, your provider) and update the known_hosts secret; ' +
  'otherwise treat this as an attack and do not deploy';

/** A DeployError('connection') for a failure that retrying cannot fix, or undefined (retry it). */
export async function explainConnectFailure(stderr: string, c: FailureContext): Promise<DeployError | undefined> {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = (re: RegExp) => lines.find((l) => re.test(l));

  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) {
    const fp = /(SHA256:[A-Za-z0-9+/]+)/.exec(stderr)?.[1];
    return new DeployError(
      'connection',
      `the host key of ${c.name} has CHANGED: the host presented ${fp ?? 'a key'} that differs from the pinned one; refused, nothing was run`,
      PIN_REMEDY,
    );
  }
  if (/No \S+ host key is known for|Host key verification failed/i.test(stderr)) {
    return new DeployError(
      'connection',
      `the host key of ${c.name} is unknown: the known_hosts given has no key for this host and port ` +
        `(${line(/host key is known/i) ?? line(/verification failed/i)}); refused, nothing was run`,
      "add the host's line to the known_hosts secret: run ssh-keyscan -p PORT HOST from a trusted network, " +
        "compare the fingerprint with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), " +
        'and mind that the port is part of the entry ([host]:port) when it is not 22',
    );
  }
  if (/UNPROTECTED PRIVATE KEY FILE|bad permissions/i.test(stderr)) {
    return new DeployError(
      'connection',
      `the private key file ${c.keyPath} is readable by other users, so OpenSSH ignores it (${line(/^Permissions /) ?? line(/bad permissions/i)})`,
      `chmod 600 ${c.keyPath}`,
    );
  }
  const facts = c.keyText !== undefined ? inspectPrivateKey(c.keyText) : undefined;
  if (
    /invalid format|error in libcrypto|not a key file/i.test(stderr) ||
    (facts && facts.format === 'unknown' && /denied/i.test(stderr))
  ) {
    return new DeployError(
      'connection',
      `the private key for ${c.name} is not a private key OpenSSH can read (${line(/load key|invalid format/i) ?? 'unrecognised format'})`,
      'pass the whole private key file, its BEGIN and END lines included (not the .pub file)',
    );
  }
  if (/permission denied|incorrect passphrase|too many authentication failures/i.test(stderr)) {
    if (facts?.encrypted && !c.passphraseGiven) {
      return new DeployError(
        'connection',
        `the private key for ${c.name} is protected by a passphrase and none was given`,
        'pass the passphrase: the ssh-passphrase input (action) or --passphrase-env VAR (CLI)',
      );
    }
    if (facts?.encrypted && c.passphraseGiven && c.passphraseWorks && !(await c.passphraseWorks())) {
      return new DeployError(
        'connection',
        `the passphrase given does not decrypt the private key for ${c.name}`,
        'check the ssh-passphrase secret (or the variable named by --passphrase-env) against the key',
      );
    }
    return new DeployError(
      'connection',
      `${c.name} refused the key${facts?.fingerprint ? ` ${facts.fingerprint}` : ''} ` +
        `(${line(/permission denied/i) ?? lines[0] ?? 'authentication failed'}); nothing was run`,
      `add the public key to the deploy user's authorized_keys on the host, or pass the key that is there (compare ssh-keygen -lf on both)`,
    );
  }
  return undefined;
}
