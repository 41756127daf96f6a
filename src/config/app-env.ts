// The app environment: which env file to read, the merge of app.env, the env file, the process environment and the
// overrides (strongest last), where each value came from, and registering the secret values with the redactor.
import { isAbsolute, relative, resolve } from 'node:path';
import { safeDecode, type Redactor } from '../log/redact.js';
import { PLACEHOLDER_RE, checkValue } from './envfile.js';
import type { EnvFile, ValueOrigin } from './envfile.js';
import type { ConfigProblem } from './problems.js';
import type { Config, EnvironmentConfig } from './schema.js';
import { valueAt, type YamlSource } from './yaml-source.js';

/** where the values of the app environment came from when they came from neither file */
const PROCESS_ENV_SOURCE = 'process environment';
const OVERRIDE_SOURCE = 'override (--set)';

/** the load options the app environment depends on (a LoadOptions fits) */
export interface AppEnvOptions {
  environment: string;
  envFileContent?: string;
  envFilePath?: string;
  processEnv?: Record<string, string | undefined>;
  overrides?: Record<string, string>;
}

type EnvSource =
  { kind: 'content'; content: string } | { kind: 'path'; abs: string; display: string } | { kind: 'none' };

export function envFileSourceOf(
  opts: Pick<AppEnvOptions, 'environment' | 'envFileContent' | 'envFilePath'>,
  cwd: string,
  configDir: string,
  yaml: YamlSource | undefined,
  config: Config | undefined,
  env: EnvironmentConfig | undefined,
): EnvSource {
  if (opts.envFileContent !== undefined && opts.envFileContent !== '')
    return { kind: 'content', content: opts.envFileContent };
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

export function mergeAppEnv(
  base: Record<string, string>,
  envFile: EnvFile | undefined,
  opts: Pick<AppEnvOptions, 'processEnv' | 'overrides'>,
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
        file: OVERRIDE_SOURCE,
        path: k,
        message: 'is not a valid variable name',
        remedy: 'use letters, digits and "_", not starting with a digit',
        code: 'syntax',
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
export function registerSecrets(
  redactor: Redactor,
  values: Record<string, string>,
  publicKeys: readonly string[],
): void {
  const pub = new Set(publicKeys);
  // a CHANGE_ME placeholder is refused, never used, and masking it would blank the word in the very message
  // that reports it ("still holds the *** placeholder")
  for (const [k, v] of Object.entries(values))
    if (!pub.has(k) && !TRIVIAL_VALUE_RE.test(v.trim()) && !PLACEHOLDER_RE.test(v)) redactor.add(v);
  const url = values.DATABASE_URL;
  if (url) {
    try {
      const password = new URL(url).password;
      if (password && !PLACEHOLDER_RE.test(safeDecode(password))) {
        redactor.add(password);
        redactor.add(safeDecode(password));
      }
    } catch {
      // not a URL: the redactor's own URL pattern still masks credentials shaped like one
    }
  }
}
