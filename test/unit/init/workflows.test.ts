/**
 * The caller workflows init writes: GitHub's parser accepts them, the repository's workflow rules (lintWorkflow)
 * find nothing, each calling job grants at least what every job of the called workflow asks for (else the run is
 * a startup failure), and it passes only inputs and secrets the called workflow declares.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { parse } from 'yaml';
import { releaseTag } from '../../../src/init/repository.js';
import {
  renderDeployWorkflow,
  renderRollbackWorkflow,
  renderSnapshotWorkflow,
} from '../../../src/init/workflow-templates.js';
import { lintWorkflow } from '../workflow-lint.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const LEVEL: Record<string, number> = { none: 0, read: 1, write: 2 };

type Perms = Record<string, string>;
interface Job {
  uses?: string;
  permissions?: Perms;
  with?: Record<string, unknown>;
  secrets?: Record<string, unknown> | string;
  needs?: string | string[];
}
interface Workflow {
  on: Record<string, { inputs?: Record<string, { required?: boolean; default?: unknown }>; secrets?: object } | null>;
  permissions?: Perms;
  jobs: Record<string, Job>;
}

async function githubErrors(name: string, content: string): Promise<string[]> {
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  if (result.value === undefined) return result.context.errors.getErrors().map((e) => e.message);
  const template = await convertWorkflowTemplate(result.context, result.value);
  const errors = result.context.errors.getErrors().map((e) => e.message);
  for (const e of template.errors ?? []) if (!errors.includes(e.Message)) errors.push(e.Message);
  return errors;
}

/** this repository's reusable workflow that `uses:` names, as the release would serve it */
function called(uses: string): Workflow {
  const m = /^togather\/togather-deploy\/\.github\/workflows\/([a-z-]+\.yml)@(v\d+)$/.exec(uses);
  assert.ok(m, `${uses} calls one of togather-deploy's workflows by release tag`);
  assert.equal(m[2], releaseTag());
  return parse(readFileSync(join(ROOT, '.github/workflows', m[1]!), 'utf8')) as Workflow;
}

/** scopes where `granted` falls short of `needed` (write covers read) */
export function shortfalls(granted: Perms, needed: Perms): string[] {
  return Object.entries(needed)
    .filter(([scope, level]) => (LEVEL[granted[scope] ?? 'none'] ?? 0) < (LEVEL[level] ?? 0))
    .map(([scope, level]) => `${scope}: ${level}`);
}

function checkCaller(text: string): void {
  const wf = parse(text) as Workflow;
  assert.deepEqual(wf.permissions, {}, 'nothing granted at the top');
  for (const [name, job] of Object.entries(wf.jobs)) {
    assert.ok(job.uses, `${name} calls a workflow`);
    const target = called(job.uses);
    for (const [calledName, calledJob] of Object.entries(target.jobs)) {
      assert.deepEqual(shortfalls(job.permissions ?? {}, calledJob.permissions ?? {}), [], `${name} → ${calledName}`);
    }
    const call = target.on.workflow_call!;
    const declared = call.inputs ?? {};
    for (const input of Object.keys(job.with ?? {})) assert.ok(input in declared, `${name}: input ${input} declared`);
    for (const [input, spec] of Object.entries(declared))
      if (spec.required) assert.ok(input in (job.with ?? {}), `${name}: required input ${input} given`);
    assert.equal(typeof job.secrets, 'object', `${name}: secrets mapped one by one`);
    for (const secret of Object.keys(job.secrets as object))
      assert.ok(secret in (call.secrets ?? {}), `${name}: secret ${secret} declared`);
  }
}

const TAG = releaseTag();
const cases: [string, string[]][] = [
  ['staging and production', ['staging', 'production']],
  ['one environment', ['production']],
  ['three environments', ['dev', 'staging', 'production']],
];

