// Generates the key reference of docs/configuration.md from the zod schema of deployment.yml
// (src/config/schema.ts), between the markers
//   <!-- config-reference:start --> … <!-- config-reference:end -->
//
//   npx tsx scripts/gen-config-docs.ts            rewrite docs/configuration.md
//   npx tsx scripts/gen-config-docs.ts --check    exit 1 when the reference is out of date with the schema
//   option: --doc PATH (default docs/configuration.md in the repository)
//
// The schema's own descriptions are the text of the reference. NOTES below only fills in keys whose schema
// entry carries no description; a note for a key the schema describes, or for a key that no longer exists,
// is reported as drift too, so the notes cannot go stale silently.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigSchema, DURATION_RE } from '../src/config/schema.js';

export const START = '<!-- config-reference:start -->';
export const END = '<!-- config-reference:end -->';
const NOTE =
  '<!-- Generated from src/config/schema.ts by scripts/gen-config-docs.ts: edit the schema, then run it. -->';

/** Text for keys whose schema entry has no description. Keyed by the dotted path as the reference prints it. */
export const NOTES: Readonly<Record<string, string>> = {
  'app.health': 'how a new colour proves it is ready, and how the switch is verified',
  'app.build.context':
    'build context inside the repository, at the deployed commit (`git archive`, never the working tree)',
  'app.build.dockerfile': 'Dockerfile, relative to the build context',
  'deployment.lock': "the per-environment lock on the host (a directory `lock/` under the environment's path)",
  'proxy.http_port': 'host port Caddy publishes for HTTP (redirects to HTTPS when `domains` is set)',
  'proxy.https_port': 'host port Caddy publishes for HTTPS',
  'proxy.health_timeout': "time limit of one of Caddy's health checks; keep it below `health_interval`",
  'images.caddy': 'image of the reverse proxy (Caddy 2.6 or newer)',
  'images.postgres':
    'image of the bundled database (used when `database.managed` is true) and of the one-off client containers for an external database',
  'database.name': 'database the bundled PostgreSQL creates (POSTGRES_DB); must match the database in DATABASE_URL',
  'database.user': 'role the bundled PostgreSQL creates (POSTGRES_USER); must match the user in DATABASE_URL',
  'notifications.ntfy.retries':
    'further attempts after a failed one (network error, timeout, 408, 429, 5xx), with backoff',
  'monitoring.scrape_interval': 'how often Prometheus scrapes the app and the node exporter',
  'monitoring.grafana': 'the Grafana service of the monitoring stack',
  'monitoring.images': 'images of the monitoring stack',
  'monitoring.images.prometheus': 'Prometheus image',
  'monitoring.images.alertmanager': 'Alertmanager image',
  'monitoring.images.node_exporter': 'node exporter image',
  'monitoring.images.grafana': 'Grafana image',
  'monitoring.images.postgres_exporter': 'PostgreSQL exporter image (metrics of the database)',
  environments: 'the environments this file can deploy; at least one',
  'environments.<name>':
    'one environment; its name is what you deploy (`togather-deploy deploy <name>`) and names the stack `<app.name>-<name>`',
};

/** Defaults the JSON Schema cannot show because they are applied by a transform. */
const DEFAULT_NOTES: Readonly<Record<string, string>> = {
  'notifications.ntfy.priority': 'started 2, completed 3, failed 5, rolled_back 4',
  'notifications.ntfy.tags':
    'started `rocket`; completed `white_check_mark`; failed `x`; rolled_back `rewind`, `warning`',
};

export interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

