import { readFileSync, statSync } from 'node:fs';
import { DEFAULT_REQUIRED_ENV } from './schema.js';
import type { ConfigProblem, ProblemCode } from './problems.js';

/**
 * Env files: one KEY=VALUE per line, the format the operators already keep per environment.
 *
 *   # comment                       blank lines and comments are skipped
 *   export KEY=value                 the `export ` prefix is accepted (files that are also sourced by a shell)
 *   KEY=value with spaces # note     unquoted: trimmed; " #" starts a trailing comment, "a#b" does not
 *   KEY='literal $ # \n'             single quotes: taken as written
 *   KEY="tab\tquote\" # kept"        double quotes: \" \\ \$ \` \t, and \n \r (which are then refused, see below)
 *
 * Values end up in the app.env file on the host, one per line, so a value may not carry a line break or a NUL.
 * Problems never quote a value or an unparsable line: either may be a secret.
 */

export const MAX_ENV_FILE_BYTES = 256 * 1024;
const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** the placeholder the templates ship with; matched in values only, never in comments */
export const PLACEHOLDER_RE = /CHANGE_ME/i;

export interface EnvEntry {
  key: string;
  value: string;
  /** 1-based line of the assignment */
  line: number;
}

export interface EnvFile {
  /** the name problems are reported under (a path, or `env-file input`) */
  file: string;
  /** assignments in file order; for a duplicated key, the last one wins in `values` */
  entries: EnvEntry[];
  values: Record<string, string>;
  /** line of each key's (last) assignment */
  lines: Record<string, number>;
  problems: ConfigProblem[];
}

export interface EnvFileOptions {
  /** the environment being deployed; ENVIRONMENT must equal it when given */
  environment?: string;
  /** keys that must be present; default ENVIRONMENT, DATABASE_URL, JWT_SECRET. [] checks none */
  required?: readonly string[];
}

/** How to produce a value for the keys the templates carry; used in remedies for placeholders and gaps. */
const HINTS: Record<string, string> = {
  // no user:password@ in the hint: every log line masks a URL's credentials, an example's too
  DATABASE_URL:
    'a postgres:// URL to the database (host db, port 5432, ?sslmode=disable) whose password is POSTGRES_PASSWORD',
  JWT_SECRET: 'generate one with `openssl rand -hex 32`',
  ADMIN_PASSWORD: 'generate one with `openssl rand -base64 24`',
  CSRF_KEY: 'generate one with `openssl rand -hex 32` (32 random bytes)',
  POSTGRES_PASSWORD: 'generate one with `openssl rand -hex 24` (hex needs no escaping inside DATABASE_URL)',
  RESEND_API_KEY: 'create an API key in the Resend dashboard, or leave it empty when email is off',
  SMTP_PASSWORD: "use the SMTP provider's app password, or leave it empty when email is off",
  SENTRY_DSN: "copy the DSN from the Sentry project's settings, or leave it empty",
  OTLP_HEADERS: 'write the collector headers as key=value pairs, or leave it empty',
  ALERT_WEBHOOK_AUTH: 'use the token the alert webhook expects, or leave it empty',
  GRAFANA_PASSWORD: 'generate one with `openssl rand -base64 24`',
  ENVIRONMENT: 'the name of the environment: development, staging or production',
};

export function valueHint(key: string): string | undefined {
  return HINTS[key];
}

/** Parse env-file content. Bytes are decoded as UTF-8 and every line with an invalid sequence is reported. */
export function parseEnvFile(content: string | Uint8Array, file: string, opts: EnvFileOptions = {}): EnvFile {
  const out: EnvFile = { file, entries: [], values: {}, lines: {}, problems: [] };
  const problem = (code: ProblemCode, line: number | undefined, path: string, message: string, remedy?: string) =>
    out.problems.push({
      file,
      path,
      ...(line !== undefined ? { line } : {}),
      message,
      ...(remedy ? { remedy } : {}),
      code,
    });

  const size = typeof content === 'string' ? Buffer.byteLength(content, 'utf8') : content.byteLength;
  if (size > MAX_ENV_FILE_BYTES) {
    out.problems.push(oversize(file, size));
    return out;
  }

  const text =
    typeof content === 'string'
      ? content
      : decodeUtf8Lines(content, (line) =>
          problem('file', line, '', 'is not valid UTF-8', 're-save the file as UTF-8'),
        );
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let raw = lines[i] ?? '';
    if (i === 0) raw = raw.replace(/^\uFEFF/, '');
    if (raw.endsWith('\r')) raw = raw.slice(0, -1); // CRLF files
    const parsed = parseLine(raw);
    if (parsed === undefined) continue;
    if ('error' in parsed) {
      problem('syntax', lineNo, '', parsed.error, parsed.remedy);
      continue;
    }
    const { key, value } = parsed;
    if (!KEY_RE.test(key)) {
      problem(
        'syntax',
        lineNo,
        '',
        'the name before "=" is not a valid variable name',
        'use letters, digits and "_", not starting with a digit (e.g. LOG_LEVEL)',
      );
      continue;
    }
    const earlier = out.lines[key];
    if (earlier !== undefined) {
      problem('duplicate-key', lineNo, key, `is already set on line ${earlier}`, 'keep one of the two assignments');
    }
    out.entries.push({ key, value, line: lineNo });
    out.values[key] = value;
    out.lines[key] = lineNo;
    out.problems.push(...checkValue(key, value, { file, line: lineNo }));
  }

  out.problems.push(...checkEnvironment(out.values, (k) => ({ file, line: out.lines[k] }), file, opts));
  return out;
}

