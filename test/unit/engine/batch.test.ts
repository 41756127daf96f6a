/**
 * Several commands in one round trip (src/engine/batch.ts): the BATCH script really run by sh here
 * (groups in turn, parts side by side, values never parsed as code, one part's stdin), its output framing, and
 * the BatchHost that gathers the commands of together() and passes everything else on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  BatchHost,
  batchCmd,
  batchParts,
  formatBatchOutput,
  parseBatchOutput,
  NOT_RUN,
  NotRun,
  type BatchPart,
} from '../../../src/engine/batch.js';
import {
  CommandFailed,
  script,
  type Command,
  type Host,
  type RunOptions,
  type RunResult,
} from '../../../src/host/host.js';

const M = 'tgd-batch-test';

function runLocally(c: Command, stdin = ''): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(c.argv[0]!, c.argv.slice(1), { input: stdin });
  return { code: r.status ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('BATCH, run by sh', () => {
  test('each part gets its own stdout, stderr and exit code; odd values stay data; one part reads stdin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tgd-batch-'));
    try {
      const odd = `it's $(touch ${dir}/pwned) \`x\` "q" ; *`;
      const parts: BatchPart[] = [
        { argv: script('cat > "$1/in"; echo took', dir).argv, group: 0, stdin: true },
        { argv: ['sh', '-c', 'printf "%s\\n" "$1"; echo oops >&2; exit 3', 'x', odd], group: 1 },
        { argv: script('cat -- "$1/in"', dir).argv, group: 1 },
        { argv: ['printf', '%s', 'no newline'], group: 2 },
      ];
      const r = runLocally(batchCmd(M, parts), 'the lock info\n');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(parseBatchOutput(r.stdout, M, 4), [
        { stdout: 'took\n', stderr: '', code: 0 },
        { stdout: `${odd}\n`, stderr: 'oops\n', code: 3 },
        { stdout: 'the lock info\n', stderr: '', code: 0 },
        { stdout: 'no newline', stderr: '', code: 0 },
      ]);
      assert.equal(runLocally({ argv: ['test', '-e', join(dir, 'pwned')] }).code, 1, 'a value was run as code');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a group starts only once the one before it has ended; a group runs side by side', () => {
    const t = (name: string, group: number, sleep: string): BatchPart => ({
      argv: ['sh', '-c', `sleep ${sleep}; date +%s%N`, name],
      group,
    });
    const r = runLocally(batchCmd(M, [t('a', 0, '0.3'), t('b', 1, '0'), t('c', 1, '0.2'), t('d', 1, '0')]));
    const [a, b, c, d] = parseBatchOutput(r.stdout, M, 4).map((x) => Number(x!.stdout.trim()) / 1e6);
    assert.ok(b! >= a! && d! >= a!, 'group 1 after group 0');
    assert.ok(b! < c! && d! < c!, 'inside a group, side by side: the slow part does not hold the others up');
  });
});

describe('BATCH chained, run by sh', () => {
  test('after a failed part, the later groups are not run and say so', () => {
    const parts: BatchPart[] = [
      { argv: ['echo', 'a'], group: 0 },
      { argv: ['sh', '-c', 'exit 1'], group: 0 },
      { argv: ['echo', 'b'], group: 1 },
    ];
    const r = runLocally(batchCmd(M, parts, true));
    assert.deepEqual(parseBatchOutput(r.stdout, M, 3), [
      { stdout: 'a\n', stderr: '', code: 0 },
      { stdout: '', stderr: '', code: 1 },
      { stdout: '', stderr: `${NOT_RUN}\n`, code: 125 },
    ]);
    const ok = runLocally(batchCmd(M, [parts[0]!, parts[2]!], true));
    assert.equal(parseBatchOutput(ok.stdout, M, 2)[1]?.stdout, 'b\n');
  });
});

describe('batch framing', () => {
  test('batchParts reads back what batchCmd wrote; the modelled host formats what parseBatchOutput reads', () => {
    const parts: BatchPart[] = [
      { argv: ['docker', 'start', 'x'], group: 0, stdin: false },
      { argv: script('echo "$1"', 'a b').argv, group: 1, stdin: true },
    ];
    assert.deepEqual(batchParts(batchCmd(M, parts).argv), { marker: M, parts, chain: false });
    assert.equal(batchParts(batchCmd(M, parts, true).argv)?.chain, true);
    assert.equal(batchParts(['docker', 'ps']), undefined);
    const results = [
      { code: 0, stdout: 'a\n', stderr: '' },
      { code: 4, stdout: '', stderr: 'held\n' },
    ];
    assert.deepEqual(parseBatchOutput(formatBatchOutput(M, results), M, 2), results);
  });

  test('a part the output does not frame (the batch was cut short) is undefined', () => {
    const out = formatBatchOutput(M, [{ code: 0, stdout: 'x', stderr: '' }]);
    assert.deepEqual(parseBatchOutput(out, M, 2), [{ code: 0, stdout: 'x', stderr: '' }, undefined]);
  });
});

/** a host that runs a BATCH with sh here, and anything else as a recorded no-op */
class LocalHost implements Host {
  readonly name = 'local';
  readonly sent: string[] = [];
  roundTrips = 0;
  async run(c: Command, opts: RunOptions = {}): Promise<RunResult> {
    this.roundTrips++;
    const b = batchParts(c.argv);
    this.sent.push(b ? `batch of ${b.parts.length}` : c.argv.join(' '));
    const r = runLocally(c, typeof opts.stdin === 'string' ? opts.stdin : '');
    const res = { ...r, durationMs: 1 };
    if (res.code !== 0 && opts.check !== false) throw new CommandFailed(c.argv, res, c.argv.join(' '));
    return res;
  }
  async close(): Promise<void> {}
}

