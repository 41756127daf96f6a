import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ConfigError } from '../../../../src/config/problems.js';
import { decryptBuffer, generateIdentity } from '../../../../src/crypto/age.js';
import {
  cleanupOffsite,
  copyOffsite,
  copyTakenSnapshot,
  fetchOffsite,
  judgeOffsiteRetention,
  parseOffsiteListing,
  rcloneCatCmd,
  rcloneDeleteCmd,
  rcloneListCmd,
  rcloneMoveCmd,
  rcloneRcatCmd,
  remotePath,
  type OffsiteCopy,
} from '../../../../src/engine/database/offsite.js';
import {
  metaName,
  snapshotName,
  type SnapshotEntry,
  type SnapshotMeta,
} from '../../../../src/engine/database/snapshot.js';
import { snapshotCommand } from '../../../../src/engine/operations/snapshot.js';
import { Layout } from '../../../../src/engine/stack/layout.js';
import type { Command, Host, Local, RunOptions, RunResult } from '../../../../src/host/host.js';
import { Redactor } from '../../../../src/log/redact.js';
import type { DeploymentEvent } from '../../../../src/notify/event.js';
import type { Notifier } from '../../../../src/notify/notifier.js';
import { FakeStack, fakeConfig, fakeEngine, type FakeEngine } from '../../../fakes/host.js';

const DAY = 86_400_000;
const keys = generateIdentity();
const other = generateIdentity();
const offsite = (over: Record<string, unknown> = {}) =>
  fakeConfig({
    database: { snapshots: { offsite: { remote: 'vault:togather/staging', recipients: [keys.recipient] }, ...over } },
  });

// --- config -----------------------------------------------------------------------------------------------------

test('config: offsite and max_age are checked, with the key and the fix named; absent = off', () => {
  const plain = fakeConfig().config.database.snapshots;
  assert.equal(plain.offsite, undefined);
  assert.equal(plain.max_age, undefined);
  const on = offsite({ max_age: '26h' }).config.database.snapshots;
  assert.deepEqual(on.offsite, { remote: 'vault:togather/staging', recipients: [keys.recipient], keep_min: 3 });
  assert.equal(on.max_age, 26 * 3600_000);
  const problems = (snapshots: Record<string, unknown>): string => {
    try {
      fakeConfig({ database: { snapshots } });
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems.map((p) => `${p.path}: ${p.message} — ${p.remedy ?? ''}`).join('\n');
    }
    assert.fail('accepted');
  };
  const bad = (o: Record<string, unknown>) => problems({ offsite: { recipients: [keys.recipient], ...o } });
  assert.match(bad({ remote: 'vault:../etc' }), /offsite\.remote: [^]*remove "\.\."/);
  assert.match(bad({ remote: 'vault' }), /offsite\.remote: [^]*write <remote>:<path>/);
  assert.match(bad({ remote: 'vault:/abs' }), /offsite\.remote/);
  assert.match(bad({ remote: 'va ult:x' }), /offsite\.remote/);
  assert.match(bad({ remote: 'v:x; rm -rf /' }), /offsite\.remote/);
  assert.match(bad({ remote: 'v:x', recipients: [] }), /offsite\.recipients: [^]*name at least one age recipient/);
  assert.match(
    bad({ remote: 'v:x', recipients: ['age1nope'] }),
    /offsite\.recipients\[0\]: [^]*not a valid age recipient/,
  );
  const secret = bad({ remote: 'v:x', recipients: [keys.identity] });
  assert.match(secret, /secret key was given where a recipient/);
  assert.ok(!new Redactor().redact(secret).includes(keys.identity.slice(20)), 'the secret key is masked, unregistered');
  assert.match(bad({ remote: 'v:x', keep_min: 0 }), /offsite\.keep_min/);
  assert.match(problems({ max_age: '26' }), /max_age/);
  assert.equal(offsite().config.database.snapshots.offsite?.keep_min, 3);
});

// --- pure parts ---------------------------------------------------------------------------------------------------

