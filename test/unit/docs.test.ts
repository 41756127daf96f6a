/**
 * The operator docs stay true to the code: every relative link and anchor of README.md and docs/*.md resolves;
 * every togather-deploy command and flag in a ```sh block exists in `togather-deploy --help`; every action
 * input named (in prose, or in a `with:` of a step using the action or a reusable workflow) exists; every exit
 * code named is one of src/errors.ts, and the exit-code tables list exactly those; every deployment.yml key
 * named exists in the schema; the runs-in-ci markers are well formed (test/e2e/docs.test.ts runs those blocks).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { allKeys } from '../../scripts/gen-config-docs.js';
import { NOTIFY_EVENTS } from '../../src/config/schema.js';
import { ExitCode } from '../../src/errors.js';
import {
  ROOT,
  anchors,
  cliInvocations,
  docFiles,
  links,
  parseDoc,
  readDoc,
  runnableBlocks,
  shellCommands,
  shellLines,
  slug,
  withoutCode,
  RUNS_IN_CI_RE,
  type Doc,
} from './docs-markdown.js';

const docs: Doc[] = docFiles().map((f) => readDoc(f));
const byFile = new Map(docs.map((d) => [d.file, d]));
const lineOf = (doc: Doc, index: number) => doc.text.slice(0, index).split('\n').length;

// ---------------------------------------------------------------------------------------------------------------
// what the code offers

interface Help {
  commands: Map<string, Set<string>>;
  flags: Set<string>;
}

function cliHelp(): Help {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/index.ts'), '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return parseHelp(r.stdout);
}

/** commands: the first word of each line of the "commands:" block, with subcommands written a|b|c after it */
function parseHelp(text: string): Help {
  const commands = new Map<string, Set<string>>();
  const flags = new Set<string>();
  let section = '';
  for (const line of text.split('\n')) {
    if (/^\S.*:$/.test(line)) {
      section = line.replace(/:$/, '').trim();
      continue;
    }
    if (section === 'commands') {
      // "  deploy      text" is a command; "  snapshot create|list <environment>" one with subcommands (one space)
      const m = /^ {2}([a-z][a-z-]*)(?: ((?:[a-z-]+\|)*[a-z-]+))?(?=\s|$)/.exec(line);
      if (m) {
        const subs = commands.get(m[1]!) ?? new Set<string>();
        for (const s of m[2] ? m[2].split('|') : []) subs.add(s);
        commands.set(m[1]!, subs);
      }
    }
    if (section === 'commands' || /\boptions\b/.test(section)) {
      for (const f of line.matchAll(/(?:^|[\s,[])(--?[a-zA-Z][a-zA-Z0-9-]*)/g)) flags.add(f[1]!);
    }
  }
  return { commands, flags };
}

const help = cliHelp();

const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown> };
const actionInputs = new Set(Object.keys(action.inputs));

function workflowInterface(name: string): { inputs: Set<string>; secrets: Set<string> } | undefined {
  const file = join(ROOT, '.github/workflows', `${name}.yml`);
  if (!existsSync(file)) return undefined;
  const wf = parse(readFileSync(file, 'utf8')) as { on?: { workflow_call?: { inputs?: object; secrets?: object } } };
  const call = wf.on?.workflow_call;
  return call
    ? { inputs: new Set(Object.keys(call.inputs ?? {})), secrets: new Set(Object.keys(call.secrets ?? {})) }
    : undefined;
}

const exitCodes = new Map<number, string>(Object.entries(ExitCode).map(([k, v]) => [v, k]));
const configKeys = new Set(allKeys());

// ---------------------------------------------------------------------------------------------------------------

