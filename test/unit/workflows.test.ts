// Workflow files and action.yml: GitHub's own parser must accept them, and our security rules
// (lintWorkflow) must find nothing in them. Each fixture test/fixtures/workflows/bad-<rule>*.yml
// is a valid workflow that breaks exactly one rule, which proves that rule is enforced.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { parseAction } from '@actions/workflow-parser/actions/index';
import { parseDocument } from 'yaml';
import { docFiles, readDoc } from './docs-markdown.js';
import { callerInputFindings, callerPermissionFindings, OWN_WORKFLOW_USES } from './workflow-callers.js';

// the caller checks live in ./workflow-callers.ts (importable without running these tests); re-exported here
export { callerInputFindings, callerPermissionFindings } from './workflow-callers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const workflowDir = path.join(root, '.github/workflows');
const fixtureDir = path.join(root, 'test/fixtures/workflows');

export { lintWorkflow, RULES, type Finding, type Rule } from './workflow-lint.js';
import { lintWorkflow, OWN_REPO, RULES, type Rule } from './workflow-lint.js';

interface ParseReport {
  errors: string[];
}

/** Parses with GitHub's parser and runs its converter, which adds semantic checks. */
async function githubParse(name: string, content: string): Promise<ParseReport> {
  const result = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  if (result.value === undefined) return { errors: result.context.errors.getErrors().map((e) => e.message) };
  const template = await convertWorkflowTemplate(result.context, result.value);
  const errors = result.context.errors.getErrors().map((e) => e.message);
  for (const e of template.errors ?? []) if (!errors.includes(e.Message)) errors.push(e.Message);
  return { errors };
}

function actionParse(name: string, content: string): ParseReport {
  const result = parseAction({ name, content }, new NoOperationTraceWriter());
  return { errors: result.context.errors.getErrors().map((e) => e.message) };
}