test('rclone argv: one program, the remote path as one argument, never a shell', () => {
  assert.equal(remotePath('vault:a/b', 'x.age'), 'vault:a/b/x.age');
  assert.equal(remotePath('vault:', 'x.age'), 'vault:x.age');
  assert.deepEqual(rcloneRcatCmd('vault:a', 'f.age.part').argv, ['rclone', 'rcat', 'vault:a/f.age.part']);
  assert.deepEqual(rcloneCatCmd('vault:a', 'f.age').argv, ['rclone', 'cat', 'vault:a/f.age']);
  assert.deepEqual(rcloneListCmd('vault:a').argv, ['rclone', 'lsjson', '--files-only', '--no-mimetype', 'vault:a']);
  assert.deepEqual(rcloneDeleteCmd('vault:a', 'f.age').argv, ['rclone', 'deletefile', 'vault:a/f.age']);
  assert.deepEqual(rcloneMoveCmd('vault:a', 'f.age.part', 'f.age').argv, [
    'rclone',
    'moveto',
    'vault:a/f.age.part',
    'vault:a/f.age',
  ]);
});

test('listing: copies newest first with their metadata, unfinished uploads apart, other files ignored', () => {
  const a = 'togather_20260101_020000_abcdef0.sql.gz';
  const b = 'togather_20260102_020000_abcdef0.sql.gz';
  const l = parseOffsiteListing(
    'v:x',
    JSON.stringify([
      { Name: `${a}.age`, Size: 10, ModTime: '2026-01-01T02:00:05Z' },
      { Name: `${metaName(a)}.age`, Size: 3 },
      { Name: `${b}.age`, Size: 20 },
      { Name: `${b}.age.part`, Size: 7, ModTime: '2026-01-02T02:00:05Z' },
      { Name: 'README.txt', Size: 1 },
      { Name: 'evil.sql.gz.age', Size: 1 },
    ]),
  );
  assert.deepEqual(
    l.copies.map((c) => [c.file, c.bytes, c.meta]),
    [
      [b, 20, false],
      [a, 10, true],
    ],
  );
  assert.equal(l.copies[1]!.createdAt, Date.UTC(2026, 0, 1, 2));
  assert.deepEqual(l.partials, [{ name: `${b}.age.part`, bytes: 7, mtime: Date.parse('2026-01-02T02:00:05Z') }]);
});

test('retention of the copies: expired ones go, never the newest nor below keep_min', () => {
  const now = Date.UTC(2026, 5, 1);
  const copy = (file: string, ageDays: number): OffsiteCopy => ({
    file,
    bytes: 1,
    createdAt: now - ageDays * DAY,
    meta: true,
  });
  const all = [copy('e', 40), copy('a', 1), copy('c', 20), copy('b', 5), copy('d', 30)];
  const v = judgeOffsiteRetention(all, now, 14, 3);
  assert.deepEqual(
    v.keep.map((k) => [k.copy.file, k.why]),
    [
      ['a', 'newest'],
      ['b', 'keep_min'],
      ['c', 'keep_min'],
    ],
  );
  assert.deepEqual(
    v.remove.map((c) => c.file),
    ['d', 'e'],
  );
  // everything old: keep_min of them stay, the newest first
  const old = judgeOffsiteRetention([copy('x', 100), copy('y', 90)], now, 7, 1);
  assert.deepEqual(
    old.keep.map((k) => k.copy.file),
    ['y'],
  );
  assert.deepEqual(judgeOffsiteRetention([copy('x', 3), copy('y', 2)], now, 7, 1).remove, [], 'within retention');
});

// --- the flow against a fake host and a fake rclone -----------------------------------------------------------------

const FILE = 'togather_20231114_221320_abcdef0.sql.gz';
const MARKER = 'marker-row-5f1c';
const DUMP = gzipSync(
  Buffer.from(`-- dump\nINSERT INTO t VALUES ('${MARKER}');\n-- PostgreSQL database dump complete\n`),
);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function metaOf(file: string, body: Buffer, createdAt: number): SnapshotMeta {
  return {
    snapshot_id: '01TEST',
    file,
    environment: 'staging',
    database_name: 'togather',
    created_at: new Date(createdAt).toISOString(),
    file_size_bytes: body.length,
    sha256: sha(body),
    compression: 'gzip',
    format: 'plain',
    git_commit: 'abcdef0',
    pre_migration_version: 3,
    pre_migration_dirty: false,
    reason: 'manual',
    taken_by: 'tester',
    retention_until: new Date(createdAt + 7 * DAY).toISOString(),
    duration_ms: 10,
    status: 'verified',
    verification: { pg_dump_exit: 0, gzip_ok: true, closing_line: true, bytes: body.length },
  };
}