describe('docs: the Markdown helpers', () => {
  test('anchors follow GitHub: punctuation dropped, spaces to hyphens, duplicates numbered', () => {
    assert.equal(slug('Exit 5 — the lock is held (`lock`)'), 'exit-5--the-lock-is-held-lock');
    assert.equal(slug('What `--dry-run` does'), 'what---dry-run-does');
    assert.equal(slug('[Links](x.md) and *emphasis*'), 'links-and-emphasis');
    const d = parseDoc('x.md', '# A\n## A\n```sh\n# not a heading\n```\n<a id="custom"></a>\n');
    assert.deepEqual([...anchors(d)].sort(), ['a', 'a-1', 'custom']);
  });

  test('shell lines: continuations, comments, prompts, quotes and && are handled', () => {
    const lines = shellLines(
      '$ togather-deploy deploy staging \\\n  --version v1 # a comment\n# only a comment\necho "a # b"',
    );
    assert.deepEqual(
      lines.map((l) => l.text.replace(/\s+/g, ' ')),
      ['togather-deploy deploy staging --version v1', 'echo "a # b"'],
    );
    assert.deepEqual(shellCommands(`A=1 togather-deploy status staging && echo 'x y' | cat`), [
      ['A=1', 'togather-deploy', 'status', 'staging'],
      ['echo', 'x y'],
      ['cat'],
    ]);
    assert.deepEqual(
      cliInvocations('GITHUB_TOKEN=t togather-deploy versions prod --json').map((c) => c.args),
      [['versions', 'prod', '--json']],
    );
  });

  test('links outside code only; the help parser finds commands, subcommands and flags', () => {
    const d = parseDoc('x.md', 'see [a](a.md#x) and `[b](b.md)`\n```md\n[c](c.md)\n```\n[ref]: d.md\n');
    assert.deepEqual(
      links(d).map((l) => l.target),
      ['a.md#x', 'd.md'],
    );
    const h = parseHelp(
      'commands:\n  deploy      does it\n  snapshot create|list <environment>\n              things\n' +
        '  snapshot restore <environment> <file>\n\noptions:\n  -c, --config FILE  x\n      --dry-run   y\n',
    );
    assert.deepEqual([...h.commands.keys()], ['deploy', 'snapshot']);
    assert.deepEqual([...h.commands.get('deploy')!], []);
    assert.deepEqual([...h.commands.get('snapshot')!], ['create', 'list', 'restore']);
    assert.ok(h.flags.has('--config') && h.flags.has('-c') && h.flags.has('--dry-run'));
  });
});

