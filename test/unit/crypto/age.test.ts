import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  createCipheriv,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  checkIdentity,
  checkRecipient,
  decryptBuffer,
  decryptStream,
  encryptBuffer,
  encryptStream,
  generateIdentity,
  recipientOf,
} from '../../../src/crypto/age.js';
import { DeployError } from '../../../src/errors.js';

const KIB64 = 64 * 1024;
const AGE = '/usr/bin/age';
const AGE_KEYGEN = '/usr/bin/age-keygen';
const noAge = existsSync(AGE) && existsSync(AGE_KEYGEN) ? false : `the age CLI is not installed at ${AGE}`;
const alice = generateIdentity();
const bob = generateIdentity();
const tmp = mkdtempSync(join(tmpdir(), 'age-test-'));

function isError(kind: 'config' | 'snapshot', message?: string | RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof DeployError, `expected a DeployError, got ${String(e)}`);
    assert.equal(e.kind, kind);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  };
}
const damaged = isError('snapshot', 'the encrypted copy is damaged or truncated');
const noMatch = isError('snapshot', "no identity matches this file's recipients");

/** the bytes of the file after the header line "--- …\n" (the payload nonce, then the sealed chunks) */
const payloadStart = (file: Buffer) => file.indexOf('\n', file.indexOf('\n---') + 1) + 1;

/** streams `data` through `t` in pieces of `size` bytes, collecting the output */
async function pipeInPieces(t: Transform, data: Buffer, size: number): Promise<Buffer> {
  const pieces = [];
  for (let i = 0; i < data.length; i += size) pieces.push(data.subarray(i, i + size));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), t, async (src: AsyncIterable<Buffer | string>) => {
    for await (const b of src) out.push(Buffer.from(b));
  });
  return Buffer.concat(out);
}

function writeKey(identity: string): string {
  const file = join(tmp, `key-${randomBytes(4).toString('hex')}.txt`);
  writeFileSync(file, `# created by a test\n# public key: ${recipientOf(identity)}\n${identity}\n`, { mode: 0o600 });
  return file;
}

/**
 * An age file written independently of the module (node:crypto, spec-driven), with chunks chosen by the test, for
 * the malformed files the encryptor never writes: an empty last chunk, a missing final flag.
 */
function craft(recipient: string, chunks: { plain: Buffer; last: boolean }[], otherStanzas = ''): Buffer {
  const CH = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  const words = [...recipient.slice(4, -6)].map((c) => CH.indexOf(c));
  const bits = words.map((w) => w.toString(2).padStart(5, '0')).join('');
  const them = Buffer.from(
    bits
      .slice(0, 256)
      .match(/.{8}/g)!
      .map((b) => parseInt(b, 2)),
  );
  const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
  const hkdf = (ikm: Buffer, salt: Buffer, info: string) => Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
  const seal = (key: Buffer, nonce: Buffer, plain: Buffer) => {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  };
  const fileKey = randomBytes(16);
  const eph = generateKeyPairSync('x25519');
  const share = Buffer.from(eph.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const theirKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: them.toString('base64url') },
    format: 'jwk',
  });
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: theirKey });
  const wrap = hkdf(shared, Buffer.concat([share, them]), 'age-encryption.org/v1/X25519');
  const head = `age-encryption.org/v1\n${otherStanzas}-> X25519 ${b64(share)}\n${b64(seal(wrap, Buffer.alloc(12), fileKey))}\n---`;
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(head)
    .digest();
  const nonce = randomBytes(16);
  const key = hkdf(fileKey, nonce, 'payload');
  const sealed = chunks.map((c, i) => {
    const n = Buffer.alloc(12);
    n.writeUIntBE(i, 5, 6);
    n[11] = c.last ? 1 : 0;
    return seal(key, n, c.plain);
  });
  return Buffer.concat([Buffer.from(`${head} ${b64(mac)}\n`), nonce, ...sealed]);
}

test('keys: generated identities are Bech32 AGE-SECRET-KEY-1… / age1… and recipientOf derives the pair', () => {
  assert.match(alice.identity, /^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/);
  assert.match(alice.recipient, /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/);
  assert.equal(recipientOf(alice.identity), alice.recipient);
  assert.equal(recipientOf(` ${bob.identity}\n`), bob.recipient);
  assert.notEqual(alice.recipient, bob.recipient);
  checkIdentity(alice.identity);
  assert.equal(checkRecipient(alice.recipient), alice.recipient);
  assert.equal(checkRecipient(`  ${alice.recipient.toUpperCase()}\n`), alice.recipient, 'trimmed, lower-cased');
});