/** an rclone remote in memory, behind the Local port; `ran` keeps every argv */
class FakeRclone implements Local {
  readonly files = new Map<string, { body: Buffer; mtime: number }>();
  readonly ran: string[] = [];
  readonly envs: (Record<string, string> | undefined)[] = [];
  /** a name → an exit code rcat of it answers with (after reading its input) */
  failRcat = new Map<string, number>();
  /** lies about sizes in listings: a cut upload */
  shrink = 0;
  constructor(
    readonly remote: string,
    private readonly clock: { now(): number },
  ) {}

  private name(p: string): string {
    assert.ok(p.startsWith(`${this.remote}/`), `${p} is under ${this.remote}`);
    return p.slice(this.remote.length + 1);
  }

  async run(c: Command, opts: RunOptions & { env?: Record<string, string> } = {}): Promise<RunResult> {
    this.ran.push(c.argv.join(' '));
    this.envs.push(opts.env);
    const [prog, verb, a, b] = c.argv;
    assert.equal(prog, 'rclone');
    const ok = (stdout = ''): RunResult => ({ code: 0, stdout, stderr: '', durationMs: 1 });
    switch (verb) {
      case 'rcat': {
        const chunks: Buffer[] = [];
        for await (const x of opts.stdin as Readable) chunks.push(Buffer.from(x as Buffer));
        const n = this.name(a!);
        const code = this.failRcat.get(n);
        if (code) return { code, stdout: '', stderr: 'Failed to rcat: 403 Forbidden', durationMs: 1 };
        this.files.set(n, { body: Buffer.concat(chunks), mtime: this.clock.now() });
        return ok();
      }
      case 'lsjson': {
        const list = [...this.files].map(([Name, f]) => ({
          Name,
          Size: f.body.length - (Name.endsWith('.part') ? this.shrink : 0),
          ModTime: new Date(f.mtime).toISOString(),
        }));
        return ok(JSON.stringify(list));
      }
      case 'moveto': {
        const from = this.name(c.argv[2]!);
        const f = this.files.get(from)!;
        this.files.delete(from);
        this.files.set(this.name(c.argv[3]!), f);
        return ok();
      }
      case 'deletefile':
        return this.files.delete(this.name(a!)) ? ok() : { code: 4, stdout: '', stderr: 'not found', durationMs: 1 };
    }
    void b;
    throw new Error(`unexpected rclone ${c.argv.join(' ')}`);
  }

  stream(c: Command, env?: Record<string, string>): { stdout: Readable; done: Promise<RunResult> } {
    this.ran.push(c.argv.join(' '));
    this.envs.push(env);
    assert.deepEqual(c.argv.slice(0, 2), ['rclone', 'cat']);
    const f = this.files.get(this.name(c.argv[2]!));
    return {
      stdout: Readable.from(f ? [f.body] : []),
      done: Promise.resolve({ code: f ? 0 : 3, stdout: '', stderr: f ? '' : 'not found', durationMs: 1 }),
    };
  }
}

interface World {
  e: FakeEngine;
  rclone: FakeRclone;
  layout: Layout;
  /** the host's snapshots directory: name → bytes */
  disk: Map<string, Buffer>;
  metas: Map<string, SnapshotMeta>;
}