describe('the caller workflows init writes', () => {
  it('pins the release of this package (v<major> of package.json)', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(TAG, `v${version.split('.')[0]}`);
  });

  for (const [label, envs] of cases) {
    const files: [string, string][] = [
      ['togather-deploy.yml', renderDeployWorkflow(envs, TAG)],
      ['togather-rollback.yml', renderRollbackWorkflow(envs, TAG)],
      ['togather-snapshot.yml', renderSnapshotWorkflow(envs, TAG)],
    ];
    for (const [name, text] of files) {
      it(`${name} (${label}) parses, passes the workflow rules, and its permissions cover the called jobs'`, async () => {
        assert.deepEqual(await githubErrors(name, text), []);
        assert.deepEqual(lintWorkflow(text, name), []);
        checkCaller(text);
      });
    }
  }

  it('deploys in order, each environment after the one before and with the version it got', () => {
    const wf = parse(renderDeployWorkflow(['staging', 'production'], TAG)) as Workflow;
    assert.deepEqual(Object.keys(wf.on), ['push', 'workflow_dispatch']);
    assert.equal(wf.jobs.staging?.needs, undefined);
    assert.equal(wf.jobs.production?.needs, 'staging');
    assert.equal(wf.jobs.production?.with?.version, '${{ needs.staging.outputs.version }}');
    assert.equal(wf.jobs.staging?.with?.environment, 'staging');
    assert.equal(wf.jobs.staging?.with?.version, '${{ inputs.version }}');
    assert.equal(wf.jobs.production?.with?.['fetch-depth'], "${{ fromJSON(inputs.version && '0' || '1') }}");
    const one = parse(renderDeployWorkflow(['production'], TAG)) as Workflow;
    assert.deepEqual(Object.keys(one.jobs), ['production']);
  });

  it('rollback offers staging first, passes every input through, and lists without failing', () => {
    const wf = parse(renderRollbackWorkflow(['staging', 'production'], TAG)) as Workflow;
    const inputs = wf.on.workflow_dispatch!.inputs as Record<string, { options?: string[]; default?: unknown }>;
    assert.deepEqual(inputs.environment?.options, ['staging', 'production']);
    assert.deepEqual(
      inputs.command?.options,
      ['versions', 'status', 'rollback'],
      'versions first: a hurried click only lists',
    );
    assert.equal(inputs.command?.default, undefined);
    const w = wf.jobs.rollback?.with ?? {};
    for (const k of ['environment', 'version', 'confirm', 'dry-run', 'command'])
      assert.equal(w[k], `\${{ inputs.${k} }}`);
  });

  it('rollback lists production in its reviewer-free twin; a rollback keeps production and its reviewers', () => {
    const wf = parse(renderRollbackWorkflow(['staging', 'production'], TAG)) as Workflow;
    assert.equal(
      wf.jobs.rollback?.with?.['github-environment'],
      "${{ inputs.command != 'rollback' && inputs.environment == 'production' && 'production-snapshots' || '' }}",
    );
    const one = parse(renderRollbackWorkflow(['production'], TAG)) as Workflow;
    assert.equal(one.jobs.rollback?.with?.['github-environment'], undefined, 'one environment: no twin exists');
  });

  it('snapshots production in a reviewer-free GitHub environment, the config environment staying production', () => {
    const wf = parse(renderSnapshotWorkflow(['staging', 'production'], TAG)) as {
      jobs: { snapshot: { strategy: { matrix: { include: Record<string, string>[] } }; with: Record<string, string> } };
    };
    assert.deepEqual(wf.jobs.snapshot.strategy.matrix.include, [
      { environment: 'staging', 'github-environment': 'staging' },
      { environment: 'production', 'github-environment': 'production-snapshots' },
    ]);
    assert.equal(wf.jobs.snapshot.with['github-environment'], '${{ matrix.github-environment }}');
  });

  it('the permission check itself catches a job granting too little', () => {
    assert.deepEqual(shortfalls({ contents: 'read' }, { contents: 'read', deployments: 'write' }), [
      'deployments: write',
    ]);
    assert.deepEqual(shortfalls({ contents: 'write' }, { contents: 'read' }), []);
    assert.deepEqual(shortfalls({ deployments: 'read' }, { deployments: 'write' }), ['deployments: write']);
  });
});
