import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { z } from 'zod';
import { safeDecode, type Redactor } from '../log/redact.js';
import { PLACEHOLDER_RE, checkEnvironment, checkValue, decodeUtf8Lines, parseEnvFile, readEnvFile } from './envfile.js';
import type { EnvFile, ValueOrigin } from './envfile.js';
import { ConfigError, ENV_INPUT_SOURCE, sortProblems } from './problems.js';
import type { ConfigProblem, ProblemCode } from './problems.js';
import {
  ConfigSchema,
  DEFAULT_PUBLIC_ENV,
  DURATION_HINT,
  DURATION_RE,
  DEFAULT_REQUIRED_ENV,
  type Config,
  type EnvironmentConfig,
  type ProxyConfig,
} from './schema.js';

export { ConfigError, ENV_INPUT_SOURCE, formatProblem } from './problems.js';
export type { ConfigProblem, ProblemCode } from './problems.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** alias expansions allowed when building the config: plenty for shared anchors, far too few for a bomb */
const MAX_ALIAS_COUNT = 50;
/** where the values of the app environment came from when they came from neither file */
const PROCESS_ENV_SOURCE = 'process environment';
const OVERRIDE_SOURCE = 'override (--set)';

export interface LoadOptions {
  configPath: string;
  environment: string;
  /** env file content (the action's env-file input); wins over every other env file */
  envFileContent?: string;
  /** env file path (the CLI's --env-file), relative to the working directory */
  envFilePath?: string;
  /** consulted only for keys the env file or app.env declare; adapters pass process.env, default none */
  processEnv?: Record<string, string | undefined>;
  /** KEY=VALUE settings from the command line (--set) or the action; they win over everything */
  overrides?: Record<string, string>;
  redactor: Redactor;
  /** base of relative paths given on the command line; default process.cwd() */
  cwd?: string;
}

export interface ResolvedConfig {
  config: Config;
  environment: string;
  env: EnvironmentConfig;
  /** `${app.name}-${environment}`: compose project and container name prefix on the host */
  stack: string;
  /** env.path ?? `togather/${environment}` (relative paths start in the deploy user's home) */
  hostPath: string;
  /** top-level proxy settings with the environment's overrides applied */
  proxy: ProxyConfig;
  /** the app's final environment, written to app.env on the host */
  appEnv: Record<string, string>;
  configPath: string;
  /** absolute directory of the config file */
  configDir: string;
  /** where the env file came from: its path as the operator named it, or `env-file input` */
  envFileSource: string;
}

/**
 * Load config/deployment.yml and the environment's env file, validate both and build the app environment.
 * Throws one ConfigError listing every problem found. Reads the two files and nothing else; no host is touched.
 *
 * The app environment, strongest first:
 *   1. overrides (CLI --set, action input)
 *   2. process environment, only for keys the env file or app.env already declare, so that unrelated runner
 *      or shell variables never reach the app (and an empty variable does not blank a setting)
 *   3. the env file
 *   4. app.env in deployment.yml
 */