/** an engine whose host keeps snapshot files in `disk` and streams them, and whose deployer has a fake rclone */
function world(cfg = offsite()): World {
  const clock = { now: () => e.clock.now() };
  const rclone = new FakeRclone('vault:togather/staging', clock);
  const e = fakeEngine(cfg, rclone);
  e.ctx.offsiteKeys = { identities: [keys.identity], rcloneEnv: { RCLONE_CONFIG: '/tmp/x/rclone.conf' } };
  const disk = new Map<string, Buffer>();
  const metas = new Map<string, SnapshotMeta>();
  const h = e.host;
  const arg = (line: string, i: number) => line.split(' ').at(i)!;
  // the scripted host has no stream(): this one streams the files of `disk`
  (h as Host).stream = (c) => {
    const f = disk.get(c.argv.at(-1)!);
    h.ran.push(c.argv.join(' '));
    return {
      stdout: Readable.from(f ? [f] : []),
      done: Promise.resolve({ code: f ? 0 : 1, stdout: '', stderr: f ? '' : 'No such file', durationMs: 1 }),
    };
  };
  h.on(/cat > "\$2"/, (line, _n, stdin) => {
    disk.set(arg(line, -1), Buffer.from(stdin, 'base64'));
    return {};
  });
  h.on(/echo "sha256=\$\(sha256sum/, (line) => {
    const f = disk.get(arg(line, -1));
    if (!f) return { stdout: 'missing=file\n' };
    const gz = f[0] === 0x1f && f[1] === 0x8b ? 'ok' : 'bad';
    return { stdout: `bytes=${f.length}\nsha256=${sha(f)}\ngzip=${gz}\nclosing=${gz === 'ok' ? 'ok' : 'missing'}\n` };
  });
  h.on(/ln -- "\$2" "\$3"/, (line, _n, stdin) => {
    const [part, file] = [arg(line, -3), arg(line, -2)];
    if (disk.has(file)) return { code: 31 };
    disk.set(file, disk.get(part)!);
    disk.delete(part);
    metas.set(file, JSON.parse(stdin) as SnapshotMeta);
    return {};
  });
  h.on(/^sh -c cd -- "\$1" 2>\/dev\/null && rm -f -- "\$2" "\$2\.json"/, (line) => {
    disk.delete(arg(line, -1));
    return {};
  });
  h.on(/for f in \*\.sql\.gz/, () => ({
    stdout: [...disk]
      .filter(([n]) => !n.startsWith('.'))
      .map(
        ([n, b]) =>
          `F ${b.length} 1700000000 ${n}\n` + (metas.has(n) ? `M ${n} ${JSON.stringify(metas.get(n))}\n` : ''),
      )
      .join(''),
  }));
  return { e, rclone, layout: new Layout(e.ctx.cfg), disk, metas };
}

function onHost(w: World, file = FILE, body = DUMP, createdAt = w.e.clock.now()): SnapshotEntry {
  const meta = metaOf(file, body, createdAt);
  w.disk.set(file, body);
  w.metas.set(file, meta);
  return { file, bytes: body.length, mtime: createdAt, meta, createdAt, retentionUntil: createdAt + 7 * DAY };
}

test('copy: encrypted to the recipients, uploaded as .part, size checked, metadata beside it, then renamed', async () => {
  const w = world();
  const entry = onHost(w);
  const r = await copyOffsite(w.e.ctx, w.layout, entry);
  assert.deepEqual([...w.rclone.files.keys()].sort(), [`${metaName(FILE)}.age`, `${FILE}.age`]);
  const stored = w.rclone.files.get(`${FILE}.age`)!.body;
  assert.equal(r.bytes, stored.length);
  assert.ok(!stored.includes(MARKER) && !stored.includes(DUMP.subarray(0, 3)), 'neither the data nor gzip magic');
  assert.deepEqual(await decryptBuffer([keys.identity], stored), DUMP);
  await assert.rejects(decryptBuffer([other.identity], stored));
  const meta = JSON.parse(
    (await decryptBuffer([keys.identity], w.rclone.files.get(`${metaName(FILE)}.age`)!.body)).toString(),
  ) as SnapshotMeta;
  assert.equal(meta.sha256, sha(DUMP));
  const order = w.rclone.ran.map((l) => l.split(' ').slice(0, 3).join(' '));
  assert.deepEqual(order, [
    `rclone rcat vault:togather/staging/${FILE}.age.part`,
    'rclone lsjson --files-only',
    `rclone rcat vault:togather/staging/${metaName(FILE)}.age`,
    `rclone moveto vault:togather/staging/${FILE}.age.part`,
  ]);
  assert.ok(
    w.rclone.envs.every((env) => env?.RCLONE_CONFIG === '/tmp/x/rclone.conf'),
    "rclone gets the session's config",
  );
});