/**
 * Read and parse an env file from disk. A file other users can read is refused (it holds secrets), but still
 * parsed, so that one run reports every problem.
 */
export function readEnvFile(path: string, opts: EnvFileOptions = {}, file: string = path): EnvFile {
  const empty: EnvFile = { file, entries: [], values: {}, lines: {}, problems: [] };
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    empty.problems.push(
      code === 'ENOENT'
        ? { file, path: '', message: 'does not exist', remedy: missingFileRemedy(path, file), code: 'file' }
        : {
            file,
            path: '',
            message: `cannot be read (${code ?? String(err)})`,
            remedy: 'check the path and its permissions',
            code: 'file',
          },
    );
    return empty;
  }
  if (!st.isFile()) {
    empty.problems.push({
      file,
      path: '',
      message: 'is not a regular file',
      remedy: 'point to the env file itself',
      code: 'file',
    });
    return empty;
  }
  const modeProblems: ConfigProblem[] = [];
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    modeProblems.push({
      file,
      path: '',
      message: `is readable or writable by other users (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}) and holds secrets`,
      remedy: `chmod 600 ${shellWord(file)}`,
      code: 'file-mode',
    });
  }
  if (st.size > MAX_ENV_FILE_BYTES) {
    // refused unread: it cannot be an env file
    empty.problems.push(...modeProblems, oversize(file, st.size));
    return empty;
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    empty.problems.push(...modeProblems, {
      file,
      path: '',
      message: `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      remedy: 'check its permissions',
      code: 'file',
    });
    return empty;
  }
  const parsed = parseEnvFile(bytes, file, opts);
  parsed.problems.unshift(...modeProblems);
  return parsed;
}

function oversize(file: string, size: number): ConfigProblem {
  return {
    file,
    path: '',
    message: `is ${Math.ceil(size / 1024)} KiB; an env file may hold at most ${MAX_ENV_FILE_BYTES / 1024} KiB`,
    remedy: "keep only the app's settings in it (is this the right file?)",
    code: 'file',
  };
}

/** where a value came from, for problems found after merging sources */
export interface ValueOrigin {
  file: string;
  line?: number | undefined;
}

/** Problems with one value wherever it came from: placeholders and characters that cannot reach the app. */
export function checkValue(key: string, value: string, origin: ValueOrigin): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = { file: origin.file, path: key, ...(origin.line !== undefined ? { line: origin.line } : {}) };
  if (PLACEHOLDER_RE.test(value)) {
    problems.push({
      ...at,
      message: 'still holds the CHANGE_ME placeholder',
      remedy: valueHint(key) ?? 'replace it with the real value',
      code: 'placeholder',
    });
  }
  if (value.includes('\0')) {
    problems.push({
      ...at,
      message: 'contains a NUL character, which cannot be passed to the app',
      remedy: 'remove it',
      code: 'bad-character',
    });
  }
  if (value.includes("'") && value.includes('$')) {
    // see renderEnvFile: compose v1 and v2 read such a value back differently, so no spelling of it is safe
    problems.push({
      ...at,
      message: "contains both ' and $, which docker-compose cannot pass to the app unchanged",
      remedy: 'change the value so that it holds at most one of the two characters',
      code: 'bad-character',
    });
  }
  if (/\$\{[^}:]*(?::-[^}]*)?\}/.test(value)) {
    // docker-compose v1 (python-dotenv) substitutes these in env files, quoted or not
    problems.push({
      ...at,
      message: 'contains ${…}, which docker-compose v1 replaces with the value of a variable',
      remedy: 'change the value so that it holds no ${NAME} or ${NAME:-…}',
      code: 'bad-character',
    });
  }
  if (value.endsWith('\\')) {
    // compose v1 reads the final backslash as escaping the closing quote, and the next variable is lost
    problems.push({
      ...at,
      message: 'ends with a backslash, which docker-compose cannot pass to the app unchanged',
      remedy: 'change the value so that it does not end with \\',
      code: 'bad-character',
    });
  } else if (value.includes('$') && value.includes('\\\\')) {
    // with $ the value must be single-quoted, where compose v1 turns \\ into \
    problems.push({
      ...at,
      message: 'contains $ together with a double backslash, which docker-compose cannot pass to the app unchanged',
      remedy: 'change the value so that it holds either no $ or no \\\\',
      code: 'bad-character',
    });
  }
  if (/[\r\n]/.test(value)) {
    problems.push({
      ...at,
      message: "contains a line break, which would split it in the app's env file on the host",
      remedy: 'put the value on one line (encode multi-line values, e.g. base64)',
      code: 'bad-character',
    });
  }
  return problems;
}

/** Required keys and the ENVIRONMENT guard, on a complete set of values. */
export function checkEnvironment(
  values: Record<string, string>,
  originOf: (key: string) => ValueOrigin,
  file: string,
  opts: EnvFileOptions,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const key of opts.required ?? DEFAULT_REQUIRED_ENV) {
    const v = values[key];
    if (v === undefined || v.trim() === '') {
      const hint = valueHint(key);
      problems.push({
        file,
        path: key,
        message: v === undefined ? 'is required but not set' : 'is required but empty',
        remedy: `add ${key}=…${hint ? ` (${hint})` : ''}`,
        code: 'required',
      });
    }
  }
  const env = values.ENVIRONMENT;
  if (opts.environment !== undefined && env !== undefined && env.trim() !== '' && env !== opts.environment) {
    const o = originOf('ENVIRONMENT');
    problems.push({
      file: o.file,
      path: 'ENVIRONMENT',
      ...(o.line !== undefined ? { line: o.line } : {}),
      message: `is "${env}" but this deploy targets "${opts.environment}"`,
      remedy: `use the env file of ${opts.environment}, or set ENVIRONMENT=${opts.environment} in it`,
      code: 'environment-mismatch',
    });
  }
  return problems;
}

type LineResult = { key: string; value: string } | { error: string; remedy?: string } | undefined;

function parseLine(raw: string): LineResult {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) return undefined;
  const body = /^export\s+/.test(line) ? line.replace(/^export\s+/, '') : line;
  const eq = body.indexOf('=');
  if (eq < 0) {
    return {
      error: 'is not a KEY=VALUE assignment',
      remedy: 'write KEY=VALUE, or start the line with # to make it a comment',
    };
  }
  const key = body.slice(0, eq).trim();
  const rest = body.slice(eq + 1);
  const value = rest.replace(/^\s+/, '');
  const quote = value[0];
  if (quote === '"' || quote === "'") {
    const q = quote === '"' ? readDoubleQuoted(value) : readSingleQuoted(value);
    if (q === undefined) {
      return {
        error: `has an opening ${quote === '"' ? 'double' : 'single'} quote that is not closed on the same line`,
        remedy: 'close the quote; values cannot span lines',
      };
    }
    const after = value.slice(q.end).trim();
    if (after !== '' && !after.startsWith('#')) {
      return {
        error: 'has text after the closing quote',
        remedy: 'quote the whole value, or start a trailing comment with " #"',
      };
    }
    return { key, value: q.value };
  }
  // unquoted: a "#" starts a comment only after whitespace, so "pa#ss" stays whole
  const hash = rest.search(/\s#/);
  return { key, value: (hash >= 0 ? rest.slice(0, hash) : rest).trim() };
}

function readSingleQuoted(s: string): { value: string; end: number } | undefined {
  const close = s.indexOf("'", 1);
  return close < 0 ? undefined : { value: s.slice(1, close), end: close + 1 };
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$', '`': '`' };

function readDoubleQuoted(s: string): { value: string; end: number } | undefined {
  let value = '';
  for (let i = 1; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '"') return { value, end: i + 1 };
    if (c === '\\' && i + 1 < s.length) {
      const next = s[i + 1] as string;
      const esc = ESCAPES[next];
      // an unknown escape keeps its backslash, as shells and compose do
      value += esc ?? `\\${next}`;
      i++;
      continue;
    }
    value += c;
  }
  return undefined;
}

/** decode UTF-8, calling `bad` with the 1-based number of each line holding an invalid sequence */
export function decodeUtf8Lines(bytes: Uint8Array, bad: (line: number) => void): string {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    return strict.decode(bytes);
  } catch {
    // slow path, only for broken files: find the lines at fault
  }
  const lenient = new TextDecoder('utf-8');
  let start = 0;
  let line = 1;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        strict.decode(bytes.subarray(start, i));
      } catch {
        bad(line);
      }
      start = i + 1;
      line++;
    }
  }
  return lenient.decode(bytes);
}

function missingFileRemedy(path: string, file: string): string {
  let example = false;
  try {
    example = statSync(`${path}.example`).isFile();
  } catch {
    // no template beside it
  }
  return example
    ? `create it from the template: cp ${shellWord(`${file}.example`)} ${shellWord(file)} && chmod 600 ${shellWord(file)}, then replace each CHANGE_ME`
    : 'create it (mode 600), or pass the env file another way (CLI --env-file, action input env-file)';
}

/** quote a path for a command the operator will paste, only when it needs it */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