describe('BatchHost', () => {
  test('together(): the commands of every group in one round trip, each answered as if sent alone', async () => {
    const inner = new LocalHost();
    const h = new BatchHost(inner);
    const [a, bc] = h.together(
      () => h.run(script('cat; echo " read"'), { stdin: 'lock' }),
      () => Promise.all([h.run({ argv: ['echo', 'b'] }), h.run({ argv: ['sh', '-c', 'exit 4'] }, { check: false })]),
    );
    const [b, c] = await bc;
    assert.equal((await a).stdout, 'lock read\n');
    assert.equal(b.stdout, 'b\n');
    assert.equal(c.code, 4);
    assert.deepEqual(inner.sent, ['batch of 3']);
    assert.equal(h.roundTrips, 1);
    assert.equal(h.sentAlone, 0);
  });

  test('a failing part with check rejects with CommandFailed, the others still answer', async () => {
    const h = new BatchHost(new LocalHost());
    const [bad, good] = h.together(
      () => h.run({ argv: ['sh', '-c', 'echo no >&2; exit 2'] }),
      () => h.run({ argv: ['echo', 'ok'] }),
    );
    await assert.rejects(bad, (e: unknown) => e instanceof CommandFailed && e.result.code === 2);
    assert.equal((await good).stdout, 'ok\n');
  });

  test('outside together(), and after a group’s first await, commands go alone', async () => {
    const inner = new LocalHost();
    const h = new BatchHost(inner);
    await h.run({ argv: ['true'] });
    const [two] = h.together(async () => {
      await h.run({ argv: ['echo', '1'] });
      return h.run({ argv: ['echo', '2'] });
    });
    assert.equal((await two).stdout, '2\n');
    assert.deepEqual(inner.sent, ['true', 'echo 1', 'echo 2']); // one command alone needs no batch
    assert.equal(h.sentAlone, 2);
  });

  test('two parts that read stdin cannot share it: the groups go the plain way, in turn', async () => {
    const inner = new LocalHost();
    const h = new BatchHost(inner);
    const [a, b] = h.together(
      () => h.run({ argv: ['cat'] }, { stdin: 'x' }),
      () => h.run({ argv: ['cat'] }, { stdin: 'y' }),
    );
    assert.deepEqual([(await a).stdout, (await b).stdout], ['x', 'y']);
    assert.deepEqual(inner.sent, ['cat', 'cat']);
  });

  test('inTurn(): a group whose predecessor failed is not run, its commands reject with NotRun', async () => {
    {
      const inner = new LocalHost();
      const h = new BatchHost(inner);
      const [start, probe] = h.inTurn(
        () => h.run({ argv: ['sh', '-c', 'echo no such container >&2; exit 1'] }),
        () => h.run({ argv: ['echo', 'probed'] }, { check: false }),
      );
      await assert.rejects(start, (e: unknown) => e instanceof CommandFailed && /no such container/.test(e.message));
      await assert.rejects(probe, NotRun);
      assert.deepEqual(inner.sent, ['batch of 2']);
    }
  });

  test('inTurn() sent the plain way (a single command per group, stdin twice) keeps the order and stops at a failure', async () => {
    const inner = new LocalHost();
    const h = new BatchHost(inner);
    const [a, b] = h.inTurn(
      () => h.run({ argv: ['sh', '-c', 'cat; exit 2'] }, { stdin: 'x', check: false }),
      () => h.run({ argv: ['cat'] }, { stdin: 'y' }),
    );
    assert.equal((await a).code, 2);
    await assert.rejects(b, NotRun);
    assert.deepEqual(inner.sent, ['sh -c cat; exit 2']);
  });

  test('a lost connection fails every part', async () => {
    const lost = new Error('lost the SSH connection');
    const h = new BatchHost({ name: 'x', run: () => Promise.reject(lost), close: async () => {} });
    const [a, b] = h.together(
      () => h.run({ argv: ['true'] }),
      () => h.run({ argv: ['true'] }),
    );
    await assert.rejects(a, lost);
    await assert.rejects(b, lost);
  });
});