describe('docs: links and anchors resolve', () => {
  for (const doc of docs) {
    test(doc.file, () => {
      const problems: string[] = [];
      for (const l of links(doc)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(l.target)) continue; // http(s), mailto: not checked here (no network)
        const [path = '', anchor] = l.target.split('#');
        const target = path === '' ? doc.file : normalize(join(dirname(doc.file), decodeURIComponent(path)));
        const abs = join(ROOT, target);
        if (!existsSync(abs)) {
          problems.push(`line ${l.line}: ${l.target} → ${target} does not exist`);
          continue;
        }
        if (anchor !== undefined && anchor !== '') {
          if (!target.endsWith('.md') || statSync(abs).isDirectory()) {
            problems.push(`line ${l.line}: ${l.target} has an anchor but is not a Markdown file`);
            continue;
          }
          const d = byFile.get(target) ?? readDoc(target);
          if (!anchors(d).has(decodeURIComponent(anchor)))
            problems.push(`line ${l.line}: ${l.target}: no heading or id "${anchor}" in ${target}`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe('docs: CLI commands and flags in ```sh blocks exist in togather-deploy --help', () => {
  test("the help lists the runbooks' commands", () => {
    for (const c of ['deploy', 'rollback', 'versions', 'status', 'unlock', 'cleanup'])
      assert.ok(help.commands.has(c), c);
  });
  for (const doc of docs) {
    test(doc.file, () => {
      const problems: string[] = [];
      for (const f of doc.fences.filter((x) => ['sh', 'bash', 'shell'].includes(x.lang))) {
        for (const inv of cliInvocations(f.body)) {
          const where = `line ${f.line + 1 + inv.line}: togather-deploy ${inv.args.join(' ')}`;
          const [command, sub] = inv.args;
          if (command === undefined || command.startsWith('-')) {
            if (!inv.args.every((a) => help.flags.has(a.split('=')[0]!))) problems.push(`${where}: unknown option`);
            continue;
          }
          const subs = help.commands.get(command);
          if (!subs) {
            problems.push(`${where}: "${command}" is not a command of togather-deploy --help`);
            continue;
          }
          if (subs.size > 0 && (sub === undefined || !subs.has(sub)))
            problems.push(`${where}: "${command} ${sub ?? ''}" is not one of ${[...subs].join(', ')}`);
          for (const a of inv.args) {
            if (!a.startsWith('-') || a === '-' || a === '--') continue;
            const name = a.split('=')[0]!;
            if (!help.flags.has(name)) problems.push(`${where}: option ${name} is not in togather-deploy --help`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe('docs: action inputs named exist in action.yml', () => {
  for (const doc of docs) {
    test(doc.file, () => {
      const problems: string[] = [];
      // prose: "the `confirm` input", "input `env-file`"
      const prose = doc.prose;
      for (const m of prose.matchAll(/`([a-z][a-z0-9-]*)` input\b|\binput `([a-z][a-z0-9-]*)`/g)) {
        const name = m[1] ?? m[2]!;
        if (!actionInputs.has(name))
          problems.push(`line ${lineOf(doc, m.index)}: "${name}" is not an input of action.yml`);
      }
      // yaml: with: of a step using the action; with:/secrets: of a job calling a reusable workflow
      for (const f of doc.fences.filter((x) => x.lang === 'yaml' || x.lang === 'yml')) {
        let data: unknown;
        try {
          data = parse(f.body);
        } catch (e) {
          problems.push(`line ${f.line}: the yaml block does not parse: ${(e as Error).message.split('\n')[0]}`);
          continue;
        }
        visit(data, (node) => {
          const uses = typeof node.uses === 'string' ? node.uses : undefined;
          if (!uses) return;
          const wf = /togather-deploy\/\.github\/workflows\/([a-z-]+)\.yml@/.exec(uses);
          const withKeys = node.with && typeof node.with === 'object' ? Object.keys(node.with) : [];
          if (wf) {
            const iface = workflowInterface(wf[1]!);
            if (!iface) {
              problems.push(`line ${f.line}: ${uses}: no reusable workflow .github/workflows/${wf[1]}.yml`);
              return;
            }
            for (const k of withKeys)
              if (!iface.inputs.has(k)) problems.push(`line ${f.line}: ${wf[1]}.yml has no input "${k}"`);
            if (node.secrets && typeof node.secrets === 'object') {
              for (const k of Object.keys(node.secrets))
                if (!iface.secrets.has(k)) problems.push(`line ${f.line}: ${wf[1]}.yml has no secret "${k}"`);
            }
          } else if (/^togather\/togather-deploy@/.test(uses)) {
            for (const k of withKeys)
              if (!actionInputs.has(k)) problems.push(`line ${f.line}: "${k}" is not an input of action.yml`);
          }
        });
      }
      assert.deepEqual(problems, []);
    });
  }
});

function visit(v: unknown, fn: (node: Record<string, unknown>) => void): void {
  if (Array.isArray(v)) v.forEach((x) => visit(x, fn));
  else if (v && typeof v === 'object') {
    fn(v as Record<string, unknown>);
    Object.values(v).forEach((x) => visit(x, fn));
  }
}

describe('docs: exit codes match src/errors.ts', () => {
  for (const doc of docs) {
    test(`${doc.file}: every exit code named exists`, () => {
      const problems: string[] = [];
      const text = withoutCode(doc.prose);
      for (const m of text.matchAll(/\bexit(?:s| code| codes| status)?(?: with)? (\d+)\b/gi)) {
        if (!exitCodes.has(Number(m[1])))
          problems.push(`line ${lineOf(doc, m.index)}: exit code ${m[1]} is not in src/errors.ts`);
      }
      // the runs-in-ci markers name the exit code they expect, too
      for (const b of runnableBlocks(doc))
        if (!exitCodes.has(b.exit)) problems.push(`line ${b.line}: runs-in-ci exit=${b.exit} is not in src/errors.ts`);
      assert.deepEqual(problems, []);
    });
  }

  const table = (doc: Doc): Map<number, string> => {
    const rows = new Map<number, string>();
    for (const m of doc.prose.matchAll(/^\|\s*(\d+)\s*\|\s*(.+?)\s*\|/gm)) rows.set(Number(m[1]), m[2]!);
    return rows;
  };

  test('README.md: the exit-code table lists exactly the codes of src/errors.ts', () => {
    assert.deepEqual(
      [...table(byFile.get('README.md')!).keys()].sort((a, b) => a - b),
      [...exitCodes.keys()].sort((a, b) => a - b),
    );
  });

  test('docs/troubleshooting.md: one table row and one section per exit code, each naming its failure class', () => {
    const doc = byFile.get('docs/troubleshooting.md');
    assert.ok(doc, 'docs/troubleshooting.md exists');
    assert.deepEqual(
      [...table(doc).keys()].sort((a, b) => a - b),
      [...exitCodes.keys()].sort((a, b) => a - b),
    );
    const sections = new Map<number, string>();
    for (const m of doc.prose.matchAll(/^#{2,4}\s+Exit (\d+)\b(.*)$/gm)) sections.set(Number(m[1]), m[2]!);
    const problems: string[] = [];
    for (const [code, kind] of exitCodes) {
      if (code === 0) continue;
      const heading = sections.get(code);
      if (heading === undefined) problems.push(`no "Exit ${code}" section`);
      else if (!heading.includes(`\`${kind}\``))
        problems.push(`the "Exit ${code}" heading does not name its class \`${kind}\``);
    }
    for (const code of sections.keys())
      if (!exitCodes.has(code)) problems.push(`section "Exit ${code}" has no code in src/errors.ts`);
    assert.deepEqual(problems, []);
  });
});

describe('docs: deployment.yml keys named exist in the schema', () => {
  const sections = ['app', 'deployment', 'proxy', 'images', 'database', 'notifications', 'monitoring', 'environments'];
  const keyRe = new RegExp(`^(?:${sections.join('|')})(?:\\.[A-Za-z0-9_<>-]+)+$`);
  const events = new Set<string>(NOTIFY_EVENTS);
  for (const doc of docs) {
    test(doc.file, () => {
      const problems: string[] = [];
      for (const m of doc.prose.matchAll(/`([^`\n]+)`/g)) {
        const word = m[1]!.replace(/:$/, '');
        if (!keyRe.test(word) || /\.(ya?ml|md|json)$/.test(word) || events.has(word)) continue;
        const parts = word.split('.');
        if (parts[0] === 'environments' && parts.length > 1) parts[1] = '<name>';
        if (parts[0] === 'app' && parts[1] === 'env' && parts.length > 2) parts.splice(2);
        const key = parts.join('.');
        if (!configKeys.has(key))
          problems.push(`line ${lineOf(doc, m.index)}: \`${word}\` is not a key of deployment.yml`);
      }
      assert.deepEqual(problems, []);
    });
  }
});

describe('docs: runs-in-ci markers (test/e2e/docs.test.ts runs these blocks)', () => {
  for (const doc of docs) {
    test(doc.file, () => {
      const problems: string[] = [];
      const lines = doc.text.split('\n');
      // markers in prose only: an example of one inside a fenced block is not a marker
      doc.prose.split('\n').forEach((l, i) => {
        if (!RUNS_IN_CI_RE.test(l.trim())) return;
        const next = lines.slice(i + 1).find((x) => x.trim() !== '');
        if (!next || !/^```sh\s*$/.test(next.trim()))
          problems.push(`line ${i + 1}: a runs-in-ci marker must sit directly above a \`\`\`sh block`);
        const attrs = /runs-in-ci\b(.*?)-->/.exec(l)![1]!.trim();
        for (const a of attrs.split(/\s+/).filter(Boolean)) {
          const m = /^(exit|given)=(\S+)$/.exec(a);
          if (!m) problems.push(`line ${i + 1}: unknown attribute "${a}" (exit=N, given=deployed:V1,V2;locked)`);
          else if (
            m[1] === 'given' &&
            !m[2]!.split(';').every((g) => /^deployed:[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*$|^locked$/.test(g))
          ) {
            problems.push(`line ${i + 1}: given=${m[2]} is not deployed:V1,V2 or locked`);
          }
        }
      });
      for (const b of runnableBlocks(doc)) {
        for (const l of shellLines(b.body)) {
          for (const words of shellCommands(l.text)) {
            if (words[0] !== 'togather-deploy')
              problems.push(
                `line ${b.line}: a runnable block may only hold togather-deploy commands, not "${words.join(' ')}"`,
              );
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  }

  test('the runbooks have runnable deploy, dry-run, status, versions, rollback and unlock commands', () => {
    const run = docs.flatMap((d) => runnableBlocks(d)).flatMap((b) => cliInvocations(b.body));
    const has = (cmd: string, flag?: string) => run.some((i) => i.args[0] === cmd && (!flag || i.args.includes(flag)));
    const missing = [['deploy'], ['deploy', '--dry-run'], ['status'], ['versions'], ['rollback'], ['unlock']].filter(
      ([c, f]) => !has(c!, f),
    );
    assert.deepEqual(missing, []);
  });
});