export function loadConfig(opts: LoadOptions): ResolvedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const configFile = opts.configPath;
  const configAbs = resolve(cwd, opts.configPath);
  const configDir = dirname(configAbs);
  const problems: ConfigProblem[] = [];

  const yaml = readYaml(configAbs, configFile, problems);
  let config: Config | undefined;
  let env: EnvironmentConfig | undefined;
  if (yaml) {
    const parsed = ConfigSchema.safeParse(yaml.data);
    if (parsed.success) config = parsed.data;
    else problems.push(...zodProblems(parsed.error.issues, yaml, configFile));
    env = selectEnvironment(opts.environment, config, yaml, configFile, problems);
    if (config) problems.push(...checkLocalPaths(config, opts.environment, env, configDir, yaml, configFile));
  }

  // the env file is read even when the config is broken, so that one run reports both files' problems
  const source = envFileSourceOf(opts, cwd, configDir, yaml, config, env);
  let envFile: EnvFile | undefined;
  if (source.kind === 'content') {
    envFile = parseEnvFile(source.content, ENV_INPUT_SOURCE, { required: [] });
  } else if (source.kind === 'path') {
    envFile = readEnvFile(source.abs, { required: [] }, source.display);
  } else if (env !== undefined || (yaml && !config && isMapping(valueAt(yaml.data, ['environments', opts.environment])))) {
    const at = yaml?.locate(['environments', opts.environment], true);
    problems.push({
      file: configFile,
      path: `environments.${opts.environment}`,
      ...(at !== undefined ? { line: at } : {}),
      message: 'has no env file',
      remedy: `add env_file: environments/.env.${opts.environment} (relative to ${configFile}), or pass one with --env-file or the env-file input`,
      code: 'no-env-file',
    });
  }

  const app = config?.app;
  const rawApp = yaml ? valueAt(yaml.data, ['app']) : undefined;
  const merged = mergeAppEnv(app?.env ?? stringRecord(valueAt(rawApp, ['env'])) ?? {}, envFile, opts, yaml, configFile);
  // register secrets before anything can fail, so even an error path cannot print them; a broken config still
  // lends its key lists when they are well-formed, else the defaults apply
  registerSecrets(opts.redactor, merged.values, app?.public_env ?? stringList(valueAt(rawApp, ['public_env'])) ?? DEFAULT_PUBLIC_ENV);

  if (envFile) {
    // a placeholder in the file is fine when a stronger source supplies the value
    problems.push(...envFile.problems.filter((p) => !(p.code === 'placeholder' && merged.origin[p.path] !== envFile.file)));
  }
  problems.push(...merged.problems);
  // an env file that could not be read already says so; listing each key it lacks would only bury that
  const unreadable = envFile !== undefined && envFile.entries.length === 0 && envFile.problems.some((p) => p.code === 'file');
  if (envFile && !unreadable) {
    problems.push(
      ...checkEnvironment(merged.values, merged.where, envFile.file, {
        // against an undefined environment the comparison would only add noise
        ...(problems.some((p) => p.code === 'unknown-environment') ? {} : { environment: opts.environment }),
        required: app?.required_env ?? stringList(valueAt(rawApp, ['required_env'])) ?? DEFAULT_REQUIRED_ENV,
      }),
    );
  }

  if (problems.length > 0 || !config || !env) throw new ConfigError(sortProblems(problems.length ? problems : [
    { file: configFile, path: '', message: 'could not be loaded', code: 'invalid' },
  ]));

  const environment = opts.environment;
  const proxy: ProxyConfig = { ...config.proxy };
  for (const [k, v] of Object.entries(env.proxy ?? {})) {
    if (v !== undefined) (proxy as Record<string, unknown>)[k] = v;
  }
  return {
    config,
    environment,
    env,
    stack: `${config.app.name}-${environment}`,
    hostPath: env.path ?? `togather/${environment}`,
    proxy,
    appEnv: merged.values,
    configPath: opts.configPath,
    configDir,
    envFileSource: envFile?.file ?? ENV_INPUT_SOURCE,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// YAML

interface YamlSource {
  data: Record<string, unknown>;
  doc: Document;
  /** 1-based line of the node at a path; `key` gives the line of the mapping key instead of its value */
  locate(path: readonly PropertyKey[], key?: boolean): number | undefined;
}

function readYaml(abs: string, file: string, problems: ConfigProblem[]): YamlSource | undefined {
  const fail = (message: string, remedy: string, code: ProblemCode = 'file', line?: number) => {
    problems.push({ file, path: '', ...(line !== undefined ? { line } : {}), message, remedy, code });
    return undefined;
  };
  let bytes: Buffer;
  try {
    const st = statSync(abs);
    if (!st.isFile()) return fail('is not a regular file', 'point --config (or the config input) to deployment.yml');
    if (st.size > MAX_CONFIG_BYTES) {
      return fail(`is ${Math.ceil(st.size / 1024)} KiB; a config file may hold at most ${MAX_CONFIG_BYTES / 1024} KiB`,
        'point --config (or the config input) to deployment.yml');
    }
    bytes = readFileSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? fail('does not exist', 'create it (see config/deployment.yml of togather-deploy) or point --config / the config input to it')
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
      fail(`${message.replace(/\.$/, '')} (this key appears twice in its mapping)`, 'keep one of the two', 'duplicate-key', line);
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
      return fail(`expands YAML aliases more than ${MAX_ALIAS_COUNT} times (an alias bomb?)`,
        'write the values out, or share fewer anchors', 'alias-bomb');
    }
    return fail(`cannot be read as YAML: ${(err as Error).message}`, 'fix the YAML syntax', 'yaml');
  }
  if (data === null || data === undefined) {
    return fail('is empty', 'describe the app and its environments (app:, environments:)', 'not-mapping');
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    return fail('must be a mapping of settings (app:, environments:, …), not a list or a single value',
      'start the file with top-level keys such as app: and environments:', 'not-mapping', 1);
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

// ---------------------------------------------------------------------------------------------------------------
// Schema issues → problems

/** keys of the reference's deployment.yml that moved or went away: point migrators to the new place */
const MOVED: Record<string, string> = {
  'app.health_endpoint': 'use app.health.path',
  'deployment.strategy': 'remove it: the strategy is always blue-green',
  'deployment.health_check': 'use app.health (interval, timeout, start_timeout, consecutive)',
  'deployment.rollback': 'remove it: a deploy that fails after starting the new colour always rolls back; to switch back on failures after the switch, use deployment.watch',
  providers: 'remove it: the Docker Compose stack is built in (docker/compose.yml)',
  'monitoring.prometheus': 'use monitoring.enabled; the stack is docker/monitoring',
  'notifications.webhook.secret': 'never write the signing key here: name its env-file variable in notifications.webhook.secret_env',
};

function zodProblems(issues: readonly z.core.$ZodIssue[], yaml: YamlSource, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  const add = (path: PropertyKey[], message: string, remedy: string | undefined, code: ProblemCode, key = false) => {
    const dotted = dottedPath(path);
    if (seen.has(dotted)) return; // one problem per key: the first check is the most precise
    seen.add(dotted);
    const line = yaml.locate(path, key);
    out.push({ file, path: dotted, ...(line !== undefined ? { line } : {}), message, ...(remedy ? { remedy } : {}), code });
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
          add(full, 'is not a known setting',
            MOVED[dottedPath(full)] ??
              (close ? `did you mean ${close}?` : known ? `remove it; known keys here: ${known.join(', ')}` : 'remove it'),
            'unknown-key', true);
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
        else add(path, `must be a ${noun(issue.expected)}, not ${describeType(value)}`, typeRemedy(issue.expected, value), 'invalid');
        break;
      case 'too_small':
      case 'too_big': {
        const small = issue.code === 'too_small';
        const limit = small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum;
        if (issue.origin === 'number') {
          add(path, `${show(value)} is too ${small ? 'small' : 'large'}`, `use a number ${small ? '≥' : '≤'} ${String(limit)}`, 'invalid');
        } else {
          add(path, small ? 'is too short' : 'is too long', issue.message, 'invalid');
        }
        break;
      }
      case 'invalid_value':
        add(path, `${show(value)} is not allowed`, `use one of: ${issue.values.map((v) => String(v)).join(', ')}`, 'invalid');
        break;
      case 'invalid_format':
        add(path, `${show(value)} is not valid`, issue.format === 'url'
          ? 'write a full http(s) URL, e.g. https://staging.togather.example'
          : hostTip(path, value) ?? issue.message, 'invalid');
        break;
      default:
        add(path, value === undefined ? 'is not valid' : `${show(value)} is not valid`, issue.message, 'invalid');
    }
  }
  return out;
}

/** files the deploy will read from beside the config: found missing now rather than halfway through a deploy */
function checkLocalPaths(
  config: Config,
  name: string,
  env: EnvironmentConfig | undefined,
  configDir: string,
  yaml: YamlSource,
  file: string,
): ConfigProblem[] {
  const wanted: { path: PropertyKey[]; value: string | undefined; dir: boolean }[] = [
    { path: ['proxy', 'caddyfile'], value: config.proxy.caddyfile, dir: false },
    { path: ['environments', name, 'proxy', 'caddyfile'], value: env?.proxy?.caddyfile, dir: false },
    { path: ['database', 'init_dir'], value: config.database.init_dir, dir: true },
    { path: ['images', 'postgres_dockerfile'], value: ['builtin', 'none'].includes(config.images.postgres_dockerfile) ? undefined : config.images.postgres_dockerfile, dir: false },
  ];
  const out: ConfigProblem[] = [];
  for (const w of wanted) {
    if (w.value === undefined) continue;
    let ok = false;
    try {
      const st = statSync(resolve(configDir, w.value));
      ok = w.dir ? st.isDirectory() : st.isFile();
    } catch {
      // missing: reported below
    }
    if (ok) continue;
    const line = yaml.locate(w.path);
    out.push({
      file,
      path: dottedPath(w.path),
      ...(line !== undefined ? { line } : {}),
      message: `${show(w.value)} is not a ${w.dir ? 'directory' : 'file'} (paths are relative to the config file's directory)`,
      remedy: 'create it, fix the path, or remove the key to use the default',
      code: 'invalid',
    });
  }
  return out;
}

function selectEnvironment(
  name: string,
  config: Config | undefined,
  yaml: YamlSource,
  file: string,
  problems: ConfigProblem[],
): EnvironmentConfig | undefined {
  const raw = yaml.data.environments;
  const defined =
    config ? Object.keys(config.environments) : raw && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw) : [];
  if (defined.includes(name)) return config?.environments[name];
  if (!raw || typeof raw !== 'object') return undefined; // "environments is required" already says it
  const line = yaml.locate(['environments'], true);
  problems.push({
    file,
    path: 'environments',
    ...(line !== undefined ? { line } : {}),
    message: `has no environment "${name}"`,
    remedy: defined.length ? `deploy one of: ${defined.join(', ')}; or add environments.${name}` : `add environments.${name}`,
    code: 'unknown-environment',
  });
  return undefined;
}

