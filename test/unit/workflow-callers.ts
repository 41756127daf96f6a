/**
 * Checks for a workflow that calls one of this repository's reusable workflows (a caller example in the docs, a
 * caller workflow that `togather-deploy init` writes): the calling job grants at least the permissions every job
 * of the called workflow asks for (a called workflow never gets more than its caller grants, and asking for more
 * is a startup failure), and it passes only inputs and secrets the called workflow declares, with every required
 * input given. Pure functions over YAML text, kept out of the *.test.ts files so that other tests can import them
 * without running those.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `uses:` of a job calling one of our reusable workflows; group 1 is the workflow's file name without .yml */
export const OWN_WORKFLOW_USES = /^togather\/togather-deploy\/\.github\/workflows\/([A-Za-z0-9_.-]+)\.ya?ml@/;

export interface CallerFinding {
  file: string;
  line: number;
  message: string;
}

type Level = 0 | 1 | 2; // none, read, write
const LEVEL: Record<string, Level> = { none: 0, read: 1, write: 2 };
const NAME: Record<Level, string> = { 0: 'none', 1: 'read', 2: 'write' };

/** A permissions block as scope → level; `all` holds the level of read-all / write-all. */
export interface Grant {
  all: Level;
  scopes: Map<string, Level>;
}

/** permissions: {…} | read-all | write-all → Grant; undefined when the node is absent */
export function grantOf(value: unknown): Grant | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (value === 'read-all') return { all: 1, scopes: new Map() };
    if (value === 'write-all') return { all: 2, scopes: new Map() };
    return { all: 0, scopes: new Map() };
  }
  const scopes = new Map<string, Level>();
  if (typeof value === 'object')
    for (const [scope, level] of Object.entries(value as Record<string, unknown>))
      scopes.set(scope, LEVEL[String(level)] ?? 0);
  return { all: 0, scopes };
}

const levelIn = (g: Grant, scope: string): Level => Math.max(g.all, g.scopes.get(scope) ?? 0) as Level;

/** What a called workflow's jobs ask for together: per scope, the highest level any job asks for. */
export interface CalledWorkflow {
  needs: Map<string, Level>;
  inputs: Map<string, { required: boolean; hasDefault: boolean }>;
  secrets: Set<string>;
}

const cache = new Map<string, CalledWorkflow | undefined>();

/** .github/workflows/<name>.yml of this repository, read once; undefined when there is none */
export function calledWorkflow(name: string, root = ROOT): CalledWorkflow | undefined {
  const key = `${root}\0${name}`;
  if (cache.has(key)) return cache.get(key);
  let text: string;
  try {
    text = readFileSync(path.join(root, '.github/workflows', `${name}.yml`), 'utf8');
  } catch {
    cache.set(key, undefined);
    return undefined;
  }
  const wf = parseDocument(text).toJS() as {
    on?: {
      workflow_call?: {
        inputs?: Record<string, { required?: boolean; default?: unknown }>;
        secrets?: Record<string, unknown>;
      } | null;
    };
    permissions?: unknown;
    jobs?: Record<string, { permissions?: unknown }>;
  };
  const needs = new Map<string, Level>();
  const top = grantOf(wf.permissions);
  for (const job of Object.values(wf.jobs ?? {})) {
    const g = grantOf(job.permissions) ?? top;
    if (!g) continue;
    for (const [scope, level] of g.scopes) needs.set(scope, Math.max(needs.get(scope) ?? 0, level) as Level);
    if (g.all > 0) needs.set('*', Math.max(needs.get('*') ?? 0, g.all) as Level);
  }
  const call = wf.on?.workflow_call ?? undefined;
  const inputs = new Map(
    Object.entries(call?.inputs ?? {}).map(([k, v]) => [
      k,
      { required: v.required === true, hasDefault: v.default !== undefined },
    ]),
  );
  const result = { needs, inputs, secrets: new Set(Object.keys(call?.secrets ?? {})) };
  cache.set(key, result);
  return result;
}

/** the jobs of a workflow text that call one of our reusable workflows, with their line and the top-level grant */
function callingJobs(
  text: string,
): { jobs: { id: string; job: YAMLMap; uses: string; line: number }[]; top: Grant | undefined } | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0 || !isMap(doc.contents)) return undefined;
  const root = doc.contents;
  const jobsNode = root.get('jobs', true);
  const top = grantOf((root.get('permissions', true) as Node | undefined)?.toJSON());
  const jobs: { id: string; job: YAMLMap; uses: string; line: number }[] = [];
  if (isMap(jobsNode)) {
    for (const pair of jobsNode.items) {
      const job = pair.value;
      if (!isMap(job)) continue;
      const uses = job.get('uses', true);
      if (!isScalar(uses) || !OWN_WORKFLOW_USES.test(String(uses.value))) continue;
      jobs.push({
        id: isScalar(pair.key) ? String(pair.key.value) : '?',
        job,
        uses: String(uses.value),
        line: lines.linePos(uses.range?.[0] ?? 0).line,
      });
    }
  }
  return { jobs, top };
}

