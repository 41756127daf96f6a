// Generates the inputs and outputs tables of README.md from action.yml, between the markers
//   <!-- action-inputs:start --> … <!-- action-inputs:end -->
//   <!-- action-outputs:start --> … <!-- action-outputs:end -->
//
//   npx tsx scripts/gen-readme.ts            rewrite README.md
//   npx tsx scripts/gen-readme.ts --check    exit 1 when README.md is out of date
//   options: --readme PATH, --action PATH (defaults: README.md, action.yml in the repository)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';

export interface ActionInput {
  name: string;
  description: string;
  required: boolean;
  default: string | undefined;
}
export interface ActionOutput {
  name: string;
  description: string;
}
export interface ActionMetadata {
  inputs: ActionInput[];
  outputs: ActionOutput[];
}

export const SECTIONS = ['action-inputs', 'action-outputs'] as const;
export type Section = (typeof SECTIONS)[number];

const NOTE = '<!-- Generated from action.yml by scripts/gen-readme.ts: edit action.yml, then run it. -->';

export function readActionMetadata(actionYml: string): ActionMetadata {
  const doc: unknown = parse(actionYml);
  if (!isRecord(doc)) throw new Error('action.yml is not a mapping');
  const inputs = isRecord(doc.inputs) ? doc.inputs : {};
  const outputs = isRecord(doc.outputs) ? doc.outputs : {};
  return {
    inputs: Object.entries(inputs).map(([name, raw]) => {
      const def = isRecord(raw) ? raw : {};
      return {
        name,
        description: typeof def.description === 'string' ? def.description : '',
        required: def.required === true || def.required === 'true',
        default: def.default === undefined || def.default === null ? undefined : String(def.default),
      };
    }),
    outputs: Object.entries(outputs).map(([name, raw]) => ({
      name,
      description: isRecord(raw) && typeof raw.description === 'string' ? raw.description : '',
    })),
  };
}

/** One table cell: a single line, pipes escaped so they cannot split the row. */
function cell(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|');
}

/** Inline code that survives backticks inside the value. */
function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text.replace(/\|/g, '\\|')}${pad}${fence}`;
}

export function renderInputs(meta: ActionMetadata): string {
  const rows = meta.inputs.map((i) => {
    const def = i.default === undefined ? '' : i.default === '' ? '`""`' : code(i.default);
    return `| ${code(i.name)} | ${i.required ? 'yes' : 'no'} | ${def} | ${cell(i.description)} |`;
  });
  return ['| Input | Required | Default | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function renderOutputs(meta: ActionMetadata): string {
  const rows = meta.outputs.map((o) => `| ${code(o.name)} | ${cell(o.description)} |`);
  return ['| Output | Description |', '| --- | --- |', ...rows].join('\n');
}

function markers(section: Section): { start: string; end: string } {
  return { start: `<!-- ${section}:start -->`, end: `<!-- ${section}:end -->` };
}

/** The sections whose start and end markers both appear, in order. */
export function sectionsPresent(readme: string): Section[] {
  return SECTIONS.filter((s) => {
    const { start, end } = markers(s);
    const i = readme.indexOf(start);
    return i >= 0 && readme.indexOf(end, i + start.length) >= 0;
  });
}

/** Replaces what lies between each section's markers; throws when a marker is missing or doubled. */
export function updateReadme(readme: string, actionYml: string): string {
  const meta = readActionMetadata(actionYml);
  const eol = readme.includes('\r\n') ? '\r\n' : '\n';
  const bodies: Record<Section, string> = {
    'action-inputs': renderInputs(meta),
    'action-outputs': renderOutputs(meta),
  };
  let out = readme;
  for (const section of SECTIONS) {
    const { start, end } = markers(section);
    const s = out.indexOf(start);
    const e = out.indexOf(end);
    if (s < 0 || e < 0 || e < s) throw new Error(`README is missing the markers ${start} … ${end}`);
    if (out.indexOf(start, s + 1) >= 0 || out.indexOf(end, e + 1) >= 0)
      throw new Error(`README has the markers of ${section} twice`);
    const body = [NOTE, bodies[section]].join('\n').replace(/\n/g, eol);
    out = out.slice(0, s + start.length) + eol + body + eol + out.slice(e);
  }
  return out;
}

export interface RunResult {
  code: number;
  message: string;
}

/** Paths given as options are relative to the working directory; the defaults sit in the repository. */
export function run(argv: string[], root = repoRoot()): RunResult {
  const check = argv.includes('--check');
  const cwd = process.cwd();
  const option = (name: string, fallback: string): string => {
    const i = argv.indexOf(name);
    const value = i >= 0 ? argv[i + 1] : undefined;
    return value === undefined ? path.join(root, fallback) : path.resolve(value);
  };
  const readmePath = option('--readme', 'README.md');
  const actionPath = option('--action', 'action.yml');
  let readme: string;
  let updated: string;
  try {
    readme = readFileSync(readmePath, 'utf8');
    updated = updateReadme(readme, readFileSync(actionPath, 'utf8'));
  } catch (err) {
    return { code: 2, message: `${path.relative(cwd, readmePath)}: ${(err as Error).message}` };
  }
  if (updated === readme)
    return { code: 0, message: `${path.relative(cwd, readmePath)} is up to date with action.yml` };
  if (check) {
    return {
      code: 1,
      message: `${path.relative(cwd, readmePath)} is out of date with action.yml: run npx tsx scripts/gen-readme.ts`,
    };
  }
  writeFileSync(readmePath, updated);
  return { code: 0, message: `${path.relative(cwd, readmePath)} updated from action.yml` };
}

function repoRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (invokedDirectly) {
  const result = run(process.argv.slice(2));
  (result.code === 0 ? console.log : console.error)(result.message);
  process.exitCode = result.code;
}
