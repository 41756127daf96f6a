// Schema issues → problems: turns zod's issues into ConfigProblems that name the key, its line and a remedy
// ("did you mean", moved keys, quoting and type slips). Kept apart from problems.ts, which envfile.ts imports:
// this file needs the schema, and through yaml-source.ts the env file module, so merging the two would close a cycle.
import { z } from 'zod';
import type { ConfigProblem, ProblemCode } from './problems.js';
import { ConfigSchema, DURATION_HINT, DURATION_RE } from './schema.js';
import { valueAt, type YamlSource } from './yaml-source.js';

/** keys of the reference's deployment.yml that moved or went away: point migrators to the new place */
const MOVED: Record<string, string> = {
  'app.health_endpoint': 'use app.health.path',
  'deployment.strategy': 'remove it: the strategy is always blue-green',
  'deployment.health_check': 'use app.health (interval, timeout, start_timeout, consecutive)',
  'deployment.rollback':
    'remove it: a deploy that fails after starting the new colour always rolls back; to switch back on failures after the switch, use deployment.watch',
  providers: 'use provider: with kind compose (one Docker host, the default) or kind swarm (docs/swarm.md)',
  'monitoring.prometheus': 'use monitoring.enabled; the stack is docker/monitoring',
  'notifications.webhook.secret':
    'never write the signing key here: name its env-file variable in notifications.webhook.secret_env',
};

export function zodProblems(issues: readonly z.core.$ZodIssue[], yaml: YamlSource, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  const add = (path: PropertyKey[], message: string, remedy: string | undefined, code: ProblemCode, key = false) => {
    const dotted = dottedPath(path);
    if (seen.has(dotted)) return; // one problem per key: the first check is the most precise
    seen.add(dotted);
    const line = yaml.locate(path, key);
    out.push({
      file,
      path: dotted,
      ...(line !== undefined ? { line } : {}),
      message,
      ...(remedy ? { remedy } : {}),
      code,
    });
  };
  for (const issue of issues) {
    const path = issue.path as PropertyKey[];
    const value = valueAt(yaml.data, path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const k of issue.keys) {
          const full = [...path, k];
          const known = knownKeys(path);
          const close = known ? closest(k, known) : undefined;
          add(
            full,
            'is not a known setting',
            MOVED[dottedPath(full)] ??
              (close
                ? `did you mean ${close}?`
                : known
                  ? `remove it; known keys here: ${known.join(', ')}`
                  : 'remove it'),
            'unknown-key',
            true,
          );
        }
        break;
      case 'invalid_key': {
        const inner = issue.issues[0]?.message;
        add(path, `"${String(path[path.length - 1])}" is not a valid name`, inner, 'invalid', true);
        break;
      }
      case 'invalid_type':
        if (value === undefined) add(path, 'is required', requiredRemedy(path), 'required');
        else if (value === null) add(path, 'has no value', `give it a ${noun(issue.expected)}`, 'invalid');
        else if (isDuration(path)) add(path, `${show(value)} is not a duration`, DURATION_HINT, 'invalid');
        else
          add(
            path,
            `must be a ${noun(issue.expected)}, not ${describeType(value)}`,
            typeRemedy(issue.expected, value),
            'invalid',
          );
        break;
      case 'too_small':
      case 'too_big': {
        const small = issue.code === 'too_small';
        const limit = small
          ? (issue as { minimum: number | bigint }).minimum
          : (issue as { maximum: number | bigint }).maximum;
        if (issue.origin === 'number') {
          add(
            path,
            `${show(value)} is too ${small ? 'small' : 'large'}`,
            `use a number ${small ? '≥' : '≤'} ${String(limit)}`,
            'invalid',
          );
        } else {
          add(path, small ? 'is too short' : 'is too long', issue.message, 'invalid');
        }
        break;
      }
      case 'invalid_value':
        add(
          path,
          `${show(value)} is not allowed`,
          `use one of: ${issue.values.map((v) => String(v)).join(', ')}`,
          'invalid',
        );
        break;
      case 'invalid_format':
        add(
          path,
          `${show(value)} is not valid`,
          issue.format === 'url'
            ? 'write a full http(s) URL, e.g. https://staging.togather.example'
            : (hostTip(path, value) ?? issue.message),
          'invalid',
        );
        break;
      default:
        add(path, value === undefined ? 'is not valid' : `${show(value)} is not valid`, issue.message, 'invalid');
    }
  }
  return out;
}

/** the schema (input side, wrappers removed) that validates the value at a path */
function schemaAt(path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType = ConfigSchema;
  for (const seg of [...path, undefined]) {
    for (;;) {
      if (
        s instanceof z.ZodDefault ||
        s instanceof z.ZodOptional ||
        s instanceof z.ZodPrefault ||
        s instanceof z.ZodNullable
      ) {
        s = s.unwrap() as z.ZodType;
      } else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
      else break;
    }
    if (seg === undefined) break;
    if (s instanceof z.ZodObject) {
      const next = (s.shape as Record<string, z.ZodType>)[String(seg)];
      if (!next) return undefined;
      s = next;
    } else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return undefined;
  }
  return s;
}

/** the schema's object keys at a path, for "did you mean"; undefined when the path is not an object */
function knownKeys(path: readonly PropertyKey[]): string[] | undefined {
  const s = schemaAt(path);
  return s instanceof z.ZodObject ? Object.keys(s.shape as object) : undefined;
}

function isDuration(path: readonly PropertyKey[]): boolean {
  const s = schemaAt(path);
  if (!(s instanceof z.ZodString)) return false;
  const checks = (s._zod.def.checks ?? []) as { _zod: { def: { pattern?: RegExp } } }[];
  return checks.some((c) => c._zod.def.pattern === DURATION_RE);
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (cur[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

const REQUIRED_TIPS: Record<string, string> = {
  app: 'add an app: section with at least image:',
  'app.image': 'add image: with the image repository, e.g. ghcr.io/togather/server (no tag: the commit SHA is the tag)',
  environments: 'add environments: with one entry per environment (development, staging, production)',
  host: 'add host: with the SSH host name, e.g. staging.togather.example',
};

function requiredRemedy(path: readonly PropertyKey[]): string {
  const dotted = dottedPath(path);
  return (
    REQUIRED_TIPS[dotted] ?? REQUIRED_TIPS[String(path[path.length - 1])] ?? `add ${String(path[path.length - 1])}:`
  );
}

/** common slips when writing a host: a user, a port or a scheme in it */
function hostTip(path: readonly PropertyKey[], value: unknown): string | undefined {
  if (path[0] !== 'environments' || path[2] !== 'host' || typeof value !== 'string') return undefined;
  if (value.includes('://')) return 'write the host name alone, without a scheme (e.g. staging.togather.example)';
  if (value.includes('@')) return 'write the host name alone; the SSH user goes in user:';
  if (/:\d+$/.test(value)) return 'write the host name alone; the SSH port goes in port:';
  return undefined;
}

function typeRemedy(expected: string, value: unknown): string {
  if ((expected === 'number' || expected === 'int') && typeof value === 'string' && /^\d+$/.test(value)) {
    return 'write the number without quotes';
  }
  if (expected === 'boolean' && typeof value === 'string') return 'write true or false without quotes';
  if (expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) return 'quote the value';
  if (expected === 'array') return 'write a list, e.g. [a, b]';
  return `write a ${noun(expected)}`;
}

function noun(expected: string): string {
  return expected === 'object' ? 'mapping (key: value lines)' : expected === 'array' ? 'list' : expected;
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `the ${typeof value} ${show(value)}`;
}

export function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

export function dottedPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}
