// Rebuilds dist/: the action bundle (dist/index.js, main and post) and the CLI (dist/cli/index.js).
// ncc emits ESM plus a package.json marking it as a module; both are committed.
// The bundle's module ids come from the modules' paths: with node_modules a symlink to another checkout's, the
// output differs from CI's (npm ci). Copy or hard-link node_modules into a scratch checkout instead.
import { execFileSync } from 'node:child_process';
import { rmSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// the paths below are relative to the repository's root, wherever the script is started from
process.chdir(fileURLToPath(new URL('..', import.meta.url)));

const ncc = [
  'node_modules/@vercel/ncc/dist/ncc/cli.js',
  'build',
  '--quiet',
  '--no-source-map-register',
  '--license',
  'licenses.txt',
];
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [...ncc, 'src/action/index.ts', '-o', 'dist'], { stdio: 'inherit' });
execFileSync(process.execPath, [...ncc, 'src/cli/index.ts', '-o', 'dist/cli'], { stdio: 'inherit' });
const cli = 'dist/cli/index.js';
const text = readFileSync(cli, 'utf8');
// "--" ends node's own options: without it node treats our --env-file as its own and exits 9 when the file is missing
if (!text.startsWith('#!')) writeFileSync(cli, '#!/usr/bin/env -S node --\n' + text);
chmodSync(cli, 0o755);
