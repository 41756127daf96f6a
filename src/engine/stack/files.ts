import { createHash } from 'node:crypto';
import { DeployError } from '../../errors.js';
import type { EngineContext } from '../context.js';
import { writeHostFilesCmd } from './commands.js';
import type { Layout } from './layout.js';

// Remote file operations are fixed scripts in commands.ts; paths and modes arrive as positional parameters and
// content always travels on stdin, so no secret is ever part of a command line (visible in `ps` on the host).
// The single-file builders are re-exported here for their importers outside stack/ (observe/metrics.ts).
export { appendFileCmd, mkdirsCmd, readFileCmd, writeFileCmd } from './commands.js';

export interface HostFile {
  name: string; // relative to the environment's root
  mode: '600' | '644';
  content: string;
}

/**
 * Compose reads env files with its own parser: v1 (python-dotenv) turns \\ into \ and \' into ' even inside
 * single quotes and substitutes ${NAME} and ${NAME:-x} in every value; v2 takes single quotes literally and
 * substitutes $ in double quotes. Each value gets the one spelling both read back unchanged, and a value no
 * spelling can carry is refused (envfile.ts checkValue says so before anything is touched).
 */
export function renderEnvFile(env: Record<string, string>): string {
  const lines = Object.entries(env).map(([k, v]) => {
    const refusal = composeRefusal(v);
    if (refusal) throw new DeployError('config', `the value of ${k} ${refusal}`, `change the value of ${k}`);
    if (/^[A-Za-z0-9_./:@%+,=-]*$/.test(v)) return `${k}=${v}`;
    // no $: double quotes, where both versions decode exactly \\ and \"
    if (!v.includes('$')) return `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    // $ without ' and without backslash pairs: single quotes, literal for both
    return `${k}='${v}'`;
  });
  return lines.join('\n') + '\n';
}

/** why compose cannot carry a value unchanged, or undefined when it can */
export function composeRefusal(v: string): string | undefined {
  if (/[\n\r\0]/.test(v)) return 'contains a line break or NUL, which an env file cannot carry';
  // v1 takes the escaped final backslash and the closing quote for an escaped quote, and reads on into the next line
  if (v.endsWith('\\'))
    return 'ends with a backslash, which docker-compose v1 misreads (it swallows the next variable)';
  if (/\$\{[^}:]*(?::-[^}]*)?\}/.test(v)) return 'contains ${…}, which docker-compose v1 replaces with a variable';
  if (!v.includes('$')) return undefined;
  if (v.includes("'")) return "contains both ' and $, which docker-compose v1 and v2 read back differently";
  if (v.includes('\\\\'))
    return 'contains $ and a double backslash, which docker-compose v1 and v2 read back differently';
  return undefined;
}

export function filesDigest(files: HostFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.name}\0${f.mode}\0${f.content}\0`);
  return h.digest('hex');
}

export async function writeHostFiles(ctx: EngineContext, layout: Layout, files: HostFile[]): Promise<string[]> {
  for (const f of files)
    if (!/^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/.test(f.name) || f.name.includes('..'))
      throw new Error(`bad host file name ${f.name}`);
  const stdin =
    files.map((f) => `${f.name} ${f.mode} ${Buffer.from(f.content, 'utf8').toString('base64')}`).join('\n') + '\n';
  const r = await ctx.host.run(writeHostFilesCmd(layout), { stdin, check: false, timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new DeployError(
      'preflight',
      `could not write the environment's files under ${layout.root}: ${ctx.redactor.redact(r.stderr.trim())}`,
      'check that the deploy user may write there (environments.<env>.path)',
    );
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('changed '))
    .map((l) => l.slice(8));
}
