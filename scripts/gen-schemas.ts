/**
 * Generates config/deployment.schema.json from the zod schema (the input side: what an operator writes,
 * durations as text, defaults shown), for editors (yaml-language-server) and reviewers.
 *
 *   npx tsx scripts/gen-schemas.ts          write the file
 *   npx tsx scripts/gen-schemas.ts --check  exit 1 when the committed file differs from the schema
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigSchema } from '../src/config/schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const targets: { file: string; render: () => string }[] = [
  { file: join(root, 'config', 'deployment.schema.json'), render: renderDeploymentSchema },
];

export function renderDeploymentSchema(): string {
  const schema = z.toJSONSchema(ConfigSchema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  const { $schema, ...rest } = schema;
  const out = {
    $schema,
    $id: 'https://github.com/togather/togather-deploy/config/deployment.schema.json',
    title: 'togather-deploy deployment.yml',
    description: 'Generated from src/config/schema.ts by scripts/gen-schemas.ts; do not edit by hand.',
    ...rest,
    // "x-" keys hold shared YAML anchors; the loader drops them before validation
    patternProperties: { '^x-': {} },
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** names of the target files whose content differs from what the schema renders */
export function staleFiles(): string[] {
  const stale: string[] = [];
  for (const t of targets) {
    let current = '';
    try {
      current = readFileSync(t.file, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== t.render()) stale.push(relative(root, t.file));
  }
  return stale;
}

function main(argv: string[]): number {
  if (argv.includes('--check')) {
    const stale = staleFiles();
    if (stale.length === 0) return 0;
    for (const f of stale)
      process.stderr.write(`${f} is stale: run npx tsx scripts/gen-schemas.ts and commit the result\n`);
    return 1;
  }
  for (const t of targets) {
    writeFileSync(t.file, t.render());
    process.stdout.write(`wrote ${relative(root, t.file)}\n`);
  }
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  process.exitCode = main(process.argv.slice(2));
