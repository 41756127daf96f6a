/**
 * docker/Dockerfile checked without a Docker daemon or a Go image (neither is reachable here): a small parser
 * of our own plus lint rules of the kind hadolint applies, and the build-argument contract with the action.
 * Every rule is also run on a small bad fixture, so a rule that silently stopped firing would be noticed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUILD_ARGS, OPTIONAL_BUILD_ARGS, buildArgs } from '../../src/engine/release/build-args.js';

const DOCKERFILE = fileURLToPath(new URL('../../docker/Dockerfile', import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Parser

interface Instr {
  keyword: string; // upper case
  args: string; // everything after the keyword, continuation lines joined
  line: number; // 1-based line of the keyword
}

interface Stage {
  index: number;
  from: Instr;
  image: string;
  name?: string;
  body: Instr[]; // instructions after FROM, up to the next FROM
}

interface Dockerfile {
  escape: string;
  global: Instr[]; // instructions before the first FROM (only ARG is legal there)
  stages: Stage[];
}

function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  let escape = '\\';
  // Parser directives are only recognised in leading comment lines, before any blank line or instruction.
  for (const l of lines) {
    const m = /^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$/.exec(l);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new Error(`invalid escape directive ${m[2]}`);
      escape = m[2];
    }
  }

  const instrs: Instr[] = [];
  let pending: { text: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comment and blank lines are dropped, even in the middle of a continued instruction (as Docker does).
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const body = raw.replace(/\s+$/, '');
    const continues = body.endsWith(escape) && !body.endsWith(escape + escape);
    const piece = continues ? body.slice(0, -1) : body;
    pending = pending ? { text: pending.text + piece, line: pending.line } : { text: piece.trimStart(), line: i + 1 };
    if (!continues) {
      instrs.push(toInstr(pending.text, pending.line));
      pending = undefined;
    }
  });
  if (pending) instrs.push(toInstr(pending.text, pending.line)); // a trailing escape at end of file

  const global: Instr[] = [];
  const stages: Stage[] = [];
  for (const ins of instrs) {
    if (ins.keyword === 'FROM') {
      const words = splitWords(ins.args).filter((w) => !w.startsWith('--'));
      const image = words[0];
      if (!image) throw new Error(`line ${ins.line}: FROM without an image`);
      let name: string | undefined;
      if (words.length >= 3 && words[1]!.toUpperCase() === 'AS') name = words[2]!.toLowerCase();
      else if (words.length !== 1) throw new Error(`line ${ins.line}: cannot parse FROM ${ins.args}`);
      stages.push({ index: stages.length, from: ins, image, ...(name ? { name } : {}), body: [] });
    } else if (stages.length === 0) {
      global.push(ins);
    } else {
      stages[stages.length - 1]!.body.push(ins);
    }
  }
  return { escape, global, stages };
}

function toInstr(text: string, line: number): Instr {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text);
  if (!m) throw new Error(`line ${line}: empty instruction`);
  const keyword = m[1]!.toUpperCase();
  const args = m[2]!.trim();
  if ((keyword === 'RUN' || keyword === 'COPY') && /<<-?\s*["']?[A-Za-z_]+["']?\s*$/m.test(args)) {
    throw new Error(`line ${line}: heredocs are not supported by this parser`);
  }
  return { keyword, args, line };
}

/** Whitespace-separated words; quotes group and are removed, a backslash escapes the next character. */
function splitWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${s}`);
  if (has) out.push(cur);
  return out;
}

/** `KEY=value` pairs of ARG, ENV and LABEL (also the legacy `ENV KEY value` form). */
function keyValues(ins: Instr): Array<{ key: string; value?: string }> {
  const words = splitWords(ins.args);
  if (ins.keyword === 'ENV' && words.length >= 2 && !words[0]!.includes('=')) {
    return [{ key: words[0]!, value: words.slice(1).join(' ') }];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    return eq < 0 ? { key: w } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

/** Names referenced as $NAME or ${NAME...}; `\$` and `$$` are not references. */
function varRefs(s: string): string[] {
  const names: string[] = [];
  const re = /(\\|\$)?\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    if (m[1]) continue;
    names.push((m[2] ?? m[3])!);
  }
  return names;
}

/** Substitute ${X} / $X with known values (for FROM lines resolved from global ARG defaults). */
function expand(s: string, vars: Map<string, string | undefined>): string {
  return s.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, a, dflt, b) => {
    const v = vars.get((a ?? b) as string);
    return v !== undefined && v !== '' ? v : ((dflt as string | undefined) ?? '');
  });
}

// Instructions whose arguments Docker itself expands (RUN is expanded by the shell, with ARGs in its env).
const EXPANDED = new Set(['ADD', 'COPY', 'ENV', 'EXPOSE', 'LABEL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);
// Available without declaration in FROM lines only.
const PREDEFINED_GLOBAL = new Set([
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
]);

// ---------------------------------------------------------------------------------------------------------------
// Lint rules

interface Finding {
  rule: string;
  line: number;
  message: string;
}

const RULES = [
  'pinned-base',
  'non-root-user',
  'no-add-local',
  'package-cache',
  'exec-form',
  'arg-declared',
  'arg-unused',
  'copy-from',
  'workdir-absolute',
  'single-cmd',
] as const;
type Rule = (typeof RULES)[number];

function lint(df: Dockerfile): Finding[] {
  const out: Finding[] = [];
  const add = (rule: Rule, ins: Instr, message: string) => out.push({ rule, line: ins.line, message });

  // Global scope: ARGs before the first FROM, usable in FROM lines only (unless re-declared in a stage).
  const globalArgs = new Map<string, string | undefined>();
  const globalUsed = new Set<string>();
  for (const ins of df.global) {
    if (ins.keyword !== 'ARG') {
      add('arg-declared', ins, `${ins.keyword} before the first FROM (only ARG is allowed there)`);
      continue;
    }
    for (const kv of keyValues(ins)) globalArgs.set(kv.key, kv.value);
  }
  const allArgNames = new Set(globalArgs.keys());
  for (const st of df.stages)
    for (const ins of st.body) if (ins.keyword === 'ARG') keyValues(ins).forEach((kv) => allArgNames.add(kv.key));

  const stageNames = new Map<string, number>();
  const stageEnv = new Map<number, Set<string>>();

  for (const st of df.stages) {
    // FROM: references resolve against global ARGs only.
    for (const name of varRefs(st.from.args)) {
      if (globalArgs.has(name)) globalUsed.add(name);
      else if (!PREDEFINED_GLOBAL.has(name))
        add('arg-declared', st.from, `FROM uses $${name}, which is not a global ARG`);
    }
    const image = expand(st.image, globalArgs);
    const parent = stageNames.get(image.toLowerCase());
    if (parent === undefined && !isPinned(image)) {
      add('pinned-base', st.from, `base image "${image}" is not pinned to a tag (no tag, or "latest")`);
    }

    // Stage scope starts empty: ARGs must be re-declared; ENV is inherited from a parent stage only.
    const inScope = new Set<string>(parent !== undefined ? (stageEnv.get(parent) ?? []) : []);
    const declaredHere = new Map<string, Instr>();
    const usedHere = new Set<string>();
    const counts = new Map<string, number>();

    for (const ins of st.body) {
      counts.set(ins.keyword, (counts.get(ins.keyword) ?? 0) + 1);
      if (ins.keyword === 'ARG') {
        for (const kv of keyValues(ins)) {
          for (const r of kv.value !== undefined ? varRefs(kv.value) : []) {
            if (inScope.has(r)) usedHere.add(r);
            else add('arg-declared', ins, `ARG ${kv.key} defaults to $${r}, which is not declared in this stage yet`);
          }
          // A bare re-declaration of a global ARG picks up its default: that counts as using the global.
          if (globalArgs.has(kv.key)) globalUsed.add(kv.key);
          inScope.add(kv.key);
          declaredHere.set(kv.key, ins);
        }
        continue;
      }

      const refs = varRefs(ins.args);
      if (ins.keyword === 'RUN') {
        // Shell variables are fine in RUN; a name that is an ARG somewhere but not in this stage is the classic
        // scope bug (the ARG was declared in another stage or before FROM, and expands to "" here).
        for (const r of refs) {
          if (inScope.has(r)) usedHere.add(r);
          else if (allArgNames.has(r))
            add(
              'arg-declared',
              ins,
              `RUN uses $${r}, but ARG ${r} is not declared in this stage (ARG scope ends at FROM)`,
            );
        }
      } else if (EXPANDED.has(ins.keyword)) {
        for (const r of refs) {
          if (inScope.has(r)) usedHere.add(r);
          else
            add(
              'arg-declared',
              ins,
              `${ins.keyword} uses $${r}, which is neither an ARG nor an ENV declared in this stage`,
            );
        }
      }
      if (ins.keyword === 'ENV') keyValues(ins).forEach((kv) => inScope.add(kv.key));

      if (ins.keyword === 'ADD') {
        const srcs = splitWords(ins.args)
          .filter((w) => !w.startsWith('--'))
          .slice(0, -1);
        if (srcs.some((s) => !/^(https?:\/\/|git@)/.test(s))) add('no-add-local', ins, 'ADD of local files: use COPY');
      }
      if (ins.keyword === 'RUN') lintPackages(ins, add);
      if (ins.keyword === 'CMD' || ins.keyword === 'ENTRYPOINT') {
        if (!isJsonArray(ins.args)) add('exec-form', ins, `${ins.keyword} must use the exec (JSON array) form`);
      }
      if (ins.keyword === 'HEALTHCHECK') {
        const m = /^((?:--[a-z-]+=\S+\s+)*)(CMD|NONE)\b\s*([\s\S]*)$/i.exec(ins.args);
        if (!m) add('exec-form', ins, 'HEALTHCHECK must be [options] CMD [...] or NONE');
        else if (m[2]!.toUpperCase() === 'CMD' && !isJsonArray(m[3]!))
          add('exec-form', ins, 'HEALTHCHECK CMD must use the exec (JSON array) form');
      }
      if (ins.keyword === 'COPY') {
        const from = /--from=(\S+)/.exec(ins.args)?.[1];
        if (from !== undefined) {
          const idx = /^\d+$/.test(from) ? Number(from) : stageNames.get(from.toLowerCase());
          if (idx === undefined ? !isPinned(from) : idx >= st.index) {
            add('copy-from', ins, `COPY --from=${from} refers to neither an earlier stage nor a pinned image`);
          }
        }
      }
      if (ins.keyword === 'WORKDIR' && !/^(\/|\$)/.test(ins.args))
        add('workdir-absolute', ins, 'WORKDIR must be absolute');
    }

    for (const k of ['CMD', 'ENTRYPOINT', 'HEALTHCHECK']) {
      if ((counts.get(k) ?? 0) > 1)
        add('single-cmd', st.from, `stage ${st.index} has ${counts.get(k)} ${k} instructions; only the last counts`);
    }
    for (const [name, ins] of declaredHere) {
      if (!usedHere.has(name))
        add('arg-unused', ins, `ARG ${name} is declared but not used in stage ${st.name ?? st.index}`);
    }

    if (st.index === df.stages.length - 1) {
      const users = st.body.filter((i) => i.keyword === 'USER');
      const last = users[users.length - 1];
      if (!last) add('non-root-user', st.from, 'final stage never sets USER: the container would run as root');
      else {
        const user = last.args.split(':')[0]!.trim();
        if (user === 'root' || user === '0') add('non-root-user', last, `final stage runs as ${user}`);
      }
    }

    if (st.name) stageNames.set(st.name, st.index);
    stageEnv.set(
      st.index,
      new Set(
        [...inScope].filter((n) => st.body.some((i) => i.keyword === 'ENV' && keyValues(i).some((kv) => kv.key === n))),
      ),
    );
  }
  for (const [name] of globalArgs) {
    if (!globalUsed.has(name)) {
      const ins = df.global.find((i) => i.keyword === 'ARG' && keyValues(i).some((kv) => kv.key === name))!;
      add('arg-unused', ins, `global ARG ${name} is used by no FROM and re-declared in no stage`);
    }
  }
  return out;
}

function isPinned(image: string): boolean {
  if (image === 'scratch') return true;
  if (image.includes('@sha256:')) return true;
  const lastPart = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastPart.indexOf(':');
  if (colon < 0) return false;
  const tag = lastPart.slice(colon + 1);
  return tag !== '' && tag !== 'latest' && !tag.includes('$');
}

function isJsonArray(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
  } catch {
    return false;
  }
}

function lintPackages(ins: Instr, add: (rule: Rule, ins: Instr, message: string) => void): void {
  const segments = ins.args.split(/&&|\|\||;|\|/).map((s) => s.trim());
  const aptInstall = segments.some((s) => /\bapt-get\s+(.*\s)?install\b/.test(s));
  for (const s of segments) {
    if (/\bapk\s+(.*\s)?add\b/.test(s) && !/--no-cache\b/.test(s))
      add('package-cache', ins, 'apk add without --no-cache leaves the index in the layer');
    if (/\bapk\s+update\b/.test(s)) add('package-cache', ins, 'apk update: use apk add --no-cache instead');
    if (/(^|\s)apt\s/.test(s)) add('package-cache', ins, 'use apt-get (apt has no stable CLI for scripts)');
    if (/\bapt-get\s+(.*\s)?install\b/.test(s)) {
      if (!/--no-install-recommends\b/.test(s))
        add('package-cache', ins, 'apt-get install without --no-install-recommends');
      if (!/(\s-y\b|--yes\b|--assume-yes\b)/.test(s)) add('package-cache', ins, 'apt-get install without -y');
    }
  }
  if (aptInstall && !/rm\s+-rf\s+\/var\/lib\/apt\/lists/.test(ins.args)) {
    add('package-cache', ins, 'apt-get install without removing /var/lib/apt/lists in the same RUN');
  }
}

/** The build-argument contract: ARGs with no default anywhere must be exactly `required`; the rest `optional`. */
function buildArgProblems(df: Dockerfile, required: readonly string[], optional: readonly string[]): string[] {
  const decls = new Map<string, boolean>(); // name → has a default somewhere
  const all = [...df.global, ...df.stages.flatMap((s) => s.body)].filter((i) => i.keyword === 'ARG');
  for (const ins of all)
    for (const kv of keyValues(ins)) decls.set(kv.key, (decls.get(kv.key) ?? false) || kv.value !== undefined);
  const problems: string[] = [];
  for (const name of required) {
    if (!decls.has(name)) problems.push(`missing ARG ${name}`);
    else if (decls.get(name)) problems.push(`ARG ${name} has a default: a build without it would not fail`);
  }
  for (const [name, hasDefault] of decls) {
    if (required.includes(name)) continue;
    if (!optional.includes(name)) problems.push(`unexpected ARG ${name}`);
    else if (!hasDefault) problems.push(`optional ARG ${name} needs a default`);
  }
  return problems;
}

const rulesOf = (text: string) => new Set(lint(parseDockerfile(text)).map((f) => f.rule));

// ---------------------------------------------------------------------------------------------------------------

describe('Dockerfile parser', () => {
  it('joins continuation lines, drops comments inside them and keeps the first line number', () => {
    const df = parseDockerfile('FROM alpine:3.22\n\nRUN echo a \\\n    # note\n\n    && echo b\nUSER 1:1\n');
    const run = df.stages[0]!.body[0]!;
    assert.equal(run.keyword, 'RUN');
    assert.equal(run.line, 3);
    assert.match(run.args, /^echo a\s+&& echo b$/);
    assert.equal(df.stages[0]!.body[1]!.line, 7);
  });

  it('honours the escape directive', () => {
    const df = parseDockerfile('# escape=`\nFROM alpine:3.22\nRUN echo a `\n  b\n');
    assert.equal(df.escape, '`');
    assert.match(df.stages[0]!.body[0]!.args, /^echo a\s+b$/);
  });

  it('splits stages, names and the global ARG scope', () => {
    const df = parseDockerfile(
      'ARG BASE=alpine:3.22\nFROM golang:1.25-alpine AS Build\nRUN true\nFROM ${BASE}\nCOPY --from=build /x /x\n',
    );
    assert.equal(df.global.length, 1);
    assert.deepEqual(
      df.stages.map((s) => [s.image, s.name]),
      [
        ['golang:1.25-alpine', 'build'],
        ['${BASE}', undefined],
      ],
    );
  });

  it('tokenises quoted ARG, ENV and LABEL values', () => {
    const [ins] = parseDockerfile('FROM a:1\nLABEL a="x y" b=z\n').stages[0]!.body;
    assert.deepEqual(keyValues(ins!), [
      { key: 'a', value: 'x y' },
      { key: 'b', value: 'z' },
    ]);
    assert.deepEqual(varRefs('$A ${B:-x} \\$C $$ ${D}'), ['A', 'B', 'D']);
  });

  it('refuses a heredoc rather than misreading it', () => {
    assert.throws(() => parseDockerfile('FROM a:1\nRUN <<EOF\necho\nEOF\n'), /heredoc/);
  });
});