test('copy: a short upload or a failed rcat removes the partial upload and names the cause', async () => {
  const w = world();
  const entry = onHost(w);
  w.rclone.shrink = 5;
  await assert.rejects(copyOffsite(w.e.ctx, w.layout, entry), /the remote holds \d+ bytes where \d+ were written/);
  assert.deepEqual([...w.rclone.files.keys()], [], 'no partial, no copy');
  w.rclone.shrink = 0;
  w.rclone.failRcat.set(`${FILE}.age.part`, 1);
  await assert.rejects(copyOffsite(w.e.ctx, w.layout, entry), (e: Error) => {
    assert.match(e.message, /rclone exited 1[^]*403 Forbidden/);
    assert.match(e.message, /partial upload was removed/);
    return true;
  });
  w.rclone.failRcat.clear();
  w.disk.delete(FILE);
  await assert.rejects(copyOffsite(w.e.ctx, w.layout, entry), /reading it on the host failed/);
  assert.deepEqual([...w.rclone.files.keys()], []);
});

test('fetch: decrypted into a partial file, verified against the recorded SHA-256, then published', async () => {
  const w = world();
  await copyOffsite(w.e.ctx, w.layout, onHost(w));
  w.disk.clear();
  w.metas.clear();
  const meta = await fetchOffsite(w.e.ctx, w.layout, FILE);
  assert.equal(meta.file, FILE);
  assert.deepEqual(w.disk.get(FILE), DUMP);
  assert.deepEqual([...w.disk.keys()], [FILE], 'the partial file became the snapshot');
  assert.equal(w.metas.get(FILE)?.sha256, sha(DUMP));
  // already there and identical (a drill on a host that kept its copy): the host's file stays, the fetch passes
  const again = await fetchOffsite(w.e.ctx, w.layout, FILE);
  assert.equal(again.sha256, sha(DUMP));
  assert.match(w.e.said.info.join('\n'), /identical to togather_\S+ on the host/);
  assert.deepEqual([...w.disk.keys()], [FILE]);
  // already there with other content: refused, nothing replaced
  w.metas.set(FILE, { ...w.metas.get(FILE)!, sha256: 'f'.repeat(64) });
  await assert.rejects(fetchOffsite(w.e.ctx, w.layout, FILE), (e: Error) => {
    assert.match(e.message, /already in .* on the host, with other content than the copy/);
    assert.match(String((e as { remedy?: string }).remedy), /without --from-offsite/);
    return true;
  });
  assert.deepEqual([...w.disk.keys()], [FILE]);
});

test('fetch: a wrong key, a damaged copy or no key leaves nothing on the host', async () => {
  const w = world();
  await copyOffsite(w.e.ctx, w.layout, onHost(w));
  w.disk.clear();
  w.metas.clear();
  w.e.ctx.offsiteKeys = { identities: [other.identity] };
  await assert.rejects(fetchOffsite(w.e.ctx, w.layout, FILE), (e: Error) => {
    assert.ok(!e.message.includes(other.identity) && !e.message.includes(keys.identity));
    assert.match(e.message, /^fetching \S+ from vault:togather\/staging failed: [^]*nothing was left on the host$/);
    return true;
  });
  assert.equal(w.disk.size, 0);
  w.e.ctx.offsiteKeys = { identities: [] };
  await assert.rejects(fetchOffsite(w.e.ctx, w.layout, FILE), (e: Error) => {
    assert.match(e.message, /needs the age identity/);
    assert.match(String((e as { remedy?: string }).remedy), /TOGATHER_SNAPSHOT_IDENTITY/);
    return true;
  });
  w.e.ctx.offsiteKeys = { identities: [keys.identity] };
  const copy = w.rclone.files.get(`${FILE}.age`)!;
  copy.body = Buffer.concat([copy.body.subarray(0, copy.body.length - 40), Buffer.alloc(40)]);
  await assert.rejects(fetchOffsite(w.e.ctx, w.layout, FILE), /fetching .* failed[^]*nothing was left on the host/);
  assert.deepEqual(
    [...w.disk.keys()].filter((n) => !n.startsWith('.partial-')),
    [],
  );
  assert.equal(w.disk.size, 0, 'the partial file was discarded');
  await assert.rejects(fetchOffsite(w.e.ctx, w.layout, 'togather_20200101_000000_0000000.sql.gz'), /no copy of/);
});

