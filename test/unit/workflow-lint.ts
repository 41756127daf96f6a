// lintWorkflow: the project's security rules for workflow files (and the step rules for an action.yml). Kept out
// of workflows.test.ts so that other tests (the generated caller workflows of `init`) can use it without running
// that file's tests again.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
// This repository: its own action and workflows may be referenced by release tag (see below).
export const OWN_REPO = 'togather/togather-deploy';

export const RULES = [
  'yaml',
  'expression-in-run',
  'unpinned-uses',
  'pin-comment',
  'local-action-in-reusable',
  'permissions-missing',
  'permissions-broad',
  'secrets-inherit',
  'pull-request-target',
  'checkout-credentials',
] as const;
export type Rule = (typeof RULES)[number];

export interface Finding {
  file: string;
  line: number;
  rule: Rule;
  message: string;
}

const SHA = /^[0-9a-f]{40}$/i;
const RELEASE_TAG = /^v\d+(\.\d+){0,2}$/;
const VERSION_COMMENT = /^\s*v\d+(\.\d+){0,2}\b/;

/**
 * Security rules for a workflow file (or an action.yml: only the step rules apply there).
 * Works on the YAML tree so that findings carry line numbers and comments can be read.
 */
export function lintWorkflow(text: string, file: string): Finding[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const findings: Finding[] = [];
  const add = (node: Node | null | undefined, rule: Rule, message: string): void => {
    const offset = node?.range?.[0] ?? 0;
    findings.push({ file, line: Math.max(1, lines.linePos(offset).line), rule, message });
  };
  if (doc.errors.length > 0) {
    for (const err of doc.errors)
      findings.push({ file, line: err.linePos?.[0].line ?? 1, rule: 'yaml', message: err.message });
    return findings;
  }
  const top = doc.contents;
  if (!isMap(top)) {
    add(top, 'yaml', 'the document is not a mapping');
    return findings;
  }

  const isAction = top.has('runs') && !top.has('jobs');
  const reusable = !isAction && triggers(top).includes('workflow_call');

  if (!isAction) {
    if (triggers(top).includes('pull_request_target')) {
      add(
        top.get('on', true) as Node,
        'pull-request-target',
        'pull_request_target runs with a write token and secrets on untrusted code',
      );
    }
    const perms = top.get('permissions', true) as Node | undefined;
    if (perms === undefined)
      add(top, 'permissions-missing', 'set top-level permissions explicitly (permissions: {} and grant per job)');
    else checkPermissions(perms, true, add);
  }

  const jobs = isAction ? undefined : top.get('jobs', true);
  if (isMap(jobs)) {
    for (const pair of jobs.items) {
      const job = pair.value;
      if (!isMap(job)) continue;
      const jobPerms = job.get('permissions', true) as Node | undefined;
      if (jobPerms !== undefined) checkPermissions(jobPerms, false, add);
      const secrets = job.get('secrets', true) as Node | undefined;
      if (isScalar(secrets) && secrets.value === 'inherit') {
        add(
          secrets,
          'secrets-inherit',
          'secrets: inherit hands every secret to the called workflow; pass each one explicitly',
        );
      }
      const uses = job.get('uses', true);
      if (isScalar(uses)) checkUses(uses, false, reusable, add);
      checkSteps(job.get('steps', true) as Node | undefined, reusable, add);
    }
  }
  const runs = isAction ? top.get('runs', true) : undefined;
  if (isMap(runs)) checkSteps(runs.get('steps', true) as Node | undefined, false, add);
  return findings;
}

type Add = (node: Node | null | undefined, rule: Rule, message: string) => void;

function triggers(top: YAMLMap): string[] {
  const on: unknown = top.get('on', true);
  if (isScalar(on)) return [String(on.value)];
  if (isSeq(on)) return on.items.filter(isScalar).map((s) => String(s.value));
  if (isMap(on)) return on.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
  return [];
}