describe('lint rules fire on bad fixtures', () => {
  const ok = 'FROM alpine:3.22\nUSER 10001\nCMD ["x"]\n';
  it('accepts a minimal good file', () => assert.deepEqual([...rulesOf(ok)], []));

  const cases: Array<[Rule, string]> = [
    ['pinned-base', 'FROM alpine\nUSER 1\n'],
    ['pinned-base', 'FROM alpine:latest\nUSER 1\n'],
    ['pinned-base', 'ARG B=alpine\nFROM ${B}\nUSER 1\n'],
    ['non-root-user', 'FROM alpine:3.22\nRUN true\n'],
    ['non-root-user', 'FROM alpine:3.22\nUSER 1\nUSER root\n'],
    ['non-root-user', 'FROM golang:1.25-alpine AS b\nUSER 1\nFROM alpine:3.22\nUSER 0:0\n'],
    ['no-add-local', 'FROM alpine:3.22\nADD app.tar /app/\nUSER 1\n'],
    ['package-cache', 'FROM alpine:3.22\nRUN apk add curl\nUSER 1\n'],
    ['package-cache', 'FROM alpine:3.22\nRUN apk update && apk add --no-cache curl\nUSER 1\n'],
    [
      'package-cache',
      'FROM debian:12\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\nUSER 1\n',
    ],
    [
      'package-cache',
      'FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl\nUSER 1\n',
    ],
    ['exec-form', 'FROM alpine:3.22\nUSER 1\nCMD /app/server serve\n'],
    ['exec-form', 'FROM alpine:3.22\nUSER 1\nENTRYPOINT /app/server\n'],
    ['exec-form', 'FROM alpine:3.22\nUSER 1\nHEALTHCHECK --interval=5s CMD /app/server healthcheck\n'],
    ['arg-declared', 'FROM alpine:3.22\nLABEL v=$VERSION\nUSER 1\n'],
    ['arg-declared', 'ARG VERSION=1\nFROM alpine:3.22\nRUN echo $VERSION\nUSER 1\n'],
    [
      'arg-declared',
      'FROM golang:1.25-alpine AS b\nARG VERSION\nRUN echo $VERSION\nFROM alpine:3.22\nRUN echo $VERSION\nUSER 1\n',
    ],
    ['arg-declared', 'FROM alpine:3.22\nRUN echo ${GIT_COMMIT}\nARG GIT_COMMIT\nUSER 1\n'],
    ['arg-unused', 'FROM alpine:3.22\nARG UNUSED\nUSER 1\n'],
    ['arg-unused', 'ARG NOBODY=1\nFROM alpine:3.22\nUSER 1\n'],
    ['copy-from', 'FROM alpine:3.22\nCOPY --from=builder /a /a\nUSER 1\n'],
    ['copy-from', 'FROM alpine:3.22 AS a\nCOPY --from=a /a /a\nUSER 1\n'],
    ['workdir-absolute', 'FROM alpine:3.22\nWORKDIR app\nUSER 1\n'],
    ['single-cmd', 'FROM alpine:3.22\nUSER 1\nCMD ["a"]\nCMD ["b"]\n'],
  ];
  for (const [rule, text] of cases) {
    it(`${rule}: ${JSON.stringify(text)}`, () => assert.ok(rulesOf(text).has(rule), `expected ${rule}`));
  }

  it('does not flag shell variables that are no ARG, nor ARGs declared in the stage', () => {
    const text = 'FROM alpine:3.22\nARG V\nRUN for f in a b; do echo "$f" "$V" "${HOME}"; done\nUSER 1\n';
    assert.deepEqual([...rulesOf(text)], []);
  });

  it('lets a stage use a global ARG it re-declares, and FROM use a global ARG', () => {
    const text = 'ARG TAG=3.22\nARG V=1\nFROM alpine:${TAG}\nARG V\nRUN echo $V\nUSER 1\n';
    assert.deepEqual([...rulesOf(text)], []);
  });

  it('every rule has at least one fixture', () => {
    assert.deepEqual(
      RULES.filter((r) => !cases.some(([c]) => c === r)),
      [],
    );
  });
});