test('cleanup of the copies: expired beyond keep_min go with their metadata; a dry run lists only', async () => {
  const w = world(offsite({ retention_days: 7 }));
  const now = w.e.clock.now();
  const files = [40, 30, 20, 10, 1].map((d) => snapshotName('togather', new Date(now - d * DAY), 'abcdef0'));
  for (const f of files) {
    w.rclone.files.set(`${f}.age`, { body: Buffer.from('x'), mtime: now });
    w.rclone.files.set(`${metaName(f)}.age`, { body: Buffer.from('x'), mtime: now });
  }
  w.rclone.files.set('old.sql.gz.age.part', { body: Buffer.from('x'), mtime: now - 2 * DAY });
  w.rclone.files.set(`${files[4]}.age.part`, { body: Buffer.from('x'), mtime: now });
  w.e.ctx.dryRun = true;
  const dry = await cleanupOffsite(w.e.ctx);
  assert.deepEqual(dry.removed, [files[1], files[0]]);
  assert.equal(w.rclone.files.size, 12, 'a dry run removes nothing');
  w.e.ctx.dryRun = false;
  const r = await cleanupOffsite(w.e.ctx);
  assert.deepEqual(r.removed, [files[1], files[0]]);
  assert.deepEqual(r.partials, ['old.sql.gz.age.part'], 'an upload under way is left alone');
  assert.deepEqual(
    [...w.rclone.files.keys()].filter((n) => n.endsWith('.sql.gz.age')).sort(),
    files.slice(2).map((f) => `${f}.age`),
  );
  assert.ok(!w.rclone.files.has(`${metaName(files[0]!)}.age`));
});

// --- operations ----------------------------------------------------------------------------------------------------

function sentTo(w: World): DeploymentEvent[] {
  const sent: DeploymentEvent[] = [];
  w.e.ctx.notifier = {
    enabled: true,
    send: async (ev: DeploymentEvent) => (sent.push(ev), []),
    settle: async () => undefined,
  } as unknown as Notifier;
  return sent;
}

test('snapshot check: stale snapshots fail with their own message and alert the channels; fresh ones pass', async () => {
  const w = world(offsite({ max_age: '26h' }));
  new FakeStack(w.e);
  const sent = sentTo(w);
  const now = w.e.clock.now();
  onHost(w, 'togather_20231113_120000_abcdef0.sql.gz', DUMP, now - 30 * 3600_000);
  await assert.rejects(snapshotCommand(w.e.ctx, { sub: 'check' }), (e: Error) => {
    assert.match(
      e.message,
      /^STALE SNAPSHOTS: the newest snapshot of staging, \S+ on the host, is 30h old \(max_age 26h\)$/,
    );
    return true;
  });
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.event, 'deployment.failed');
  assert.equal(sent[0]!.metadata.trigger, 'snapshot-check');
  assert.match(sent[0]!.failure!.reason, /STALE SNAPSHOTS/);
  assert.ok(!w.e.host.ran.some((l) => /info\.json/.test(l)), 'a check takes no lock');

  // a fresh snapshot on the host, but no copy off it: still an alert
  const fresh = onHost(w, FILE, DUMP, now - 3600_000);
  await assert.rejects(snapshotCommand(w.e.ctx, { sub: 'check' }), /there is no off-site copy in vault:/);
  await copyOffsite(w.e.ctx, w.layout, fresh);
  const ok = await snapshotCommand(w.e.ctx, { sub: 'check' });
  assert.equal(ok.report.ok, true);
  assert.match(ok.text, /newest snapshot: togather_20231114_221320_abcdef0\.sql\.gz/);
});