test('round trips: empty, 1 byte, exactly 64 KiB, 64 KiB + 1, ~1 MB random; the size is as the format says', async () => {
  for (const size of [0, 1, KIB64, KIB64 + 1, 1_000_003]) {
    const plain = randomBytes(size);
    const file = await encryptBuffer([alice.recipient], plain);
    assert.ok(file.subarray(0, 22).equals(Buffer.from('age-encryption.org/v1\n')));
    const chunks = Math.max(1, Math.ceil(size / KIB64));
    assert.equal(file.length - payloadStart(file), 16 + size + 16 * chunks, `payload length for ${size} bytes`);
    assert.ok((await decryptBuffer([alice.identity], file)).equals(plain), `round trip of ${size} bytes`);
  }
});

test('streaming: odd write sizes across chunk boundaries on both sides give the same bytes back', async () => {
  const plain = randomBytes(3 * KIB64 + 12345);
  const file = await pipeInPieces(encryptStream([alice.recipient]), plain, 1000);
  assert.ok((await pipeInPieces(decryptStream([alice.identity]), file, 7777)).equals(plain));
  assert.ok((await pipeInPieces(decryptStream([alice.identity]), file, 1)).equals(plain));
  assert.ok((await pipeInPieces(decryptStream([alice.identity]), file, KIB64 + 16)).equals(plain));
});

test('several recipients: each identity alone decrypts, and a list of identities finds the matching one', async () => {
  const carol = generateIdentity();
  const plain = randomBytes(5000);
  const file = await encryptBuffer([alice.recipient, bob.recipient, carol.recipient], plain);
  assert.equal(file.toString('latin1').match(/^-> X25519 /gm)?.length, 3);
  for (const id of [alice, bob, carol]) assert.ok((await decryptBuffer([id.identity], file)).equals(plain));
  const other = generateIdentity();
  assert.ok((await decryptBuffer([other.identity, carol.identity], file)).equals(plain));
});

test('a wrong identity fails with "no identity matches"', async () => {
  const file = await encryptBuffer([alice.recipient], Buffer.from('secret rows'));
  await assert.rejects(decryptBuffer([bob.identity], file), noMatch);
  await assert.rejects(decryptBuffer([bob.identity, generateIdentity().identity], file), noMatch);
});

test('a flipped byte anywhere in the header or payload is refused', async () => {
  const plain = randomBytes(2 * KIB64 + 10);
  const file = await encryptBuffer([alice.recipient], plain);
  const start = payloadStart(file);
  const text = file.subarray(0, start).toString('latin1');
  const at = {
    version: 3,
    share: text.indexOf('X25519 ') + 10,
    body: text.indexOf('\n', text.indexOf('-> ')) + 5,
    mac: text.indexOf('--- ') + 10,
    nonce: start + 3,
    firstChunk: start + 16 + 100,
    firstTag: start + 16 + KIB64 + 3,
    lastChunk: file.length - 20,
    lastTag: file.length - 1,
  };
  for (const [where, i] of Object.entries(at)) {
    const bad = Buffer.from(file);
    bad[i] = bad[i]! ^ (where === 'share' || where === 'body' || where === 'mac' ? 0x01 : 0x80);
    // a changed share or wrapped key no longer unwraps for this identity, a changed version is not age's: any
    // snapshot error is right there
    const check = where === 'share' || where === 'body' || where === 'version' ? isError('snapshot') : damaged;
    await assert.rejects(decryptBuffer([alice.identity], bad), check, `flip in ${where}`);
  }
});

test('truncation is refused at every kind of cut, never a short plaintext', async () => {
  const plain = randomBytes(2 * KIB64);
  const file = await encryptBuffer([alice.recipient], plain);
  const start = payloadStart(file);
  const cuts = {
    empty: 0,
    midVersion: 10,
    midHeader: start - 20,
    headerOnly: start - 16,
    midNonce: start - 8,
    nonceOnly: start,
    midFirstChunk: start + 16 + 1000,
    chunkBoundary: start + 16 + KIB64 + 16, // the first chunk intact, non-final: the cut must still show
    midLastChunk: file.length - 100,
    lastByte: file.length - 1,
  };
  for (const [where, n] of Object.entries(cuts)) {
    const err = where === 'empty' || where === 'midVersion' ? isError('snapshot') : damaged;
    await assert.rejects(decryptBuffer([alice.identity], file.subarray(0, n)), err, `cut: ${where}`);
  }
  await assert.rejects(decryptBuffer([alice.identity], Buffer.concat([file, Buffer.from('x')])), damaged, 'appended');
});