describe('docker/Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const df = parseDockerfile(text);
  const [builder, runtime] = df.stages;

  it('passes every lint rule', () => {
    assert.deepEqual(lint(df), []);
  });

  it('declares exactly the build args the action passes (BUILD_ARGS), plus defaulted OPTIONAL_BUILD_ARGS', () => {
    assert.deepEqual(buildArgProblems(df, BUILD_ARGS, OPTIONAL_BUILD_ARGS), []);
    assert.deepEqual(Object.keys(buildArgs('a'.repeat(40), 'v1.0.0', new Date(0))).sort(), [...BUILD_ARGS].sort());
  });

  it('a Dockerfile with a renamed build arg (GIT_SHA) fails the comparison', () => {
    const renamed = text.replace(/\bGIT_COMMIT\b/g, 'GIT_SHA');
    assert.notEqual(renamed, text);
    assert.deepEqual(lint(parseDockerfile(renamed)), [], 'the rename alone is internally consistent');
    assert.deepEqual(buildArgProblems(parseDockerfile(renamed), BUILD_ARGS, OPTIONAL_BUILD_ARGS), [
      'missing ARG GIT_COMMIT',
      'unexpected ARG GIT_SHA',
    ]);
    const defaulted = text.replace(/^ARG VERSION$/m, 'ARG VERSION=dev');
    assert.deepEqual(buildArgProblems(parseDockerfile(defaulted), BUILD_ARGS, OPTIONAL_BUILD_ARGS), [
      'ARG VERSION has a default: a build without it would not fail',
    ]);
  });

  it('without the runtime stage re-declaring its ARGs, the labels would be empty: caught', () => {
    const lines = text.split('\n');
    const runtimeFrom = lines.findIndex((l) => l.startsWith('FROM alpine'));
    const dropped = lines.filter((l, i) => !(i > runtimeFrom && /^ARG /.test(l))).join('\n');
    const findings = lint(parseDockerfile(dropped)).filter((f) => f.rule === 'arg-declared');
    assert.ok(
      findings.some((f) => /LABEL uses \$GIT_COMMIT/.test(f.message)),
      JSON.stringify(findings),
    );
  });

  it('is two stages: golang:1.25-alpine builder, alpine:3.22 runtime', () => {
    assert.equal(df.stages.length, 2);
    assert.equal(builder!.image, 'golang:1.25-alpine');
    assert.equal(builder!.name, 'builder');
    assert.equal(runtime!.image, 'alpine:3.22');
  });

  it('downloads modules before copying the source, and declares the build args after both (layer cache)', () => {
    const body = builder!.body;
    const at = (pred: (i: Instr) => boolean) => body.findIndex(pred);
    const copyMods = at((i) => i.keyword === 'COPY' && /go\.mod go\.sum/.test(i.args));
    const download = at((i) => i.keyword === 'RUN' && /go mod download/.test(i.args));
    const copyAll = at((i) => i.keyword === 'COPY' && /^\.\s+\.$/.test(i.args));
    const firstArg = at((i) => i.keyword === 'ARG');
    assert.ok(
      copyMods >= 0 && copyMods < download && download < copyAll && copyAll < firstArg,
      `${copyMods} ${download} ${copyAll} ${firstArg}`,
    );
  });

  it('builds a static, trimmed binary with Version/GitCommit/BuildDate injected from the build args', () => {
    const build = builder!.body.find((i) => i.keyword === 'RUN' && /go build/.test(i.args))!;
    assert.match(build.args, /CGO_ENABLED=0/);
    assert.match(build.args, /-trimpath/);
    assert.match(build.args, /-s -w/);
    assert.match(build.args, /-X \$\{VERSION_PKG\}\.Version=\$\{VERSION\}/);
    assert.match(build.args, /-X \$\{VERSION_PKG\}\.GitCommit=\$\{GIT_COMMIT\}/);
    assert.match(build.args, /-X \$\{VERSION_PKG\}\.BuildDate=\$\{BUILD_TIMESTAMP\}/);
    assert.match(
      build.args,
      /\/out\/server version \| grep -qF "\$\{GIT_COMMIT\}"/,
      'the build proves the -X took effect',
    );
    const pkg = builder!.body
      .flatMap((i) => (i.keyword === 'ARG' ? keyValues(i) : []))
      .find((kv) => kv.key === 'VERSION_PKG');
    assert.match(pkg?.value ?? '', /^github\.com\/[\w.-]+\/[\w.-]+(\/[\w.-]+)*$/);
  });

  it('refuses to build without the required args', () => {
    const guard = builder!.body.find((i) => i.keyword === 'RUN' && /:\?build arg/.test(i.args))!;
    for (const a of ['VERSION', 'BUILD_TIMESTAMP', 'GIT_SHORT_COMMIT'])
      assert.match(guard.args, new RegExp(`\\$\\{${a}:\\?`));
    assert.match(guard.args, /GIT_COMMIT\}" \| grep -Eqx '\[0-9a-f\]\{40\}'/);
  });

  it('runtime: certificates and tzdata, fixed non-root uid, migrations shipped', () => {
    const body = runtime!.body;
    assert.ok(body.some((i) => i.keyword === 'RUN' && /apk add --no-cache ca-certificates tzdata/.test(i.args)));
    const user = body.filter((i) => i.keyword === 'USER').pop()!;
    assert.match(user.args, /^[1-9]\d{3,}:[1-9]\d{3,}$/, 'numeric uid:gid, so runAsNonRoot-style checks can verify it');
    const uid = user.args.split(':')[0]!;
    assert.ok(body.some((i) => i.keyword === 'RUN' && new RegExp(`adduser .*-u ${uid}\\b`).test(i.args)));
    assert.ok(body.some((i) => i.keyword === 'COPY' && /--from=builder \S*migrations \/app\/migrations$/.test(i.args)));
    assert.ok(body.some((i) => i.keyword === 'COPY' && /--from=builder \/out\/server \/app\/server$/.test(i.args)));
  });

  it('runtime: OCI labels from the build args', () => {
    const labels = new Map(
      runtime!.body
        .filter((i) => i.keyword === 'LABEL')
        .flatMap(keyValues)
        .map((kv) => [kv.key, kv.value]),
    );
    assert.equal(labels.get('org.opencontainers.image.revision'), '${GIT_COMMIT}');
    assert.equal(labels.get('org.opencontainers.image.version'), '${VERSION}');
    assert.equal(labels.get('org.opencontainers.image.created'), '${BUILD_TIMESTAMP}');
    assert.match(labels.get('org.opencontainers.image.source') ?? '', /^https:\/\//);
    assert.ok(labels.get('org.opencontainers.image.title'));
  });

  it('runtime: health check, port, stop signal, entrypoint', () => {
    const one = (k: string) => runtime!.body.filter((i) => i.keyword === k).pop()?.args;
    assert.match(one('HEALTHCHECK') ?? '', /CMD \["\/app\/server", "healthcheck"\]$/);
    assert.equal(one('EXPOSE'), '8080');
    assert.equal(one('STOPSIGNAL'), 'SIGTERM');
    assert.equal(one('ENTRYPOINT'), '["/app/server"]');
    assert.equal(one('CMD'), '["serve"]');
  });
});

describe('docker/db/Dockerfile (the database image: PostGIS plus pgvector)', () => {
  const text = readFileSync(fileURLToPath(new URL('../../docker/db/Dockerfile', import.meta.url)), 'utf8');
  const df = parseDockerfile(text);

  it('passes every lint rule but non-root-user: the postgres entrypoint starts as root and drops to postgres itself', () => {
    assert.deepEqual(
      lint(df).filter((p) => p.rule !== 'non-root-user'),
      [],
    );
  });

  it('extends the configured image (ARG BASE, default PostGIS 16) and installs pgvector for its major version', () => {
    assert.equal(df.stages.length, 1);
    assert.equal(df.stages[0]!.image, '${BASE}');
    assert.match(df.global.find((i) => i.keyword === 'ARG')!.args, /^BASE=postgis\/postgis:16-/);
    assert.ok(
      df.stages[0]!.body.some((i) => i.keyword === 'RUN' && i.args.includes('postgresql-${PG_MAJOR}-pgvector')),
    );
  });
});