export interface Section {
  name: string;
  description: string;
  rows: Row[];
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function jsonSchema(): Json {
  return z.toJSONSchema(ConfigSchema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
}

/** a union's branches: zod writes anyOf for unions and oneOf for discriminated ones */
function branchesOf(node: Json): Json[] {
  if (Array.isArray(node.anyOf)) return node.anyOf as Json[];
  if (Array.isArray(node.oneOf)) return node.oneOf as Json[];
  return [node];
}

/**
 * The branches of a discriminated union (provider: kind compose or swarm) as one object: every key of any branch,
 * the discriminator's constants gathered into an enum.
 */
function mergedObject(branches: Json[]): Json | undefined {
  const objects = branches.filter((b) => b.type === 'object' && isObj(b.properties));
  if (objects.length < 2 || objects.length !== branches.length) return undefined;
  const properties: Record<string, Json> = {};
  for (const b of objects)
    for (const [k, child] of Object.entries(b.properties as Record<string, Json>)) {
      const seen = properties[k];
      if (seen && child.const !== undefined) {
        const values = Array.isArray(seen.enum) ? (seen.enum as unknown[]) : [seen.const];
        properties[k] = { ...seen, const: undefined, enum: [...values, child.const] };
      } else properties[k] ??= child;
    }
  return { type: 'object', properties };
}

function typeOf(node: Json): string {
  if (node.const !== undefined) return `\`${String(node.const)}\``;
  if (Array.isArray(node.anyOf) || Array.isArray(node.oneOf)) {
    if (mergedObject(branchesOf(node))) return 'mapping';
    return branchesOf(node)
      .map(typeOf)
      .filter((t, i, all) => all.indexOf(t) === i)
      .join(' or ');
  }
  if (Array.isArray(node.enum)) return (node.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  switch (node.type) {
    case 'string':
      if (node.pattern === DURATION_RE.source) return 'duration';
      if (node.format === 'uri') return 'URL';
      return 'string';
    case 'integer':
    case 'number': {
      const min = node.minimum as number | undefined;
      const max = node.maximum as number | undefined;
      const base = node.type === 'integer' ? 'integer' : 'number';
      // zod writes Number.MAX_SAFE_INTEGER for "no upper bound"
      if (min !== undefined && max !== undefined && max < Number.MAX_SAFE_INTEGER) return `${base} ${min}–${max}`;
      if (min !== undefined) return `${base} ≥ ${min}`;
      return base;
    }
    case 'boolean':
      return 'boolean';
    case 'array':
      return `list of ${isObj(node.items) ? plural(typeOf(node.items)) : 'values'}`;
    case 'object':
      return 'mapping';
    default:
      return 'any';
  }
}

function plural(t: string): string {
  if (t === 'string') return 'strings';
  if (t.includes('|')) return t;
  return t.startsWith('integer') ? t.replace('integer', 'integers') : `${t}s`;
}

function showDefault(v: unknown): string {
  if (v === undefined) return '';
  if (isObj(v)) return Object.keys(v).length === 0 ? '' : `\`${JSON.stringify(v)}\``;
  if (Array.isArray(v)) return v.length === 0 ? '`[]`' : `\`[${v.map((x) => String(x)).join(', ')}]\``;
  if (v === '') return '`""`';
  return `\`${String(v)}\``;
}

/** Markdown-safe text of one table cell: one line, pipes escaped, no raw HTML (descriptions say <name>). */
function cell(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|');
}

/** cell() for text that already is Markdown (notes): only pipes and line breaks are handled */
function mdCell(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/(?<!\\)\|/g, '\\|');
}

function describe(key: string, node: Json): string {
  if (typeof node.description === 'string' && node.description.trim()) return cell(node.description);
  const override = /^environments\.<name>\.proxy\.(.+)$/.exec(key);
  if (override) return `overrides \`proxy.${override[1]}\` for this environment`;
  const perEvent = /^notifications\.ntfy\.(?:priority|tags)\.([a-z_]+)$/.exec(key);
  if (perEvent) return `for \`deployment.${perEvent[1]}\``;
  const note = NOTES[key];
  return note ? mdCell(note) : '';
}

/** Walks the JSON Schema of one top-level section and lists every key below it, parents before children. */
function walk(node: Json, key: string, required: boolean, rows: Row[]): void {
  const def = node.default;
  const row: Row = {
    key,
    type: typeOf(node),
    default: required
      ? '**required**'
      : DEFAULT_NOTES[key] !== undefined
        ? mdCell(DEFAULT_NOTES[key])
        : showDefault(def),
    description: describe(key, node),
  };
  const merged = mergedObject(branchesOf(node));
  const branches = merged ? [merged] : branchesOf(node);
  if (merged) rows.push(row); // a union of mappings: its own row says what it chooses between
  const objects = branches.filter((b) => b.type === 'object');
  const props = objects.find((b) => isObj(b.properties));
  const record = objects.find((b) => isObj(b.additionalProperties) && isObj(b.propertyNames));
  // a mapping of named entries (environments, app.env): one row for the mapping, then its entries' keys
  if (record && !props) {
    const names = record.propertyNames as Json;
    const placeholder = typeof names.pattern === 'string' && names.pattern.startsWith('^[A-Z') ? 'KEY' : '<name>';
    const entry = record.additionalProperties as Json;
    if (entry.type === 'object' && isObj(entry.properties)) {
      rows.push({ ...row, type: 'mapping of named entries' });
      walk(entry, `${key}.${placeholder}`, false, rows);
    } else {
      rows.push({ ...row, type: `mapping of \`${placeholder}\`: ${typeOf(entry)}` });
    }
    return;
  }
  if (props) {
    // an object: its own row when it says something or is a union (watch: a duration or a mapping)
    if (!merged && (row.description || branches.length > 1)) rows.push(row);
    const req = new Set(Array.isArray(props.required) ? (props.required as string[]) : []);
    for (const [k, child] of Object.entries(props.properties as Record<string, Json>))
      walk(child, `${key}.${k}`, req.has(k), rows);
    return;
  }
  rows.push(row);
}

const SECTION_TEXT: Readonly<Record<string, string>> = {
  app: 'The application: its image, how it is built or fetched, how its health is judged, and its environment.',
  deployment: 'The deployment policy: timings of the switch and the drain, the lock, retention, the post-deploy watch.',
  proxy:
    'Caddy, the reverse proxy in front of both colours. Each environment can override these under `environments.<name>.proxy`.',
  images: 'Images of the supporting services of the stack.',
  database: 'The database: the bundled PostgreSQL or an external one, migrations and snapshots.',
  notifications: 'Where deployment events are sent, from the machine running the deploy.',
  monitoring: 'The optional monitoring stack beside the environment.',
  environments: 'One entry per environment; the SSH target and what differs per environment.',
};

export function sections(): Section[] {
  const root = jsonSchema();
  const req = new Set((root.required as string[] | undefined) ?? []);
  return Object.entries(root.properties as Record<string, Json>).map(([name, node]) => {
    const rows: Row[] = [];
    walk(node, name, req.has(name), rows);
    return { name, description: SECTION_TEXT[name] ?? cell(String(node.description ?? '')), rows };
  });
}

/** every key the reference lists, for checks elsewhere (e.g. keys named in the docs must exist) */
export function allKeys(): string[] {
  return sections().flatMap((s) => s.rows.map((r) => r.key));
}

/** keys with no text at all (neither the schema's description nor a note) */
export function undocumentedKeys(): string[] {
  return sections().flatMap((s) => s.rows.filter((r) => !r.description).map((r) => r.key));
}

/** notes that fill nothing: their key is gone, or the schema describes it now */
export function staleNotes(): string[] {
  const rows = new Map(sections().flatMap((s) => s.rows.map((r) => [r.key, r] as const)));
  const root = jsonSchema();
  return Object.keys(NOTES)
    .filter((k) => {
      if (!rows.has(k)) return true;
      const node = nodeAt(root, k);
      return node !== undefined && typeof node.description === 'string' && node.description.trim() !== '';
    })
    .concat(Object.keys(DEFAULT_NOTES).filter((k) => !rows.has(k)));
}

function nodeAt(root: Json, key: string): Json | undefined {
  let node: Json | undefined = root;
  for (const part of key.split('.')) {
    if (!node) return undefined;
    const branches: Json[] = branchesOf(node);
    let next: Json | undefined;
    for (const b of branches) {
      if (part.startsWith('<') && isObj(b.additionalProperties)) next = b.additionalProperties as Json;
      else if (isObj(b.properties) && isObj((b.properties as Json)[part])) next = (b.properties as Json)[part] as Json;
      if (next) break;
    }
    node = next;
  }
  return node;
}

export function renderReference(): string {
  const out: string[] = [];
  for (const s of sections()) {
    out.push(
      `### ${s.name}`,
      '',
      s.description,
      '',
      '| Key | Type | Default | Description |',
      '| --- | --- | --- | --- |',
    );
    for (const r of s.rows) out.push(`| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description} |`);
    out.push('');
  }
  return out.join('\n').trimEnd();
}

/** Replaces what lies between the markers; throws when they are missing or doubled. */
export function updateDoc(doc: string): string {
  const s = doc.indexOf(START);
  const e = doc.indexOf(END);
  if (s < 0 || e < 0 || e < s) throw new Error(`missing the markers ${START} … ${END}`);
  if (doc.indexOf(START, s + 1) >= 0 || doc.indexOf(END, e + 1) >= 0)
    throw new Error('has the reference markers twice');
  const eol = doc.includes('\r\n') ? '\r\n' : '\n';
  const body = [NOTE, '', renderReference(), ''].join('\n').replace(/\n/g, eol);
  return doc.slice(0, s + START.length) + eol + body + doc.slice(e);
}

export interface RunResult {
  code: number;
  message: string;
}

export function run(argv: string[], root = repoRoot()): RunResult {
  const check = argv.includes('--check');
  const i = argv.indexOf('--doc');
  const docPath = i >= 0 && argv[i + 1] ? path.resolve(argv[i + 1]!) : path.join(root, 'docs', 'configuration.md');
  const shown = path.relative(process.cwd(), docPath) || docPath;
  const stale = staleNotes();
  if (stale.length) {
    return {
      code: 1,
      message: `scripts/gen-config-docs.ts has notes for keys that are gone or now described by the schema: ${stale.join(', ')}; remove them`,
    };
  }
  let doc: string;
  let updated: string;
  try {
    doc = readFileSync(docPath, 'utf8');
    updated = updateDoc(doc);
  } catch (err) {
    return { code: 2, message: `${shown}: ${(err as Error).message}` };
  }
  if (updated === doc) return { code: 0, message: `${shown} is up to date with the schema` };
  if (check)
    return {
      code: 1,
      message: `${shown} is out of date with src/config/schema.ts: run npx tsx scripts/gen-config-docs.ts`,
    };
  writeFileSync(docPath, updated);
  return { code: 0, message: `${shown} updated from the schema` };
}

function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  const result = run(process.argv.slice(2));
  (result.code === 0 ? console.log : console.error)(result.message);
  process.exitCode = result.code;
}