test('the stream rule for last chunks: final flag required, an empty last chunk only for an empty payload', async () => {
  const a = Buffer.alloc(KIB64, 1);
  const ok = craft(alice.recipient, [
    { plain: a, last: false },
    { plain: Buffer.from('tail'), last: true },
  ]);
  assert.ok((await decryptBuffer([alice.identity], ok)).equals(Buffer.concat([a, Buffer.from('tail')])));
  assert.equal(
    (await decryptBuffer([alice.identity], craft(alice.recipient, [{ plain: Buffer.alloc(0), last: true }]))).length,
    0,
  );
  const emptyLast = craft(alice.recipient, [
    { plain: a, last: false },
    { plain: Buffer.alloc(0), last: true },
  ]);
  await assert.rejects(decryptBuffer([alice.identity], emptyLast), damaged, 'empty last chunk after a full one');
  const noFinal = craft(alice.recipient, [{ plain: Buffer.from('short'), last: false }]);
  await assert.rejects(decryptBuffer([alice.identity], noFinal), damaged, 'no chunk flagged final');
  const finalTooEarly = craft(alice.recipient, [
    { plain: a, last: true },
    { plain: Buffer.from('more'), last: true },
  ]);
  await assert.rejects(decryptBuffer([alice.identity], finalTooEarly), damaged, 'data after the final chunk');
  const shortNonFinal = craft(alice.recipient, [
    { plain: Buffer.from('short'), last: false },
    { plain: Buffer.from('tail'), last: true },
  ]);
  await assert.rejects(decryptBuffer([alice.identity], shortNonFinal), damaged, 'a short chunk before the last');
});

test('other stanzas (plugins, grease) are skipped whatever their body length; a malformed one is refused', async () => {
  const body = (n: number) => randomBytes(n).toString('base64').replace(/=+$/, '').replace(/.{64}/g, '$&\n') + '\n';
  const one = [{ plain: Buffer.from('rows'), last: true }];
  const others = `-> example.com/enigma a1 b+2\n${body(0)}-> grease! x\n${body(48)}-> scrypt-ish 9\n${body(100)}`;
  const file = craft(alice.recipient, one, others);
  assert.match(file.toString('latin1'), /^[A-Za-z0-9+/]{64}\n\n/m, 'a 48-byte body ends with an empty line');
  assert.equal((await decryptBuffer([alice.identity], file)).toString(), 'rows');
  await assert.rejects(decryptBuffer([bob.identity], file), noMatch);
  const missingEmptyLine = craft(alice.recipient, one, `-> grease x\n${body(48).slice(0, -1)}`);
  await assert.rejects(decryptBuffer([alice.identity], missingEmptyLine), damaged);
  const badArg = craft(alice.recipient, one, `-> grease \u00e9\n${body(3)}`);
  await assert.rejects(decryptBuffer([alice.identity], badArg), damaged);
  const x25519ThreeArgs = craft(
    alice.recipient,
    one,
    `-> X25519 ${randomBytes(32).toString('base64').slice(0, 43)} z\n${body(32)}`,
  );
  await assert.rejects(decryptBuffer([alice.identity], x25519ThreeArgs), damaged);
});

