/**
 * Reading the operator docs as data, for the checks that keep them true (test/unit/docs.test.ts) and for the
 * test that runs their commands on the loopback host (test/e2e/docs.test.ts). Just enough Markdown: fenced
 * blocks, links, headings and GitHub's heading anchors, and shell words of the commands in ```sh blocks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** README.md and every Markdown file of docs/, relative to the repository root */
export function docFiles(root = ROOT): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

export interface Fence {
  /** first word of the info string: sh, yaml, … ('' when none) */
  lang: string;
  info: string;
  body: string;
  /** 1-based line of the opening fence */
  line: number;
  /** the nearest non-blank line above the opening fence (where a runs-in-ci marker sits) */
  before: string;
}

export interface Doc {
  file: string;
  text: string;
  fences: Fence[];
  /** the text outside fenced blocks, line numbers kept (fence lines are blanked) */
  prose: string;
}

export function readDoc(file: string, root = ROOT): Doc {
  return parseDoc(file, readFileSync(join(root, file), 'utf8'));
}

export function parseDoc(file: string, text: string): Doc {
  const lines = text.split('\n');
  const fences: Fence[] = [];
  const prose: string[] = [];
  let open: { marker: string; info: string; line: number; before: string; body: string[] } | undefined;
  let lastNonBlank = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (open) {
      prose.push('');
      if (new RegExp(`^ {0,3}${open.marker[0]}{${open.marker.length},}\\s*$`).test(line)) {
        fences.push({
          lang: open.info.split(/\s+/)[0] ?? '',
          info: open.info,
          body: open.body.join('\n'),
          line: open.line,
          before: open.before,
        });
        open = undefined;
        lastNonBlank = line.trim();
      } else open.body.push(line);
      continue;
    }
    const m = /^ {0,3}(`{3,}|~{3,})\s*(.*)$/.exec(line);
    if (m) {
      open = { marker: m[1]!, info: m[2]!.trim(), line: i + 1, before: lastNonBlank, body: [] };
      prose.push('');
      continue;
    }
    prose.push(line);
    if (line.trim()) lastNonBlank = line.trim();
  }
  return { file, text, fences, prose: prose.join('\n') };
}

/** prose with inline code spans blanked (same length), so that links and words inside them are not seen */
export function withoutCode(prose: string): string {
  return prose.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (m) => ' '.repeat(m.length));
}

export interface Link {
  target: string;
  line: number;
}

/** inline links and images [text](target "title"), reference definitions [id]: target, and <a href> */
export function links(doc: Doc): Link[] {
  const text = withoutCode(doc.prose);
  const out: Link[] = [];
  const lineAt = (index: number) => text.slice(0, index).split('\n').length;
  for (const m of text.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
    out.push({ target: m[1]!, line: lineAt(m.index) });
  for (const m of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm))
    out.push({ target: m[1]!, line: lineAt(m.index) });
  for (const m of text.matchAll(/<a\s[^>]*href="([^"]+)"/g)) out.push({ target: m[1]!, line: lineAt(m.index) });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped (but "-" and "_"), spaces to "-" */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
    .replace(/`([^`]*)`/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** every anchor a document offers: heading slugs (duplicates numbered as GitHub does) and explicit ids */
export function anchors(doc: Doc): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of doc.prose.matchAll(/^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of doc.prose.matchAll(/<a\s[^>]*(?:id|name)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Shell

/** Lines of a shell block as commands: continuations joined, comments dropped, a leading "$ " prompt removed. */
export function shellLines(body: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let acc = '';
  let start = 0;
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!acc) start = i;
    if (/\\$/.test(raw)) {
      acc += raw.replace(/\\$/, ' ');
      continue;
    }
    const full = (acc + raw).replace(/^\s*\$\s+/, '');
    acc = '';
    const text = stripComment(full).trim();
    if (text) out.push({ text, line: start });
  }
  if (acc.trim()) out.push({ text: stripComment(acc).trim(), line: start });
  return out;
}

function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/** A command line split into simple commands (at && || ; |), each as shell words with quotes removed. */
export function shellCommands(text: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length) commands.push(words);
    words = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) endWord();
    else if (c === ';' || c === '|' || c === '&') {
      if (text[i + 1] === c) i++;
      endCommand();
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

/** the togather-deploy invocations of a shell block: argv without the program name, with their line */
export function cliInvocations(body: string): { args: string[]; line: number; text: string }[] {
  const out: { args: string[]; line: number; text: string }[] = [];
  for (const l of shellLines(body)) {
    for (const words of shellCommands(l.text)) {
      // leading VAR=value assignments belong to the command's environment
      let i = 0;
      while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
      if (words[i] === 'togather-deploy') out.push({ args: words.slice(i + 1), line: l.line, text: l.text });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// runs-in-ci markers

export interface RunnableBlock {
  file: string;
  line: number;
  body: string;
  /** expected exit code of the block's last command (the others must exit 0); default 0 */
  exit: number;
  /** state the test establishes before the block: deployed:V1,V2 · locked */
  given: string[];
}

export const RUNS_IN_CI_RE = /^<!--\s*runs-in-ci\b(.*?)-->$/;

/** the ```sh blocks of a doc preceded by a <!-- runs-in-ci … --> marker, in document order */
export function runnableBlocks(doc: Doc): RunnableBlock[] {
  const out: RunnableBlock[] = [];
  for (const f of doc.fences) {
    const m = RUNS_IN_CI_RE.exec(f.before);
    if (!m) continue;
    const attrs = Object.fromEntries([...m[1]!.matchAll(/([a-z]+)=(\S+)/g)].map((a) => [a[1]!, a[2]!]));
    out.push({
      file: doc.file,
      line: f.line,
      body: f.body,
      exit: attrs.exit !== undefined ? Number(attrs.exit) : 0,
      given: attrs.given ? attrs.given.split(';') : [],
    });
  }
  return out;
}