function checkPermissions(perms: Node, topLevel: boolean, add: Add): void {
  if (isScalar(perms)) {
    if (perms.value === 'write-all' || perms.value === 'read-all') {
      add(
        perms,
        'permissions-broad',
        `permissions: ${String(perms.value)} grants every scope; list the scopes the job uses`,
      );
    }
    return;
  }
  if (!isMap(perms)) return;
  for (const pair of perms.items) {
    if (!isScalar(pair.key) || !isScalar(pair.value) || pair.value.value !== 'write') continue;
    const scope = String(pair.key.value);
    if (topLevel) {
      add(
        pair.value,
        'permissions-broad',
        `top-level ${scope}: write applies to every job; grant it on the job that needs it`,
      );
    } else if (!pair.value.comment?.trim()) {
      add(pair.value, 'permissions-broad', `${scope}: write needs a comment on the same line saying why`);
    }
  }
}

function checkSteps(steps: Node | undefined, reusable: boolean, add: Add): void {
  if (!isSeq(steps)) return;
  for (const step of steps.items) {
    if (!isMap(step)) continue;
    const run = step.get('run', true);
    if (isScalar(run) && String(run.value).includes('${{')) {
      add(run, 'expression-in-run', 'no ${{ }} inside run: (script injection); pass the value through env:');
    }
    const uses = step.get('uses', true);
    if (!isScalar(uses)) continue;
    checkUses(uses, true, reusable, add);
    const ref = String(uses.value).toLowerCase();
    const withMap = step.get('with', true);
    if (ref.startsWith('actions/github-script@') && isMap(withMap)) {
      const script = withMap.get('script', true);
      if (isScalar(script) && String(script.value).includes('${{')) {
        add(script, 'expression-in-run', 'no ${{ }} inside a github-script script; pass the value through env:');
      }
    }
    if (ref.startsWith('actions/checkout@')) {
      const persist = isMap(withMap) ? withMap.get('persist-credentials', true) : undefined;
      if (!isScalar(persist) || String(persist.value) !== 'false') {
        add(
          uses,
          'checkout-credentials',
          'actions/checkout needs persist-credentials: false (else the token stays in .git/config)',
        );
      }
    }
  }
}

function checkUses(node: Node, isStep: boolean, reusable: boolean, add: Add): void {
  if (!isScalar(node)) return;
  const value = String(node.value).trim();
  if (value.startsWith('./')) {
    // In a called workflow './' is the caller's checkout: it would run the caller's code, not ours.
    if (isStep && reusable)
      add(
        node,
        'local-action-in-reusable',
        `${value}: in a reusable workflow './' resolves in the caller's checkout; use ${OWN_REPO}@<ref>`,
      );
    return;
  }
  if (value.startsWith('docker://')) {
    if (!/@sha256:[0-9a-f]{64}$/i.test(value)) add(node, 'unpinned-uses', `${value}: pin the image by @sha256 digest`);
    return;
  }
  const at = value.lastIndexOf('@');
  const target = at < 0 ? value : value.slice(0, at);
  const ref = at < 0 ? '' : value.slice(at + 1);
  const repo = target.split('/').slice(0, 2).join('/').toLowerCase();
  if (repo === OWN_REPO) {
    // Our own action and workflows: a release tag is allowed, since callers pin the workflow
    // at the same ref and a release moves tag and workflows together. A branch is not.
    if (!SHA.test(ref) && !RELEASE_TAG.test(ref))
      add(node, 'unpinned-uses', `${value}: reference ${OWN_REPO} by release tag (vN) or full SHA`);
    return;
  }
  if (!SHA.test(ref)) {
    add(node, 'unpinned-uses', `${value}: pin third-party actions to a full 40-character commit SHA`);
    return;
  }
  if (!VERSION_COMMENT.test(node.comment ?? '')) {
    add(node, 'pin-comment', `${value}: add the version the SHA stands for as a comment (# vX.Y.Z)`);
  }
}

// ---------------------------------------------------------------------------------------------