test('snapshot check without max_age passes and says so; off-site commands without offsite are config errors', async () => {
  const w = world(fakeConfig());
  new FakeStack(w.e);
  const r = await snapshotCommand(w.e.ctx, { sub: 'check' });
  assert.match(r.text, /max_age is not set/);
  const ran = w.e.host.ran.length;
  await assert.rejects(snapshotCommand(w.e.ctx, { sub: 'copy' }), /database\.snapshots\.offsite is not configured/);
  await assert.rejects(
    snapshotCommand(w.e.ctx, { sub: 'restore', file: FILE, fromOffsite: true }),
    /offsite is not configured/,
  );
  assert.equal(w.e.host.ran.length, ran, 'nothing ran');
});

test('restore --from-offsite without an identity is a config error before anything runs', async () => {
  const w = world();
  new FakeStack(w.e);
  w.e.ctx.offsiteKeys = { identities: [] };
  await assert.rejects(snapshotCommand(w.e.ctx, { sub: 'restore', file: FILE, fromOffsite: true }), (e: Error) => {
    assert.match(e.message, /needs the age identity/);
    return true;
  });
  assert.deepEqual(w.e.host.ran, []);
  assert.deepEqual(w.rclone.ran, []);
});

test('snapshot copy: the newest by default, under the lock; list shows both sides', async () => {
  const w = world();
  const stack = new FakeStack(w.e);
  onHost(w, 'togather_20231110_000000_abcdef0.sql.gz', DUMP, w.e.clock.now() - 3 * DAY);
  onHost(w);
  const r = await snapshotCommand(w.e.ctx, { sub: 'copy' });
  assert.match(r.text, new RegExp(`copied off the host to vault:togather/staging: ${FILE}\\.age`));
  assert.ok(w.rclone.files.has(`${FILE}.age`));
  assert.ok(!w.rclone.files.has('togather_20231110_000000_abcdef0.sql.gz.age'));
  assert.ok(stack.ops.includes('lock acquire') && stack.ops.at(-1) === 'lock release');
  const l = await snapshotCommand(w.e.ctx, { sub: 'list' });
  assert.match(
    l.text,
    /off-site copies in vault:togather\/staging \(newest first, encrypted\):\n {2}togather_20231114/,
  );
  const data = l.data as { snapshots: unknown[]; offsite: { copies: unknown[] } };
  assert.equal(data.snapshots.length, 2);
  assert.equal(data.offsite.copies.length, 1);
});

test('snapshot create with offsite: a failed copy fails the operation and keeps the host snapshot', async () => {
  const w = world();
  new FakeStack(w.e);
  const entry = onHost(w);
  w.rclone.failRcat.set(`${FILE}.age.part`, 7);
  // the copy step alone, as create runs it after taking the snapshot
  await assert.rejects(snapshotCommand(w.e.ctx, { sub: 'copy', file: FILE }), (e: Error) => {
    assert.match(e.message, new RegExp(`${entry.file} is on the host, but its copy off the host failed`));
    assert.match(String((e as { remedy?: string }).remedy), /snapshot copy staging togather_/);
    return true;
  });
  assert.ok(w.disk.has(FILE));
});

test("a deploy's pre-migration snapshot is copied by name after the switch; a failed copy is only a warning", async () => {
  const w = world();
  onHost(w);
  const r = await copyTakenSnapshot(w.e.ctx, w.layout, FILE);
  assert.equal(r?.file, FILE);
  assert.deepEqual([...w.rclone.files.keys()].sort(), [`${metaName(FILE)}.age`, `${FILE}.age`]);
  const gone = await copyTakenSnapshot(w.e.ctx, w.layout, 'togather_20200101_020000_0000000.sql.gz');
  assert.equal(gone, undefined);
  assert.match(
    w.e.said.warn.join('\n'),
    /togather_20200101_020000_0000000\.sql\.gz stays on the host only: .*no longer in the snapshots directory.*copy it with: togather-deploy snapshot copy staging togather_20200101/,
  );
});