/**
 * For each job of `text` (a workflow) that calls .github/workflows/<x>.yml of this repository: its permissions
 * (or, when it has none, the workflow's top-level ones) must cover every permission of every job of <x>.yml at
 * the same or a higher level (write covers read). A caller with no permissions at all is a finding: it would run
 * with the repository's default token, which may be read-only. `lineOffset` is added to the lines reported
 * (a block's position inside a Markdown file).
 */
export function callerPermissionFindings(text: string, file: string, lineOffset = 0, root = ROOT): CallerFinding[] {
  return eachCall(text, file, lineOffset, root, (call, findings) => {
    const { id, job, uses, at, name, called, top } = call;
    if (!called) {
      findings.push({ ...at, message: `job ${id}: ${uses}: there is no .github/workflows/${name}.yml` });
      return;
    }
    const own = grantOf((job.get('permissions', true) as Node | undefined)?.toJSON());
    const grant = own ?? top;
    if (!grant) {
      findings.push({
        ...at,
        message: `job ${id} calls ${name}.yml without permissions (neither on the job nor at the top): grant ${describeNeeds(called.needs)}`,
      });
      return;
    }
    for (const [scope, need] of called.needs) {
      const have = scope === '*' ? grant.all : levelIn(grant, scope);
      if (have < need) {
        const whose = own ? '' : ' (the job has no permissions of its own; the top-level ones apply)';
        findings.push({
          ...at,
          message: `job ${id} grants ${scope}: ${NAME[have]}, but ${name}.yml asks for ${scope}: ${NAME[need]}${whose}`,
        });
      }
    }
  });
}

/**
 * For each job of `text` calling one of our reusable workflows: every `with:` key is an input of the called
 * workflow, every required input without a default is given, and every `secrets:` key is declared there.
 */
export function callerInputFindings(text: string, file: string, lineOffset = 0, root = ROOT): CallerFinding[] {
  return eachCall(text, file, lineOffset, root, ({ id, job, at, name, called }, findings) => {
    if (!called) return; // reported by callerPermissionFindings
    const withNode = job.get('with', true);
    const given = isMap(withNode) ? withNode.items.map((p) => (isScalar(p.key) ? String(p.key.value) : '')) : [];
    for (const k of given)
      if (!called.inputs.has(k)) findings.push({ ...at, message: `job ${id}: ${name}.yml has no input "${k}"` });
    for (const [k, i] of called.inputs)
      if (i.required && !i.hasDefault && !given.includes(k))
        findings.push({ ...at, message: `job ${id}: ${name}.yml requires the input "${k}"` });
    const secretsNode = job.get('secrets', true);
    if (isMap(secretsNode))
      for (const p of secretsNode.items) {
        const k = isScalar(p.key) ? String(p.key.value) : '';
        if (!called.secrets.has(k)) findings.push({ ...at, message: `job ${id}: ${name}.yml has no secret "${k}"` });
      }
  });
}

/** one job of a workflow calling one of ours, with what the checks need of it */
interface Call {
  id: string;
  job: YAMLMap;
  uses: string;
  at: { file: string; line: number };
  /** the called workflow's file name without .yml, and what it declares (undefined: no such file) */
  name: string;
  called: CalledWorkflow | undefined;
  /** the workflow's top-level permissions */
  top: Grant | undefined;
}

/** runs `check` on every job of `text` that calls one of our reusable workflows; returns what it found */
function eachCall(
  text: string,
  file: string,
  lineOffset: number,
  root: string,
  check: (call: Call, findings: CallerFinding[]) => void,
): CallerFinding[] {
  const parsed = callingJobs(text);
  const findings: CallerFinding[] = [];
  for (const { id, job, uses, line } of parsed?.jobs ?? []) {
    const name = OWN_WORKFLOW_USES.exec(uses)![1]!;
    const call = { id, job, uses, name, at: { file, line: line + lineOffset }, called: calledWorkflow(name, root) };
    check({ ...call, top: parsed!.top }, findings);
  }
  return findings;
}

function describeNeeds(needs: Map<string, Level>): string {
  return [...needs].map(([s, l]) => `${s === '*' ? 'all' : s}: ${NAME[l]}`).join(', ') || 'permissions: {}';
}
