/**
 * The CLI under test as a child process (node + tsx on the sources), for the e2e suite and the demo. Kept apart
 * from test/e2e/support.ts, which registers node:test hooks: the demo must not start a test runner.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'src/cli/index.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCommand([process.execPath, '--import', 'tsx', CLI, ...args], env);
}

/** a command with a minimal environment (PATH, HOME and `env`), its output collected; cwd: the repository */
export function runCommand(argv: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CliResult> {
  const started = Date.now();
  return new Promise((res) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => res({ code: code ?? 1, stdout, stderr, ms: Date.now() - started }));
  });
}
