/**
 * The age file format (age-encryption.org/v1, https://c2sp.org/age) with X25519 recipients, on node:crypto alone:
 * snapshot copies are encrypted to the operator's public recipient before they leave the host, and only the
 * secret identity (kept off the deployer) can restore them. Files we write decrypt with the age CLI and back.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { Transform } from 'node:stream';
import { DeployError } from '../errors.js';

const VERSION_LINE = 'age-encryption.org/v1';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const CHUNK = 64 * 1024;
const TAG = 16;
const SEALED_CHUNK = CHUNK + TAG;
/** a header of a few recipients is a few hundred bytes; this bounds what garbage input can make us buffer */
const MAX_HEADER = 1024 * 1024;
const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';
const CONFIG_REMEDY = 'generate a key pair with age-keygen; the config takes the age1… public key, never the secret';

// ---- Bech32 (BIP 173, without its 90-character limit, as age uses it) ----

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i]!;
  }
  return chk;
}

function hrpExpand(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >>> 5), 0, ...codes.map((c) => c & 31)];
}

function convertBits(data: Uint8Array | number[], from: number, to: number, pad: boolean): number[] | undefined {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const v of data) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >>> bits) & ((1 << to) - 1));
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & ((1 << to) - 1));
  } else if (bits >= from || (acc << (to - bits)) & ((1 << to) - 1)) return undefined; // non-zero or excess padding
  return out;
}