const workflowFiles = readdirSync(workflowDir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const fixtureFiles = readdirSync(fixtureDir)
  .filter((f) => /^bad-.*\.ya?ml$/.test(f))
  .sort();
const read = (p: string): string => readFileSync(p, 'utf8');

/** bad-<rule>.yml or bad-<rule>--<variant>.yml */
function ruleOfFixture(file: string): string {
  return file.replace(/^bad-/, '').replace(/(--[^.]*)?\.ya?ml$/, '');
}

describe("GitHub's workflow parser", () => {
  it('finds the workflows to check', () => {
    assert.ok(workflowFiles.length >= 4, `workflows found: ${workflowFiles.join(', ')}`);
    for (const name of ['ci.yml', 'deploy.yml', 'rollback.yml', 'snapshot.yml'])
      assert.ok(workflowFiles.includes(name), name);
  });

  for (const file of workflowFiles) {
    it(`accepts .github/workflows/${file}`, async () => {
      const { errors } = await githubParse(file, read(path.join(workflowDir, file)));
      assert.deepEqual(errors, []);
    });
  }

  it('accepts action.yml (action schema)', () => {
    assert.deepEqual(actionParse('action.yml', read(path.join(root, 'action.yml'))).errors, []);
  });

  it('is not a no-op: it rejects broken files', async () => {
    const wf = await githubParse('broken.yml', 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n');
    assert.ok(wf.errors.length > 0, 'a workflow with an unknown job key');
    const expr = await githubParse(
      'expr.yml',
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.sha\n',
    );
    assert.ok(expr.errors.length > 0, 'an unclosed expression');
    const action = actionParse('action.yml', 'name: x\ndescription: y\nruns:\n  using: node99\n  main: index.js\n');
    assert.ok(action.errors.length > 0, 'an unknown runtime');
  });

  for (const file of fixtureFiles) {
    it(`accepts fixture ${file} (it breaks only our rules)`, async () => {
      assert.deepEqual((await githubParse(file, read(path.join(fixtureDir, file)))).errors, []);
    });
  }
});

describe('lintWorkflow on this repository', () => {
  for (const file of workflowFiles) {
    it(`finds nothing in .github/workflows/${file}`, () => {
      assert.deepEqual(lintWorkflow(read(path.join(workflowDir, file)), file), []);
    });
  }
  it('finds nothing in action.yml', () => {
    assert.deepEqual(lintWorkflow(read(path.join(root, 'action.yml')), 'action.yml'), []);
  });
});

describe('caller examples in docs/ci-cd.md', () => {
  const docs = read(path.join(root, 'docs/ci-cd.md'));
  const examples = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? '')
    .filter((b) => /^jobs:/m.test(b));
  it('has the three caller examples', () => assert.ok(examples.length >= 3, `found ${examples.length}`));
  examples.forEach((text, i) => {
    const name = `docs-example-${i + 1}.yml`;
    it(`example ${i + 1} parses and passes our rules`, async () => {
      assert.deepEqual((await githubParse(name, text)).errors, []);
      assert.deepEqual(lintWorkflow(text, name), []);
    });
  });
});

describe('caller snippets in README.md and docs/*.md', () => {
  // every ```yaml block with a job that calls one of our reusable workflows
  const blocks = docFiles().flatMap((file) =>
    readDoc(file)
      .fences.filter(
        (f) => (f.lang === 'yaml' || f.lang === 'yml') && /togather-deploy\/\.github\/workflows\//.test(f.body),
      )
      .map((f) => ({ file, line: f.line, body: f.body })),
  );
  it('finds the caller snippets', () => assert.ok(blocks.length >= 4, `found ${blocks.length}`));
  for (const file of docFiles()) {
    const mine = blocks.filter((b) => b.file === file);
    if (mine.length === 0) continue;
    it(`${file}: each calling job grants what the called workflow's jobs ask for`, () => {
      assert.deepEqual(
        mine.flatMap((b) => callerPermissionFindings(b.body, file, b.line)),
        [],
      );
    });
    it(`${file}: each calling job passes only declared inputs and secrets, and the required inputs`, () => {
      assert.deepEqual(
        mine.flatMap((b) => callerInputFindings(b.body, file, b.line)),
        [],
      );
    });
  }
});

describe('callerPermissionFindings and callerInputFindings', () => {
  const caller = (perms: string, top = 'permissions: {}\n', extra = ''): string =>
    `on: push\n${top}jobs:\n  d:\n    uses: togather/togather-deploy/.github/workflows/deploy.yml@v1\n${perms}` +
    `    with:\n      environment: staging\n${extra}`;
  const ALL =
    '    permissions:\n      contents: read\n      checks: read\n      statuses: read\n      deployments: write\n';

  it('accepts the job permissions of deploy.yml, and write where read is asked', () => {
    assert.deepEqual(callerPermissionFindings(caller(ALL), 'x.yml'), []);
    const more = ALL.replace('checks: read', 'checks: write # why');
    assert.deepEqual(callerPermissionFindings(caller(more), 'x.yml'), []);
  });

  it('reports a missing or lower scope, with the line of uses:', () => {
    const f = callerPermissionFindings(caller(ALL.replace('deployments: write', 'deployments: read')), 'x.yml', 10);
    assert.equal(f.length, 1);
    assert.match(f[0]!.message, /deployments: read, but deploy\.yml asks for deployments: write/);
    assert.equal(f[0]!.line, 10 + 5);
    const none = callerPermissionFindings(caller('    permissions: {}\n'), 'x.yml');
    assert.equal(none.length, 4);
  });

  it('falls back to the top-level permissions; none anywhere is a finding', () => {
    const top = 'permissions:\n  contents: read\n  checks: read\n  statuses: read\n  deployments: write\n';
    assert.deepEqual(callerPermissionFindings(caller('', top), 'x.yml'), []);
    assert.deepEqual(callerPermissionFindings(caller('', 'permissions: write-all\n'), 'x.yml'), []);
    assert.equal(callerPermissionFindings(caller('', 'permissions: read-all\n'), 'x.yml').length, 1);
    const bare = callerPermissionFindings(caller('', ''), 'x.yml');
    assert.equal(bare.length, 1);
    assert.match(bare[0]!.message, /without permissions/);
  });

  it('covers every job of the called workflow (rollback.yml: the rollback and the inspect job)', () => {
    const rb = (perms: string): string =>
      'on: push\npermissions: {}\njobs:\n  r:\n    uses: togather/togather-deploy/.github/workflows/rollback.yml@v1\n' +
      `${perms}    with:\n      environment: production\n`;
    assert.deepEqual(
      callerPermissionFindings(rb('    permissions:\n      contents: read\n      deployments: write\n'), 'x.yml'),
      [],
    );
    assert.equal(callerPermissionFindings(rb('    permissions:\n      contents: read\n'), 'x.yml').length, 1);
  });

  it('ignores other jobs and other repositories, and reports an unknown workflow', () => {
    const other = 'on: push\njobs:\n  a:\n    uses: someone/else/.github/workflows/deploy.yml@v1\n';
    assert.deepEqual(callerPermissionFindings(other, 'x.yml'), []);
    const unknown = other.replace('someone/else', 'togather/togather-deploy').replace('deploy.yml', 'nope.yml');
    assert.match(callerPermissionFindings(unknown, 'x.yml')[0]?.message ?? '', /no \.github\/workflows\/nope\.yml/);
  });

  it('checks with: and secrets: against the called workflow, and the required inputs', () => {
    assert.deepEqual(
      callerInputFindings(caller(ALL, undefined, '      force: true\n      fetch-depth: 0\n'), 'x.yml'),
      [],
    );
    const typo = callerInputFindings(caller(ALL, undefined, '      forced: true\n'), 'x.yml');
    assert.deepEqual(
      typo.map((f) => f.message),
      ['job d: deploy.yml has no input "forced"'],
    );
    const noEnv = caller(ALL).replace('      environment: staging\n', '      dry-run: true\n');
    assert.deepEqual(
      callerInputFindings(noEnv, 'x.yml').map((f) => f.message),
      ['job d: deploy.yml requires the input "environment"'],
    );
    const secret = `${caller(ALL)}    secrets:\n      SSH_KEY: x\n`;
    assert.deepEqual(
      callerInputFindings(secret, 'x.yml').map((f) => f.message),
      ['job d: deploy.yml has no secret "SSH_KEY"'],
    );
  });

  it('knows the uses: form of our reusable workflows', () => {
    assert.ok(OWN_WORKFLOW_USES.test('togather/togather-deploy/.github/workflows/snapshot.yml@v1'));
    assert.ok(!OWN_WORKFLOW_USES.test('togather/togather-deploy@v1'));
  });
});

describe('lintWorkflow on the bad fixtures', () => {
  it('has a fixture for every rule but yaml', () => {
    const covered = new Set(fixtureFiles.map(ruleOfFixture));
    for (const rule of RULES) if (rule !== 'yaml') assert.ok(covered.has(rule), `no fixture for ${rule}`);
  });

  for (const file of fixtureFiles) {
    const rule = ruleOfFixture(file);
    it(`catches ${file} as ${rule}, and nothing else`, () => {
      assert.ok((RULES as readonly string[]).includes(rule), `fixture named after an unknown rule: ${rule}`);
      const findings = lintWorkflow(read(path.join(fixtureDir, file)), file);
      assert.ok(findings.length > 0, `no finding in ${file}`);
      assert.deepEqual([...new Set(findings.map((f) => f.rule))], [rule], JSON.stringify(findings, null, 2));
    });
  }
});

describe('lintWorkflow details', () => {
  const wrap = (steps: string, on = 'push', extra = ''): string =>
    `on: ${on}\npermissions: {}\n${extra}jobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n${steps}`;

  it('reports the line of the offending node', () => {
    const text = wrap('      - run: echo ok\n      - run: echo ${{ github.head_ref }}\n');
    const findings = lintWorkflow(text, 'x.yml');
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.line, 8);
    assert.equal(findings[0]?.file, 'x.yml');
  });

  it('allows ${{ }} in env: and with:, not in run:', () => {
    const text = wrap('      - env:\n          REF: ${{ github.head_ref }}\n        run: echo "$REF"\n');
    assert.deepEqual(lintWorkflow(text, 'x.yml'), []);
  });

  it('accepts own references by release tag or SHA, not by branch', () => {
    const own = (ref: string): Rule[] =>
      lintWorkflow(wrap(`      - uses: togather/togather-deploy@${ref}\n`), 'x.yml').map((f) => f.rule);
    assert.deepEqual(own('v1'), []);
    assert.deepEqual(own('v1.2.3'), []);
    assert.deepEqual(own('0123456789abcdef0123456789abcdef01234567'), []);
    assert.deepEqual(own('main'), ['unpinned-uses']);
    const call =
      'on: push\npermissions: {}\njobs:\n  d:\n    uses: togather/togather-deploy/.github/workflows/deploy.yml@v1\n';
    assert.deepEqual(lintWorkflow(call, 'x.yml'), []);
    const other = 'on: push\npermissions: {}\njobs:\n  d:\n    uses: someone/else/.github/workflows/deploy.yml@v1\n';
    assert.deepEqual(
      lintWorkflow(other, 'x.yml').map((f) => f.rule),
      ['unpinned-uses'],
    );
  });

  it("allows './' actions except in reusable workflows", () => {
    assert.deepEqual(lintWorkflow(wrap('      - uses: ./\n'), 'x.yml'), []);
    assert.deepEqual(
      lintWorkflow(wrap('      - uses: ./\n', 'workflow_call'), 'x.yml').map((f) => f.rule),
      ['local-action-in-reusable'],
    );
  });

  it('requires a digest for docker:// images', () => {
    assert.deepEqual(
      lintWorkflow(wrap('      - uses: docker://alpine:3\n'), 'x.yml').map((f) => f.rule),
      ['unpinned-uses'],
    );
    const digest = `docker://alpine@sha256:${'a'.repeat(64)}`;
    assert.deepEqual(lintWorkflow(wrap(`      - uses: ${digest}\n`), 'x.yml'), []);
  });

  it('finds pull_request_target in every form of on:', () => {
    for (const on of [
      'pull_request_target',
      '[push, pull_request_target]',
      '{pull_request_target: {types: [opened]}}',
    ]) {
      assert.deepEqual(
        lintWorkflow(wrap('      - run: echo\n', on), 'x.yml').map((f) => f.rule),
        ['pull-request-target'],
        on,
      );
    }
  });

  it('accepts a commented job-level write scope, never a top-level one', () => {
    const job = (perm: string): string =>
      `on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    permissions:\n      ${perm}\n    steps:\n      - run: echo\n`;
    assert.deepEqual(lintWorkflow(job('contents: write # push the release tag'), 'x.yml'), []);
    assert.deepEqual(
      lintWorkflow(job('contents: write'), 'x.yml').map((f) => f.rule),
      ['permissions-broad'],
    );
    assert.deepEqual(
      lintWorkflow(job('deployments: write'), 'x.yml').map((f) => f.rule),
      ['permissions-broad'],
    );
    const topWrite =
      'on: push\npermissions:\n  contents: write # why\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo\n';
    assert.deepEqual(
      lintWorkflow(topWrite, 'x.yml').map((f) => f.rule),
      ['permissions-broad'],
    );
  });

  it("accepts persist-credentials written as a string 'false'", () => {
    const step =
      "      - uses: actions/checkout@0123456789abcdef0123456789abcdef01234567 # v6.0.2\n        with:\n          persist-credentials: 'false'\n";
    assert.deepEqual(lintWorkflow(wrap(step), 'x.yml'), []);
  });

  it('reports invalid YAML as a finding instead of throwing', () => {
    assert.deepEqual(
      lintWorkflow('on: [push\n', 'x.yml')
        .map((f) => f.rule)
        .slice(0, 1),
      ['yaml'],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The reusable workflows against the action's contract (action.yml).

interface ActionMeta {
  inputs: Map<string, { required: boolean }>;
  outputs: string[];
}

function actionMeta(): ActionMeta {
  const doc = parseDocument(read(path.join(root, 'action.yml'))).toJS() as {
    inputs?: Record<string, { required?: boolean }>;
    outputs?: Record<string, unknown>;
  };
  const inputs = new Map(Object.entries(doc.inputs ?? {}).map(([k, v]) => [k, { required: v.required === true }]));
  return { inputs, outputs: Object.keys(doc.outputs ?? {}) };
}

interface Step {
  name?: string;
  uses?: string;
  with?: Record<string, unknown>;
  id?: string;
  run?: string;
  if?: string;
}
interface Job {
  if?: string;
  name?: string;
  environment?: { name?: string; url?: string; deployment?: boolean };
  concurrency?: { group?: string; 'cancel-in-progress'?: boolean };
  permissions?: Record<string, string>;
  steps?: Step[];
}
interface Workflow {
  on: Record<
    string,
    {
      inputs?: Record<
        string,
        { type?: string; required?: boolean; description?: string; default?: unknown; options?: string[] }
      >;
      secrets?: Record<string, unknown>;
      outputs?: Record<string, { value?: string }>;
    } | null
  >;
  permissions?: unknown;
  jobs: Record<string, Job>;
}

const loadWorkflow = (file: string): Workflow => parseDocument(read(path.join(workflowDir, file))).toJS() as Workflow;
const actionStep = (job: Job): Step => {
  const step = (job.steps ?? []).find((s) => s.uses?.startsWith(`${OWN_REPO}@`));
  assert.ok(step, 'the job runs the action');
  return step;
};

describe('reusable workflows against action.yml', () => {
  const meta = actionMeta();
  const reusable = ['deploy.yml', 'rollback.yml', 'snapshot.yml'];

  for (const file of reusable) {
    it(`${file}: passes only inputs the action has, and all the required ones`, () => {
      const wf = loadWorkflow(file);
      for (const job of Object.values(wf.jobs)) {
        const given = Object.keys(actionStep(job).with ?? {});
        for (const name of given) assert.ok(meta.inputs.has(name), `${file} passes unknown input ${name}`);
        for (const [name, { required }] of meta.inputs)
          if (required) assert.ok(given.includes(name), `${file} misses required input ${name}`);
      }
    });

    it(`${file}: typed, described inputs; explicit secrets; permissions {} on top`, () => {
      const wf = loadWorkflow(file);
      const call = wf.on.workflow_call;
      assert.ok(call, 'on: workflow_call');
      for (const [name, input] of Object.entries(call.inputs ?? {})) {
        assert.ok(['string', 'boolean', 'number'].includes(input.type ?? ''), `${name} has a workflow_call type`);
        assert.ok((input.description ?? '').length > 10, `${name} is described`);
      }
      // the snapshot's copies off the host need the runner's rclone remote; no workflow restores, so none gets the age identity
      const offsite = file === 'snapshot.yml' ? ['RCLONE_CONFIG'] : [];
      assert.deepEqual(
        Object.keys(call.secrets ?? {}).sort(),
        ['ENV_FILE', ...offsite, 'SSH_KNOWN_HOSTS', 'SSH_PASSPHRASE', 'SSH_PRIVATE_KEY'].sort(),
      );
      assert.deepEqual(wf.permissions, {});
      for (const job of Object.values(wf.jobs)) {
        assert.ok(
          job.environment?.name?.includes('${{'),
          'the job sets environment: so protection rules and environment secrets apply',
        );
        assert.equal(job.concurrency?.['cancel-in-progress'], false);
        assert.ok(
          !job.concurrency?.group?.includes('github.workflow'),
          'github.workflow is the caller name in a called workflow',
        );
      }
    });
  }

  it('deploy.yml maps every output of the action', () => {
    const wf = loadWorkflow('deploy.yml');
    const outputs = wf.on.workflow_call?.outputs ?? {};
    assert.deepEqual(Object.keys(outputs).sort(), [...meta.outputs].sort());
    for (const name of meta.outputs) {
      assert.equal(outputs[name]?.value, `\${{ jobs.deploy.outputs.${name} }}`);
    }
  });

  it('each job has its own concurrency group, keyed by the config environment', () => {
    const groups = reusable.flatMap((file) =>
      Object.entries(loadWorkflow(file).jobs).map(([id, job]) => [`${file}:${id}`, job.concurrency?.group ?? '']),
    );
    assert.deepEqual(Object.fromEntries(groups), {
      'deploy.yml:deploy': 'togather-deploy-${{ inputs.environment }}',
      // not deploy's: a deploy waiting for its approval holds that group (the host lock keeps the two apart)
      'rollback.yml:rollback': 'togather-rollback-${{ inputs.environment }}',
      'rollback.yml:inspect': 'togather-inspect-${{ inputs.environment }}',
      'snapshot.yml:snapshot': 'togather-snapshot-${{ matrix.environment }}',
    });
  });

  for (const file of reusable) {
    it(`${file}: a github-environment input names the job's GitHub environment, defaulting to environment`, () => {
      const wf = loadWorkflow(file);
      const input = wf.on.workflow_call?.inputs?.['github-environment'];
      assert.equal(input?.type, 'string');
      assert.equal(input?.default, '');
      const config = file === 'snapshot.yml' ? 'matrix.environment' : 'inputs.environment';
      for (const [id, job] of Object.entries(wf.jobs)) {
        assert.equal(job.environment?.name, `\${{ inputs.github-environment || ${config} }}`, id);
        // the missing-secrets message names the GitHub environment the secrets belong on
        const check = job.steps?.[0];
        assert.match(check?.run ?? '', /Missing secrets/);
        // the action gets the config environment; deploy and rollback also the GitHub one (deployment statuses)
        const w = actionStep(job).with ?? {};
        assert.equal(w.environment, `\${{ ${config} }}`);
        if (job.environment?.deployment !== false)
          assert.equal(w['github-environment'], '${{ inputs.github-environment }}', `${file}:${id}`);
      }
    });
  }

  it('deploy.yml runs the deploy command with the documented permissions', () => {
    const job = loadWorkflow('deploy.yml').jobs.deploy;
    assert.ok(job);
    assert.equal(actionStep(job).with?.command, 'deploy');
    assert.deepEqual(job.permissions, { contents: 'read', checks: 'read', statuses: 'read', deployments: 'write' });
    assert.equal(job.environment?.url, '${{ steps.deploy.outputs.url }}');
  });

  it('deploy.yml: force reaches the action, fetch-depth the checkout (default 1)', () => {
    const wf = loadWorkflow('deploy.yml');
    const inputs = wf.on.workflow_call?.inputs ?? {};
    assert.equal(inputs.force?.type, 'boolean');
    assert.equal(inputs.force?.default, false);
    assert.equal(inputs['fetch-depth']?.type, 'number');
    assert.equal(inputs['fetch-depth']?.default, 1);
    assert.match(inputs.version?.description ?? '', /fetch-depth: 0/);
    const job = wf.jobs.deploy!;
    assert.equal(actionStep(job).with?.force, '${{ inputs.force }}');
    const checkout = job.steps?.find((s) => s.uses?.startsWith('actions/checkout@'));
    assert.equal(checkout?.with?.['fetch-depth'], '${{ inputs.fetch-depth }}');
  });

  it('rollback.yml is also dispatchable, with environment and command choices', () => {
    const wf = loadWorkflow('rollback.yml');
    const dispatch = wf.on.workflow_dispatch?.inputs ?? {};
    assert.equal(dispatch.environment?.type, 'choice');
    assert.deepEqual(dispatch.environment?.options, ['development', 'staging', 'production']);
    assert.equal(dispatch.command?.type, 'choice');
    assert.deepEqual(dispatch.command?.options, ['rollback', 'versions', 'status']);
    assert.equal(dispatch.command?.required, true);
    const call = wf.on.workflow_call?.inputs ?? {};
    assert.equal(call.command?.type, 'string');
    assert.equal(call.command?.default, 'rollback');
  });

  it('rollback.yml: rollback in one job, versions/status read-only in another', () => {
    const { rollback, inspect } = loadWorkflow('rollback.yml').jobs;
    assert.ok(rollback && inspect);
    assert.equal(actionStep(rollback).with?.command, 'rollback');
    assert.equal(rollback.if, "inputs.command != 'versions' && inputs.command != 'status'");
    // anything but rollback that reaches the rollback job (a caller's typo) is refused before the checkout
    assert.match(rollback.steps?.[0]?.run ?? '', /"" \| rollback\) ;;[\s\S]*exit 1/);
    assert.equal(actionStep(inspect).with?.command, '${{ inputs.command }}');
    assert.equal(inspect.if, "inputs.command == 'versions' || inputs.command == 'status'");
    assert.deepEqual(inspect.permissions, { contents: 'read' });
    assert.equal(inspect.environment?.deployment, false, 'a look at the host is not a deployment');
    assert.equal(actionStep(inspect).with?.['dry-run'], undefined);
  });

  it('snapshot.yml runs nightly and on demand', () => {
    const wf = loadWorkflow('snapshot.yml');
    assert.ok('schedule' in wf.on && 'workflow_dispatch' in wf.on && 'workflow_call' in wf.on);
    assert.equal(actionStep(Object.values(wf.jobs)[0] ?? {}).with?.command, 'snapshot');
  });

  it('snapshot.yml copies off the host with rclone only when asked, and fails on stale snapshots', () => {
    const wf = loadWorkflow('snapshot.yml');
    const job = Object.values(wf.jobs)[0] ?? {};
    const steps = job.steps ?? [];
    const install = steps.find((s) => s.name === 'Install rclone');
    assert.equal(install?.if, 'inputs.offsite');
    const own = steps.filter((s) => s.uses?.startsWith(`${OWN_REPO}@`));
    assert.deepEqual(
      own.map((s) => s.with?.command),
      ['snapshot', 'snapshot-check'],
    );
    for (const s of own) assert.equal(s.with?.['rclone-config'], '${{ secrets.RCLONE_CONFIG }}');
    assert.equal(own[1]?.if, '${{ !cancelled() }}');
    assert.ok(steps.indexOf(install!) < steps.indexOf(own[0]!), 'rclone is there before the snapshot');
    for (const s of own)
      assert.equal(s.with?.['snapshot-identity'], undefined, 'the nightly job holds no decryption key');
  });
});