/** the schema (input side, wrappers removed) that validates the value at a path */
function schemaAt(path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType = ConfigSchema;
  for (const seg of [...path, undefined]) {
    for (;;) {
      if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodPrefault || s instanceof z.ZodNullable) {
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
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
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
  return REQUIRED_TIPS[dotted] ?? REQUIRED_TIPS[String(path[path.length - 1])] ?? `add ${String(path[path.length - 1])}:`;
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

function show(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

function dottedPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

function isMapping(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  return Object.values(v).every((x) => typeof x === 'string') ? (v as Record<string, string>) : undefined;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Env file source and app environment

type EnvSource =
  | { kind: 'content'; content: string }
  | { kind: 'path'; abs: string; display: string }
  | { kind: 'none' };

function envFileSourceOf(
  opts: LoadOptions,
  cwd: string,
  configDir: string,
  yaml: YamlSource | undefined,
  config: Config | undefined,
  env: EnvironmentConfig | undefined,
): EnvSource {
  if (opts.envFileContent !== undefined && opts.envFileContent !== '') return { kind: 'content', content: opts.envFileContent };
  if (opts.envFilePath) return { kind: 'path', abs: resolve(cwd, opts.envFilePath), display: opts.envFilePath };
  // from the config; a broken config still names its env file when that key itself is fine
  let configured = env?.env_file;
  if (configured === undefined && !config && yaml) {
    const raw = valueAt(yaml.data, ['environments', opts.environment, 'env_file']);
    if (typeof raw === 'string' && raw !== '' && !/[\0\r\n]/.test(raw)) configured = raw;
  }
  if (configured === undefined) return { kind: 'none' };
  const abs = resolve(configDir, configured);
  const rel = relative(cwd, abs);
  return { kind: 'path', abs, display: rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs };
}

interface Merged {
  values: Record<string, string>;
  origin: Record<string, string>;
  where(key: string): ValueOrigin;
  problems: ConfigProblem[];
}

function mergeAppEnv(
  base: Record<string, string>,
  envFile: EnvFile | undefined,
  opts: LoadOptions,
  yaml: YamlSource | undefined,
  configFile: string,
): Merged {
  const values: Record<string, string> = {};
  const origin: Record<string, string> = {};
  const problems: ConfigProblem[] = [];
  const set = (k: string, v: string, from: string) => {
    values[k] = v;
    origin[k] = from;
  };
  for (const [k, v] of Object.entries(base)) set(k, v, configFile);
  for (const [k, v] of Object.entries(envFile?.values ?? {})) set(k, v, envFile!.file);
  for (const k of Object.keys(values)) {
    const pv = opts.processEnv?.[k];
    if (pv !== undefined && pv !== '') set(k, pv, PROCESS_ENV_SOURCE);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      problems.push({
        file: OVERRIDE_SOURCE, path: k, message: 'is not a valid variable name',
        remedy: 'use letters, digits and "_", not starting with a digit', code: 'syntax',
      });
      continue;
    }
    set(k, v, OVERRIDE_SOURCE);
  }
  const where = (k: string): ValueOrigin => {
    const from = origin[k];
    if (from === undefined) return { file: envFile?.file ?? configFile };
    if (envFile && from === envFile.file) return { file: from, line: envFile.lines[k] };
    if (from === configFile) return { file: from, line: yaml?.locate(['app', 'env', k]) };
    return { file: from };
  };
  // values from the env file were checked when it was parsed; check the rest where they came from
  for (const [k, v] of Object.entries(values)) {
    if (envFile && origin[k] === envFile.file) continue;
    const w = where(k);
    problems.push(...checkValue(k, v, w).map((p) => (w.file === configFile ? { ...p, path: `app.env.${k}` } : p)));
  }
  return { values, origin, where, problems };
}

/**
 * Values that cannot be secrets but would wreck every log line, state file and JSON document if masked
 * ("false" inside serialized JSON): flags and small numbers such as ports, counts and timeouts.
 */
const TRIVIAL_VALUE_RE = /^(?:true|false|yes|no|on|off|null|none|\d{1,6})$/i;

/** every value of the app environment is a secret unless its key is public; the database password always is */
function registerSecrets(redactor: Redactor, values: Record<string, string>, publicKeys: readonly string[]): void {
  const pub = new Set(publicKeys);
  // a CHANGE_ME placeholder is refused, never used, and masking it would blank the word in the very message
  // that reports it ("still holds the *** placeholder")
  for (const [k, v] of Object.entries(values)) if (!pub.has(k) && !TRIVIAL_VALUE_RE.test(v.trim()) && !PLACEHOLDER_RE.test(v)) redactor.add(v);
  const url = values.DATABASE_URL;
  if (url) {
    try {
      const password = new URL(url).password;
      if (password) {
        redactor.add(password);
        redactor.add(safeDecode(password));
      }
    } catch {
      // not a URL: the redactor's own URL pattern still masks credentials shaped like one
    }
  }
}

export { DEFAULT_PUBLIC_ENV, DEFAULT_REQUIRED_ENV };