test('not an age file: a clear snapshot error, without buffering it all', async () => {
  await assert.rejects(
    decryptBuffer([alice.identity], Buffer.from('PGDMP custom dump\n')),
    isError('snapshot', /not an age/),
  );
  await assert.rejects(
    decryptBuffer([alice.identity], Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\n')),
    isError('snapshot', /not an age/),
  );
});

test('bad recipient strings are config errors naming the problem; a secret key given as recipient is not echoed', () => {
  const r = alice.recipient;
  const cases: [string, RegExp][] = [
    ['', /does not start with "age1"/],
    ['ssh-ed25519 aaaac3nzac1lzdi1nte5aaaai', /does not start with "age1"/],
    [r.slice(0, -1) + (r.endsWith('q') ? 'p' : 'q'), /checksum/],
    [r.slice(0, 20), /checksum/],
    [r.slice(0, 10) + 'b' + r.slice(11), /character/],
    ['Age1' + r.slice(4), /mixes upper and lower case/],
    ['age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq', /checksum/],
  ];
  for (const [input, why] of cases) assert.throws(() => checkRecipient(input), isError('config', why), input);
  for (const secret of [alice.identity, alice.identity.toLowerCase()]) {
    assert.throws(
      () => checkRecipient(secret),
      (e: unknown) => {
        isError('config', /secret key was given where a recipient/)(e);
        const err = e as DeployError;
        assert.ok(!`${err.message} ${err.remedy}`.toUpperCase().includes(alice.identity.slice(16, 40)));
        return true;
      },
    );
  }
  assert.throws(() => encryptStream([]), isError('config', /at least one age recipient/));
  assert.throws(() => encryptStream([alice.recipient, 'age1nope']), isError('config', /recipient/));
});

test('bad identity strings are config errors that never contain the key', () => {
  const id = alice.identity;
  const typo = id.slice(0, 30) + (id[30] === 'Q' ? 'P' : 'Q') + id.slice(31);
  const cases: [string, RegExp][] = [
    [typo, /checksum/],
    [id.slice(0, -3), /checksum/],
    [id.slice(0, 20) + 'B' + id.slice(21), /character/],
    [id.slice(0, 20) + id.slice(20).toLowerCase(), /mixes upper and lower case/],
    [alice.recipient, /does not start with "AGE-SECRET-KEY-1"/],
    ['', /does not start with "AGE-SECRET-KEY-1"/],
  ];
  for (const [input, why] of cases) {
    for (const call of [() => checkIdentity(input), () => decryptStream([input]), () => recipientOf(input)]) {
      assert.throws(call, (e: unknown) => {
        isError('config', why)(e);
        const err = e as DeployError;
        const said = `${err.message} ${err.remedy ?? ''}`.toUpperCase();
        assert.ok(!said.includes(id.slice(16, 30)), 'the message does not contain the key');
        if (input.length > 20) assert.ok(!said.includes(input.slice(16, 30).toUpperCase()));
        return true;
      });
    }
  }
  assert.throws(() => decryptStream([]), isError('config'));
});

test('interop: our files decrypt with age -d -i, and our keys are accepted by age', { skip: noAge }, async () => {
  for (const size of [0, 1, KIB64, KIB64 + 1, 1_000_003]) {
    const plain = randomBytes(size);
    const file = await encryptBuffer([bob.recipient, alice.recipient], plain);
    const out = execFileSync(AGE, ['-d', '-i', writeKey(alice.identity)], { input: file, maxBuffer: 1 << 24 });
    assert.ok(out.equals(plain), `age -d of our ${size}-byte file`);
  }
  const keyFile = writeKey(alice.identity);
  assert.equal(execFileSync(AGE_KEYGEN, ['-y', keyFile]).toString().trim(), alice.recipient);
  // age -d refuses our file when given the wrong key, as we would
  const file = await encryptBuffer([alice.recipient], Buffer.from('x'));
  assert.throws(() => execFileSync(AGE, ['-d', '-i', writeKey(bob.identity)], { input: file, stdio: 'pipe' }));
});

test('interop: age -e -r output decrypts with us, and age-keygen keys parse', { skip: noAge }, async () => {
  const keyFile = join(tmp, 'keygen.txt');
  execFileSync(AGE_KEYGEN, ['-o', keyFile], { stdio: 'pipe' });
  const text = readFileSync(keyFile, 'utf8');
  const identity = /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0];
  const recipient = /^# public key: (age1\S+)$/m.exec(text)![1]!;
  checkIdentity(identity);
  assert.equal(checkRecipient(recipient), recipient);
  assert.equal(recipientOf(identity), recipient);
  for (const size of [0, 1, KIB64, KIB64 + 1, 1_000_003]) {
    const plain = randomBytes(size);
    const file = execFileSync(AGE, ['-e', '-r', recipient, '-r', alice.recipient], {
      input: plain,
      maxBuffer: 1 << 24,
    });
    assert.ok((await decryptBuffer([identity], file)).equals(plain), `our decryption of age's ${size}-byte file`);
    assert.ok((await decryptBuffer([alice.identity], file)).equals(plain));
    await assert.rejects(decryptBuffer([bob.identity], file), noMatch);
  }
  // age's own file cut inside its last chunk is refused too
  const last = execFileSync(AGE, ['-e', '-r', recipient], { input: Buffer.alloc(KIB64 * 2, 5) });
  await assert.rejects(decryptBuffer([identity], last.subarray(0, last.length - 17)), damaged);
});