function bech32Encode(hrp: string, data: Uint8Array): string {
  const words = convertBits(data, 8, 5, true)!;
  const mod = polymod([...hrpExpand(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const check = [0, 1, 2, 3, 4, 5].map((i) => (mod >>> (5 * (5 - i))) & 31);
  return hrp + '1' + [...words, ...check].map((w) => CHARSET[w]).join('');
}

/** a problem description (no input echoed: it may be a secret) or the decoded key */
function bech32Decode(s: string, hrp: string): Buffer | string {
  if (s !== s.toLowerCase() && s !== s.toUpperCase()) return 'it mixes upper and lower case';
  const lower = s.toLowerCase();
  if (!lower.startsWith(hrp + '1')) return `it does not start with "${hrp === 'age' ? 'age1' : 'AGE-SECRET-KEY-1'}"`;
  const words: number[] = [];
  for (const c of lower.slice(hrp.length + 1)) {
    const w = CHARSET.indexOf(c);
    if (w < 0) return 'it contains a character that Bech32 does not use';
    words.push(w);
  }
  if (words.length < 6 || polymod([...hrpExpand(hrp), ...words]) !== 1)
    return 'its checksum is wrong (a typo, or cut off)';
  const bytes = convertBits(words.slice(0, -6), 5, 8, false);
  if (!bytes || bytes.length !== 32) return 'it is not a 32-byte X25519 key';
  return Buffer.from(bytes);
}

// ---- keys ----

const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const privateKey = (raw: Buffer) =>
  createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' });
const publicKey = (raw: Buffer) =>
  createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
const rawPublic = (key: KeyObject) =>
  Buffer.from((key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' }).x!, 'base64url');
const rawPrivate = (key: KeyObject) => Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url');

function parseRecipient(s: string): Buffer {
  const t = s.trim();
  if (/^age-secret-key-/i.test(t))
    throw new DeployError(
      'config',
      'an age secret key was given where a recipient (public key) belongs',
      CONFIG_REMEDY,
    );
  const r = bech32Decode(t, RECIPIENT_HRP);
  if (typeof r === 'string') throw new DeployError('config', `not a valid age recipient: ${r}`, CONFIG_REMEDY);
  return r;
}

function parseIdentity(s: string): Buffer {
  const r = bech32Decode(s.trim(), IDENTITY_HRP);
  if (typeof r === 'string')
    throw new DeployError(
      'config',
      `not a valid age secret key: ${r}`,
      'use the AGE-SECRET-KEY-1… line that age-keygen printed',
    );
  return r;
}

export function generateIdentity(): { identity: string; recipient: string } {
  const { privateKey: key } = generateKeyPairSync('x25519');
  return {
    identity: bech32Encode(IDENTITY_HRP, rawPrivate(key)).toUpperCase(),
    recipient: bech32Encode(RECIPIENT_HRP, rawPublic(key)),
  };
}

export function recipientOf(identity: string): string {
  return bech32Encode(RECIPIENT_HRP, rawPublic(privateKey(parseIdentity(identity))));
}

export function checkRecipient(s: string): string {
  return bech32Encode(RECIPIENT_HRP, parseRecipient(s));
}

export function checkIdentity(s: string): void {
  parseIdentity(s);
}

// ---- primitives ----

const hkdf = (ikm: Buffer, salt: Buffer, info: string) => Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/** unpadded, canonical base64 only (the spec makes decoders reject anything else) */
function unb64(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*$/.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return b64(b) === s ? b : undefined;
}

function seal(key: Buffer, nonce: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** undefined when the tag does not verify */
function open(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < TAG) return undefined;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
  } catch {
    return undefined;
  }
}

const ZERO_NONCE = Buffer.alloc(12);
const chunkNonce = (counter: number, last: boolean) => {
  const n = Buffer.alloc(12); // 11-byte big-endian counter; 2^48 chunks (16 EiB) is more than we ever write
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
};
/** input gathered until a whole chunk can be taken; concatenated only then, so small writes stay linear */
class Pending {
  private parts: Buffer[] = [];
  size = 0;
  add(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }
  all(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0]!;
  }
  set(b: Buffer): void {
    this.parts = [b];
    this.size = b.length;
  }
}

const damaged = () =>
  new DeployError('snapshot', 'the encrypted copy is damaged or truncated', 'restore from another snapshot copy');

// ---- encryption ----

function header(recipients: readonly string[], fileKey: Buffer): Buffer {
  let text = VERSION_LINE + '\n';
  for (const r of recipients) {
    const them = parseRecipient(r);
    const eph = generateKeyPairSync('x25519');
    const share = rawPublic(eph.publicKey);
    const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKey(them) });
    const wrapKey = hkdf(shared, Buffer.concat([share, them]), X25519_INFO);
    const body = b64(seal(wrapKey, ZERO_NONCE, fileKey)).replace(/.{64}/g, '$&\n'); // wrapped at 64 columns
    text += `-> X25519 ${b64(share)}\n${body}\n`; // a body ending on a full line gets an empty final line
  }
  text += '---';
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(text)
    .digest();
  return Buffer.from(`${text} ${b64(mac)}\n`);
}

export function encryptStream(recipients: readonly string[]): Transform {
  if (recipients.length === 0)
    throw new DeployError('config', 'encryption needs at least one age recipient', CONFIG_REMEDY);
  const fileKey = randomBytes(16);
  const nonce = randomBytes(16);
  const prelude = Buffer.concat([header(recipients, fileKey), nonce]); // parses every recipient before any output
  const key = hkdf(fileKey, nonce, 'payload');
  const pending = new Pending();
  let counter = 0;
  return new Transform({
    construct(cb) {
      this.push(prelude);
      cb();
    },
    transform(chunk: Buffer, _enc, cb) {
      pending.add(chunk);
      if (pending.size <= CHUNK) return cb();
      // a full chunk is only known not to be the last once more data follows it
      let buf = pending.all();
      for (; buf.length > CHUNK; buf = buf.subarray(CHUNK))
        this.push(seal(key, chunkNonce(counter++, false), buf.subarray(0, CHUNK)));
      pending.set(buf);
      cb();
    },
    flush(cb) {
      cb(null, seal(key, chunkNonce(counter, true), pending.all()));
    },
  });
}

// ---- decryption ----

type Stanza = { args: string[]; body: Buffer };

/** the stanzas, or undefined when the header does not follow the grammar */
function parseHeader(text: string): { stanzas: Stanza[]; macInput: string; mac: Buffer } | undefined {
  const lines = text.split('\n'); // text ends with "\n": the last element is ""
  if (lines[0] !== VERSION_LINE) return undefined;
  const stanzas: Stanza[] = [];
  let i = 1;
  while (lines[i]?.startsWith('-> ')) {
    const args = lines[i]!.slice(3).split(' ');
    if (args.some((a) => !/^[\x21-\x7e]+$/.test(a))) return undefined;
    let body = '';
    for (;;) {
      const line = lines[++i];
      if (line === undefined || line.length > 64 || !/^[A-Za-z0-9+/]*$/.test(line)) return undefined;
      body += line;
      if (line.length < 64) break;
    }
    const bytes = unb64(body);
    if (!bytes) return undefined;
    stanzas.push({ args, body: bytes });
    i++;
  }
  const end = /^--- ([A-Za-z0-9+/]{43})$/.exec(lines[i] ?? '');
  const mac = end && unb64(end[1]!);
  if (!mac || stanzas.length === 0 || i !== lines.length - 2) return undefined;
  return { stanzas, macInput: text.slice(0, text.length - end[1]!.length - 2), mac };
}

function unwrap(stanzas: Stanza[], identities: { secret: KeyObject; pub: Buffer }[]): Buffer {
  for (const s of stanzas) {
    if (s.args[0] !== 'X25519') continue; // other types (scrypt, plugins, age's grease) are not ours
    const share = s.args.length === 2 ? unb64(s.args[1]!) : undefined;
    if (share?.length !== 32 || s.body.length !== 32) throw damaged();
    for (const id of identities) {
      let shared: Buffer;
      try {
        shared = diffieHellman({ privateKey: id.secret, publicKey: publicKey(share) });
      } catch {
        continue; // OpenSSL refuses a low-order share (all-zero shared secret), which the spec says to abort on
      }
      if (shared.every((b) => b === 0)) continue;
      const fileKey = open(hkdf(shared, Buffer.concat([share, id.pub]), X25519_INFO), ZERO_NONCE, s.body);
      if (fileKey) return fileKey;
    }
  }
  throw new DeployError(
    'snapshot',
    "no identity matches this file's recipients",
    'decrypt with the secret key whose recipient (age1…) was configured when this copy was made',
  );
}

export function decryptStream(identities: readonly string[]): Transform {
  if (identities.length === 0) throw new DeployError('config', 'decryption needs an age secret key', CONFIG_REMEDY);
  const ids = identities.map((s) => {
    const secret = privateKey(parseIdentity(s));
    return { secret, pub: rawPublic(secret) };
  });
  const pending = new Pending();
  let key: Buffer | undefined; // the payload key, once the header and the payload nonce have been read
  let counter = 0;

  /** consumes the header and nonce from `pending` once they are complete */
  function readHeader(): void {
    const buf = pending.all();
    const prefix = Buffer.from('age-encryption.org/');
    if (!buf.subarray(0, prefix.length).equals(prefix.subarray(0, buf.length)))
      throw new DeployError(
        'snapshot',
        'this is not an age-encrypted file (or an ASCII-armored one, which is not read)',
        'give the binary .age copy that the deployer uploaded',
      );
    const end = buf.indexOf('\n---');
    const eol = end < 0 ? -1 : buf.indexOf('\n', end + 1);
    if (eol < 0) {
      if (buf.length > MAX_HEADER) throw damaged();
      return;
    }
    if (buf.length < eol + 1 + 16) return;
    const h = parseHeader(buf.subarray(0, eol + 1).toString('latin1'));
    if (!h) throw damaged();
    const fileKey = unwrap(h.stanzas, ids);
    const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
      .update(h.macInput, 'latin1')
      .digest();
    if (!timingSafeEqual(mac, h.mac)) throw damaged();
    key = hkdf(fileKey, buf.subarray(eol + 1, eol + 17), 'payload');
    pending.set(buf.subarray(eol + 17));
  }

  const openChunk = (sealed: Buffer, last: boolean) => {
    const plain = open(key!, chunkNonce(counter++, last), sealed);
    if (!plain) throw damaged();
    return plain;
  };

  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        pending.add(chunk);
        if (!key) readHeader();
        if (!key || pending.size <= SEALED_CHUNK) return cb();
        // a sealed chunk followed by more data is not the last one; the last is decided in flush
        let buf = pending.all();
        for (; buf.length > SEALED_CHUNK; buf = buf.subarray(SEALED_CHUNK))
          this.push(openChunk(buf.subarray(0, SEALED_CHUNK), false));
        pending.set(buf);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb) {
      try {
        if (!key) throw damaged(); // the header or payload nonce never completed
        // nothing after a full non-final chunk means the file was cut at a chunk boundary
        if (pending.size === 0) throw damaged();
        const plain = openChunk(pending.all(), true);
        if (plain.length === 0 && counter > 1) throw damaged(); // an empty last chunk only for an empty payload
        cb(null, plain);
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

// ---- whole buffers ----

async function through(t: Transform, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  t.on('data', (b: Buffer) => out.push(b));
  const done = new Promise<void>((resolve, reject) => {
    t.on('end', resolve);
    t.on('error', reject);
  });
  t.end(input);
  await done;
  return Buffer.concat(out);
}

export const encryptBuffer = (recipients: readonly string[], plain: Buffer) =>
  through(encryptStream(recipients), plain);
export const decryptBuffer = (identities: readonly string[], file: Buffer) => through(decryptStream(identities), file);
