// Size and density figures of src/: lines, characters per line, lines over 120/160, and the longest functions
// (by lines, from the TypeScript syntax tree). Rerun to compare before/after a change: node scripts/code-stats.mjs [dir]
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = process.argv[2] ?? 'src';
const walk = (dir) =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });

const files = walk(root).sort();
let lines = 0;
let chars = 0;
let code = 0;
let over120 = 0;
let over160 = 0;
let max = 0;
const functions = [];
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  for (const l of text.split('\n')) {
    lines++;
    const t = l.trim();
    if (!t || t.startsWith('//') || t.startsWith('*') || t.startsWith('/*')) continue;
    code++;
    chars += l.length;
    if (l.length > 120) over120++;
    if (l.length > 160) over160++;
    max = Math.max(max, l.length);
  }
  const sf = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node)
    ) {
      const name =
        node.name?.getText(sf) ?? (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(sf) : undefined);
      if (name && node.body) {
        const a = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const b = sf.getLineAndCharacterOfPosition(node.end).line;
        functions.push({ name, file: relative('.', f), lines: b - a + 1 });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
functions.sort((a, b) => b.lines - a.lines);
const pick = (name) => functions.filter((f) => f.name === name).map((f) => `${f.name} ${f.lines} (${f.file})`);
console.log(
  `${root}: ${files.length} files, ${lines} lines (${code} of code), ${(chars / code).toFixed(1)} characters per code line`,
);
console.log(`lines over 120: ${over120}, over 160: ${over160}, longest: ${max}`);
console.log(
  `functions: ${functions.length}; over 50 lines: ${functions.filter((f) => f.lines > 50).length}; over 100: ${functions.filter((f) => f.lines > 100).length}`,
);
console.log('longest functions:');
for (const f of functions.slice(0, 8)) console.log(`  ${String(f.lines).padStart(4)}  ${f.name}  ${f.file}`);
for (const n of ['deploy', 'rollback', 'snapshotCommand', 'run', 'main'])
  for (const s of pick(n)) console.log(`  ${s}`);
