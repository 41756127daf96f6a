// The import graph of src/ (every relative import, type-only ones too): fails on any cycle, and on an engine
// module importing a layer above its own. The engine's layers, top to bottom:
//   index → operations → release | front | swarm → database | observe → stack → root files (context, types, phases, assets)
// Usage: node scripts/check-imports.mjs [--graph]   (exit 1 with the offending paths)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = 'src';
const RANK = { index: 5, operations: 4, release: 3, front: 3, swarm: 3, database: 2, observe: 2, stack: 1, root: 0 };

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// import … from '…', export … from '…', import('…') and a bare import '…'
const IMPORT_RE =
  /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)|(?:^|\n)\s*import\s+'(\.{1,2}\/[^']+)'/g;
const files = walk(ROOT).sort();
const graph = new Map();
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const deps = new Set();
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? m[3];
    deps.add(relative('.', resolve(dirname(f), spec.replace(/\.js$/, '.ts'))));
  }
  graph.set(
    f,
    [...deps].filter((d) => graph.has(d) || files.includes(d)),
  );
}

// Tarjan's strongly connected components: any component of more than one module (or a self-import) is a cycle
const cycles = [];
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
function visit(v) {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
  }
}
for (const f of files) if (!index.has(f)) visit(f);

function layer(f) {
  const rel = relative(join(ROOT, 'engine'), f);
  if (rel.startsWith('..')) return undefined;
  if (rel === 'index.ts') return 'index';
  return rel.includes('/') ? rel.split('/')[0] : 'root';
}
const upward = [];
for (const [f, deps] of graph) {
  const from = layer(f);
  if (from === undefined) continue;
  for (const d of deps) {
    const to = layer(d);
    if (to !== undefined && RANK[to] > RANK[from]) upward.push(`${f} (${from}) imports ${d} (${to})`);
  }
}

if (process.argv.includes('--graph')) for (const [f, deps] of graph) console.log(`${f}: ${deps.join(' ')}`);
const edges = [...graph.values()].reduce((n, d) => n + d.length, 0);
for (const c of cycles) console.error(`import cycle: ${c.join(' ↔ ')}`);
for (const u of upward) console.error(`layer violation: ${u}`);
console.log(
  `imports: ${files.length} modules, ${edges} edges, ${cycles.length} cycle(s), ${upward.length} layer violation(s)`,
);
process.exit(cycles.length || upward.length ? 1 : 0);
