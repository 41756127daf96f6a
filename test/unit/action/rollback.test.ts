// The action's rollback step and its picker: a dry run, or a rollback refused for want of a version, writes the
// versions that can be rolled back to into the job summary; a real rollback does not. The engine verbs are
// fakes; @actions/core writes to the temporary files GITHUB_STEP_SUMMARY and GITHUB_OUTPUT name.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import * as core from '@actions/core';
import { rollbackStep, type RollbackVerbs, type Step } from '../../../src/action/main.js';
import { readInputs } from '../../../src/action/inputs.js';
import type { EngineContext, OperationReport } from '../../../src/engine/index.js';
import { DeployError } from '../../../src/errors.js';
import { Redactor } from '../../../src/log/redact.js';

const dir = mkdtempSync(path.join(tmpdir(), 'togather-action-rollback-'));
const summaryFile = path.join(dir, 'summary.md');
const outputFile = path.join(dir, 'output.txt');
const saved = { summary: process.env.GITHUB_STEP_SUMMARY, output: process.env.GITHUB_OUTPUT };
process.env.GITHUB_STEP_SUMMARY = summaryFile;
process.env.GITHUB_OUTPUT = outputFile;
after(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const [k, v] of [
    ['GITHUB_STEP_SUMMARY', saved.summary],
    ['GITHUB_OUTPUT', saved.output],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const SHA = 'a'.repeat(40);
const CANDIDATES =
  'current: bbbbbbbbbbbb since 2026-12-01\ncan roll back to:\n  aaaaaaaaaaaa  v1.2.0  2d ago  superseded  by ci';

function step(extra: Record<string, string> = {}): Step {
  const inputs = readInputs({
    INPUT_ENVIRONMENT: 'staging',
    'INPUT_SSH-PRIVATE-KEY': 'k',
    'INPUT_SSH-KNOWN-HOSTS': 'h',
    INPUT_COMMAND: 'rollback',
    ...extra,
  });
  return { inputs, env: {}, redactor: new Redactor() };
}

const report = (dryRun: boolean): OperationReport => ({
  operation: dryRun ? 'plan' : 'rollback',
  ok: true,
  exitCode: 0,
  environment: 'staging',
  version: SHA,
  colour: 'green',
  durationMs: 1200,
  phases: [],
  message: dryRun ? 'dry run: nothing was changed' : 'rolled back',
});

function verbs(outcome: OperationReport | Error, listing: string | Error = CANDIDATES) {
  const calls: string[] = [];
  const v: RollbackVerbs = {
    rollback: async () => {
      calls.push('rollback');
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },
    versions: async () => {
      calls.push('versions');
      if (listing instanceof Error) throw listing;
      return { data: { candidates: [] }, text: listing };
    },
  };
  return { v, calls };
}

const session = { ctx: {} as EngineContext };
const summary = () => readFileSync(summaryFile, 'utf8');

describe('action: rollbackStep', () => {
  beforeEach(() => {
    writeFileSync(summaryFile, '');
    writeFileSync(outputFile, '');
    core.summary.emptyBuffer();
  });

  it('a dry run writes the plan, then the versions that can be rolled back to', async () => {
    const { v, calls } = verbs(report(true));
    await rollbackStep(session, step({ 'INPUT_DRY-RUN': 'true' }), v);
    assert.deepEqual(calls, ['rollback', 'versions']);
    const text = summary();
    assert.match(text, /Dry run for staging/);
    assert.match(text, /Versions of staging that can be rolled back to/);
    assert.ok(text.includes('aaaaaaaaaaaa  v1.2.0'), text);
    assert.ok(text.indexOf('Dry run') < text.indexOf('Versions of staging'), 'the plan first');
  });

  it('a dry run whose listing fails still succeeds (the plan is what was asked for)', async () => {
    const { v } = verbs(report(true), new DeployError('connection', 'connection lost'));
    await rollbackStep(session, step({ 'INPUT_DRY-RUN': 'true' }), v);
    assert.match(summary(), /Dry run for staging/);
  });

  it('a rollback that happened writes its report only', async () => {
    const { v, calls } = verbs(report(false));
    await rollbackStep(session, step(), v);
    assert.deepEqual(calls, ['rollback']);
    assert.match(summary(), /Rolled back/);
    assert.doesNotMatch(summary(), /can be rolled back to/);
    assert.match(readFileSync(outputFile, 'utf8'), new RegExp(SHA));
  });

  it('a refused rollback lists the candidates and still fails', async () => {
    const refused = new DeployError(
      'refused',
      'cannot roll back staging: "v9" is not a version this environment served',
    );
    const { v, calls } = verbs(refused);
    await assert.rejects(rollbackStep(session, step({ INPUT_VERSION: 'v9' }), v), refused);
    assert.deepEqual(calls, ['rollback', 'versions']);
    assert.match(summary(), /Versions of staging that can be rolled back to/);
  });

  it('any other failure writes no picker', async () => {
    const lost = new DeployError('connection', 'connection lost');
    const { v, calls } = verbs(lost);
    await assert.rejects(rollbackStep(session, step(), v), lost);
    assert.deepEqual(calls, ['rollback']);
    assert.equal(summary(), '');
  });
});

describe('action inputs: github-environment', () => {
  it('defaults to empty (the config environment) and keeps a name with capitals and spaces', () => {
    assert.equal(step().inputs['github-environment'], '');
    assert.equal(
      step({ 'INPUT_GITHUB-ENVIRONMENT': ' Production snapshots ' }).inputs['github-environment'],
      'Production snapshots',
    );
  });
});
