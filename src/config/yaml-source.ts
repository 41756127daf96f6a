// The config file read as YAML with positions: parse errors and alias bombs become problems, and every parsed value
// can be traced back to its line (locate) for annotations. Also small accessors on the parsed, still unvalidated data,
// so a broken config can still lend whatever parts of it are well-formed.
import { readFileSync, statSync } from 'node:fs';
import { Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { decodeUtf8Lines } from './envfile.js';
import type { ConfigProblem, ProblemCode } from './problems.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** alias expansions allowed when building the config: plenty for shared anchors, far too few for a bomb */
const MAX_ALIAS_COUNT = 50;

export interface YamlSource {
  data: Record<string, unknown>;
  doc: Document;
  /** 1-based line of the node at a path; `key` gives the line of the mapping key instead of its value */
  locate(path: readonly PropertyKey[], key?: boolean): number | undefined;
}

export function readYaml(abs: string, file: string, problems: ConfigProblem[]): YamlSource | undefined {
  const fail = (message: string, remedy: string, code: ProblemCode = 'file', line?: number) => {
    problems.push({ file, path: '', ...(line !== undefined ? { line } : {}), message, remedy, code });
    return undefined;
  };
  let bytes: Buffer;
  try {
    const st = statSync(abs);
    if (!st.isFile()) return fail('is not a regular file', 'point --config (or the config input) to deployment.yml');
    if (st.size > MAX_CONFIG_BYTES) {
      return fail(
        `is ${Math.ceil(st.size / 1024)} KiB; a config file may hold at most ${MAX_CONFIG_BYTES / 1024} KiB`,
        'point --config (or the config input) to deployment.yml',
      );
    }
    bytes = readFileSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? fail(
          'does not exist',
          'create it (see config/deployment.yml of togather-deploy) or point --config / the config input to it',
        )
      : fail(`cannot be read (${code ?? String(err)})`, 'check the path and its permissions');
  }
  let utf8Ok = true;
  const text = decodeUtf8Lines(bytes, (line) => {
    utf8Ok = false;
    fail('is not valid UTF-8', 're-save the file as UTF-8', 'file', line);
  });
  if (!utf8Ok) return undefined;

  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, merge: true, prettyErrors: false });
  const lineAt = (offset: number) => lc.linePos(offset).line;
  let fatal = false;
  for (const err of doc.errors) {
    const line = lineAt(err.pos[0]);
    const message = err.message.split('\n')[0] ?? err.message;
    if (err.code === 'DUPLICATE_KEY') {
      fail(
        `${message.replace(/\.$/, '')} (this key appears twice in its mapping)`,
        'keep one of the two',
        'duplicate-key',
        line,
      );
    } else {
      fatal = true;
      fail(`is not valid YAML: ${message}`, 'fix the YAML syntax at this line', 'yaml', line);
    }
  }
  if (fatal) return undefined;

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    if (err instanceof ReferenceError) {
      return fail(
        `expands YAML aliases more than ${MAX_ALIAS_COUNT} times (an alias bomb?)`,
        'write the values out, or share fewer anchors',
        'alias-bomb',
      );
    }
    return fail(`cannot be read as YAML: ${(err as Error).message}`, 'fix the YAML syntax', 'yaml');
  }
  if (data === null || data === undefined) {
    return fail('is empty', 'describe the app and its environments (app:, environments:)', 'not-mapping');
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    return fail(
      'must be a mapping of settings (app:, environments:, …), not a list or a single value',
      'start the file with top-level keys such as app: and environments:',
      'not-mapping',
      1,
    );
  }
  const root = data as Record<string, unknown>;
  // "x-" keys hold shared anchors, as in compose files; they are not settings
  for (const k of Object.keys(root)) if (k.startsWith('x-')) delete root[k];

  const locate = (path: readonly PropertyKey[], key = false): number | undefined => {
    const seen = new Set<unknown>();
    let node: unknown = doc.contents;
    let line: number | undefined = nodeLine(node, lineAt);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      node = deref(node, doc);
      if (isMap(node)) {
        const pair = findPair(node, String(seg), doc, seen);
        if (!pair) return line; // nearest existing ancestor: e.g. the parent of a missing key
        const keyLine = nodeLine(pair.key, lineAt);
        if (i === path.length - 1 && key) return keyLine ?? line;
        line = keyLine ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        line = nodeLine(node, lineAt) ?? line;
      } else {
        return line;
      }
    }
    return key ? line : (nodeLine(deref(node, doc), lineAt) ?? line);
  };
  return { data: root, doc, locate };
}

type YamlPair = { key: unknown; value: unknown };

function findPair(map: { items: YamlPair[] }, key: string, doc: Document, seen: Set<unknown>): YamlPair | undefined {
  if (seen.has(map)) return undefined;
  seen.add(map);
  for (const p of map.items) if (isScalar(p.key) && String(p.key.value) === key) return p;
  // merge keys (<<: *base): look in the merged mappings
  for (const p of map.items) {
    // the merge key's scalar keeps '<<' in its source; its value is a marker
    if (!isScalar(p.key) || (p.key.value !== '<<' && (p.key as { source?: unknown }).source !== '<<')) continue;
    const v = deref(p.value, doc);
    const sources = isSeq(v) ? v.items.map((x) => deref(x, doc)) : [v];
    for (const src of sources) {
      if (!isMap(src)) continue;
      const found = findPair(src as { items: YamlPair[] }, key, doc, seen);
      if (found) return found;
    }
  }
  return undefined;
}

function deref(node: unknown, doc: Document): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function nodeLine(node: unknown, lineAt: (offset: number) => number): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range ? lineAt(range[0]) : undefined;
}

export function isMapping(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
}

export function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  return Object.values(v).every((x) => typeof x === 'string') ? (v as Record<string, string>) : undefined;
}

export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
}
