import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Files shipped with the tool (docker/compose.yml, docker/db-init): found by walking up from this module, which
 * works from src/ under tsx, from dist/ in the action, and from dist/cli/ in the CLI package.
 */
export function assetDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'docker', 'compose.yml'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find docker/compose.yml beside the togather-deploy installation');
}

export function readAsset(...parts: string[]): string {
  return readFileSync(join(assetDir(), ...parts), 'utf8');
}

/** every regular file of a directory, by name (not recursive) */
export function readDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    if (/^[A-Za-z0-9_.-]+$/.test(name) && !name.startsWith('.')) out[name] = readFileSync(join(dir, name), 'utf8');
  }
  return out;
}
