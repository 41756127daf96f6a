/**
 * Commands are data. Each builder's argv is pinned here as a table, and every shell script the engine runs is
 * found (by reading src/engine with the TypeScript parser: every script(...) call and what its first argument
 * names), checked to be an exported constant, and run through `sh -n` and, when it is installed, ShellCheck.
 * A script passed to script() as an inline literal, or an unexported constant, fails the scan, so a new script
 * cannot escape the checks. The dry-run plan must print the very commands the real run sends.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { cmd, type Command } from '../../../src/host/host.js';
import { quoteArgv } from '../../../src/util/shell.js';
import * as db from '../../../src/engine/database/commands.js';
import * as rel from '../../../src/engine/release/commands.js';
import * as st from '../../../src/engine/stack/commands.js';
import { Layout } from '../../../src/engine/stack/layout.js';
import { deploy } from '../../../src/engine/operations/deploy.js';
import { fakeStack } from '../../fakes/host.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ENGINE = join(ROOT, 'src/engine');

const L = new Layout({ hostPath: 'togather/staging/', stack: 'togather-staging' });
const V2 = ['docker', 'compose'];
const COMPOSE = [
  ...V2,
  '-p',
  'togather-staging',
  '-f',
  'togather/staging/compose.yml',
  '--env-file',
  'togather/staging/.env',
];
/** the argv of script(text, ...args) */
const sh = (text: string, ...args: string[]) => ['sh', '-c', text, 'togather-deploy', ...args];

type Row = [label: string, actual: Command | readonly string[], expected: string[]];
function table(rows: Row[]): void {
  for (const [label, actual, expected] of rows)
    assert.deepEqual('argv' in actual ? actual.argv : actual, expected, label);
}

describe('builders: the argv of every command, as the engine sends it', () => {
  test('stack: compose, colours, flags', () => {
    table([
      ['composeCmd v2', st.composeCmd(V2, L, 'ps'), [...COMPOSE, 'ps']],
      ['composeCmd v1', st.composeCmd(['docker-compose'], L, 'ps'), ['docker-compose', ...COMPOSE.slice(2), 'ps']],
      ['startGateCmd', st.startGateCmd(V2, L, 'blue'), [...COMPOSE, 'up', '-d', '--no-color', 'gate-blue']],
      [
        'startAppCmd',
        st.startAppCmd(V2, L, 'green'),
        [...COMPOSE, 'up', '-d', '--no-deps', '--force-recreate', '--no-color', 'app-green'],
      ],
      ['stopAppCmd 30s', st.stopAppCmd(L, 'blue', 30_000), ['docker', 'stop', '-t', '30', 'togather-staging-app-blue']],
      [
        'stopAppCmd rounds up',
        st.stopAppCmd(L, 'green', 12_345),
        ['docker', 'stop', '-t', '13', 'togather-staging-app-green'],
      ],
      [
        'stopAppCmd at least 1s',
        st.stopAppCmd(L, 'green', 0),
        ['docker', 'stop', '-t', '1', 'togather-staging-app-green'],
      ],
      ['flagCmd on', st.flagCmd(L, 'blue', true), sh(st.FLAG_ON, 'togather/staging/gates/blue')],
      ['flagCmd off', st.flagCmd(L, 'green', false), sh(st.FLAG_OFF, 'togather/staging/gates/green')],
      [
        'inspectStackCmd',
        st.inspectStackCmd(L),
        sh(
          st.INSPECT_STACK,
          'togather-staging',
          'togather/staging',
          '%7B%22name%22%3A%5B%22togather-staging-%22%5D%7D',
        ),
      ],
    ]);
  });

  test('stack: files, state, neighbours, lock', () => {
    table([
      [
        'writeFileCmd',
        st.writeFileCmd('togather/staging/app.env', '600'),
        sh(st.WRITE_FILE, 'togather/staging/app.env', '600'),
      ],
      [
        'appendFileCmd',
        st.appendFileCmd('togather/staging/logs/x.jsonl'),
        sh(st.APPEND_FILE, 'togather/staging/logs/x.jsonl'),
      ],
      ['readFileCmd', st.readFileCmd('togather/staging/state.json'), sh(st.READ_FILE, 'togather/staging/state.json')],
      ['mkdirsCmd', st.mkdirsCmd('a', 'b/c'), sh(st.MKDIRS, 'a', 'b/c')],
      ['writeHostFilesCmd', st.writeHostFilesCmd(L), sh(st.WRITE_FILES, 'togather/staging')],
      ['readStateCmd', st.readStateCmd(L), sh(st.READ_FILE, 'togather/staging/state.json')],
      [
        'writeStateCmd',
        st.writeStateCmd(L),
        sh(st.WRITE_STATE, 'togather/staging/state.json', 'togather/staging/history.jsonl'),
      ],
      [
        'neighbourStatesCmd',
        st.neighbourStatesCmd(L, ['togather/production', '/srv/x']),
        sh(st.NEIGHBOUR_STATES, 'togather/staging', 'togather/production', '/srv/x'),
      ],
      ['lockAcquireCmd', st.lockAcquireCmd(L), sh(st.LOCK_ACQUIRE, 'togather/staging/lock')],
      ['lockHeartbeatCmd', st.lockHeartbeatCmd(L, 'ID'), sh(st.LOCK_HEARTBEAT, 'togather/staging/lock', 'ID')],
      ['lockTakeoverCmd', st.lockTakeoverCmd(L, 'ID'), sh(st.LOCK_TAKEOVER, 'togather/staging/lock', 'ID')],
      [
        'lockTakeoverNoInfoCmd',
        st.lockTakeoverNoInfoCmd(L, '1700000000'),
        sh(st.LOCK_TAKEOVER_NOINFO, 'togather/staging/lock', '1700000000'),
      ],
      ['lockReleaseCmd', st.lockReleaseCmd(L, 'ID'), sh(st.LOCK_RELEASE, 'togather/staging/lock', 'ID')],
      ['lockInspectCmd', st.lockInspectCmd(L), sh(st.LOCK_INSPECT, 'togather/staging/lock')],
      ['lockForceRemoveCmd', st.lockForceRemoveCmd(L, 'ID'), sh(st.LOCK_FORCE_REMOVE, 'togather/staging/lock', 'ID')],
      ['lockRemoveNoInfoCmd', st.lockRemoveNoInfoCmd(L), sh(st.LOCK_REMOVE_NOINFO, 'togather/staging/lock')],
      ['auditAppendCmd', st.auditAppendCmd(L), sh(st.APPEND_FILE, 'togather/staging/audit.jsonl')],
    ]);
  });

  test('database: client tools, readiness, image', () => {
    const url = 'postgres://app@db:5432/togather';
    const tool = ['psql', '-c', 'x'];
    table([
      [
        'pgToolCommand managed',
        db.pgToolCommand(L, { managed: true, image: 'postgres:16' }, tool),
        ['docker', 'exec', '--env-file', 'togather/staging/db-client.env', 'togather-staging-db', ...tool],
      ],
      [
        'pgToolCommand managed, stdin',
        db.pgToolCommand(L, { managed: true, image: 'postgres:16' }, tool, true),
        ['docker', 'exec', '-i', '--env-file', 'togather/staging/db-client.env', 'togather-staging-db', ...tool],
      ],
      [
        'pgToolCommand external, stdin',
        db.pgToolCommand(L, { managed: false, network: 'net', image: 'postgres:16' }, tool, true),
        [
          'docker',
          'run',
          '--rm',
          '-i',
          '--network',
          'net',
          '--env-file',
          'togather/staging/db-client.env',
          '--label',
          'org.togather.role=db-tool',
          'postgres:16',
          ...tool,
        ],
      ],
      ['psqlValuesArgs', db.psqlValuesArgs(url), ['psql', '-X', '-q', '-A', '-t', '-w', '-d', url]],
      ['psqlProbeArgs', db.psqlProbeArgs(url), ['psql', '-X', '-q', '-A', '-t', '-w', '-d', url, '-c', 'SELECT 1']],
      [
        'psqlScriptArgs',
        db.psqlScriptArgs(url, { target: 't', scratch: 's' }),
        ['psql', '-X', '-q', '-w', '-d', url, '-v', 'target=t', '-v', 'scratch=s'],
      ],
      [
        'psqlLoadArgs',
        db.psqlLoadArgs(url),
        ['psql', '-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-d', url],
      ],
      ['pgDumpArgs', db.pgDumpArgs(url), ['pg_dump', '-w', '--format=plain', '-d', url]],
      ['stackNetworkCmd', db.stackNetworkCmd(L), sh(db.STACK_NETWORK, 'togather-staging')],
      ['dbStatusCmd', db.dbStatusCmd(L), sh(db.CONTAINER_STATUS, 'togather-staging-db')],
      ['dbRestartsCmd', db.dbRestartsCmd(L), sh(db.RESTART_COUNT, 'togather-staging-db')],
      ['dbLogsCmd', db.dbLogsCmd(L, 200), ['docker', 'logs', '--tail', '200', 'togather-staging-db']],
      [
        'dbImagePresentCmd',
        db.dbImagePresentCmd('togather-postgres:0123'),
        ['docker', 'image', 'inspect', '--format', '.', 'togather-postgres:0123'],
      ],
      [
        'dbImageBuildCmd',
        db.dbImageBuildCmd('togather-postgres:0123', 'postgres:16'),
        [
          'docker',
          'build',
          '--quiet',
          '--build-arg',
          'BASE=postgres:16',
          '--label',
          'org.togather.role=db-image',
          '-t',
          'togather-postgres:0123',
          '-',
        ],
      ],
    ]);
    assert.equal(db.dbEnvPath(L), 'togather/staging/db-client.env');
    assert.throws(() => db.pgToolCommand(L, { managed: false, image: 'postgres:16' }, tool), /needs the stack network/);
  });

  test('database: migrations, snapshots, restore', () => {
    const hold = 'togather-staging-release-hold';
    const migrate = {
      dir: 'togather/staging/migrations/abc',
      network: 'net',
      image: 'migrate/migrate:v4',
      args: ['-path', '/migrations', 'up'],
      timeoutMs: 300_000,
    };
    const migrateOpts = [
      '--network',
      'net',
      '--env-file',
      'togather/staging/db-client.env',
      '--label',
      'org.togather.role=migrate',
      'migrate/migrate:v4',
      '-path',
      '/migrations',
      'up',
    ];
    table([
      [
        'migrateArgs',
        db.migrateArgs(['-path', '{path}', '-database', '{database}', 'up'], '/migrations', 'postgres://u@db/x'),
        ['-path', '/migrations', '-database', 'postgres://u@db/x', 'up'],
      ],
      ['holdCreateCmd', db.holdCreateCmd(L, 'app:1'), sh(db.HOLD, hold, 'app:1')],
      ['holdRemoveCmd', db.holdRemoveCmd(L), ['docker', 'rm', '-f', hold]],
      [
        'extractMigrationsCmd',
        db.extractMigrationsCmd(L, 'togather/staging/migrations/abc', 'app:1', '/migrations', 10),
        sh(db.EXTRACT_MIGRATIONS, 'togather/staging/migrations/abc', 'app:1', '/migrations', '10', hold),
      ],
      [
        'runMigrateCmd',
        db.runMigrateCmd(L, migrate),
        sh(db.RUN_MIGRATE, 'togather-staging-migrate', '300', 'togather/staging/migrations/abc', ...migrateOpts),
      ],
      [
        'runMigrateCmd rounds up, at least 1s',
        db.runMigrateCmd(L, { ...migrate, timeoutMs: 1 }),
        sh(db.RUN_MIGRATE, 'togather-staging-migrate', '1', 'togather/staging/migrations/abc', ...migrateOpts),
      ],
      [
        'snapshotDumpCmd',
        db.snapshotDumpCmd('/s', '.partial-x.sql.gz', cmd('docker', 'exec', 'db', 'pg_dump')),
        sh(db.SNAPSHOT_DUMP, '/s', '.partial-x.sql.gz', 'docker', 'exec', 'db', 'pg_dump'),
      ],
      [
        'snapshotPublishCmd',
        db.snapshotPublishCmd('/s', '.p', 'a.sql.gz', 'a.json'),
        sh(db.SNAPSHOT_PUBLISH, '/s', '.p', 'a.sql.gz', 'a.json'),
      ],
      ['snapshotDiscardCmd', db.snapshotDiscardCmd('/s', '.p'), sh(db.SNAPSHOT_DISCARD, '/s', '.p')],
      ['snapshotListCmd', db.snapshotListCmd('/s'), sh(db.SNAPSHOT_LIST, '/s')],
      [
        'snapshotRemoveCmd',
        db.snapshotRemoveCmd('/s', ['a.sql.gz', '.partial-b']),
        sh(db.SNAPSHOT_REMOVE, '/s', 'a.sql.gz', '.partial-b'),
      ],
      ['snapshotVerifyCmd', db.snapshotVerifyCmd('/s', 'a.sql.gz'), sh(db.SNAPSHOT_VERIFY, '/s', 'a.sql.gz')],
      [
        'snapshotLoadCmd',
        db.snapshotLoadCmd('/s/a.sql.gz', cmd('docker', 'exec', '-i', 'db', 'psql')),
        sh(db.SNAPSHOT_LOAD, '/s/a.sql.gz', 'docker', 'exec', '-i', 'db', 'psql'),
      ],
    ]);
    // the closing line the dump is checked for is pg_dump's own, in both scripts that check it
    for (const s of [db.SNAPSHOT_DUMP, db.SNAPSHOT_VERIFY])
      assert.ok(s.includes(`grep -qx -- '-- PostgreSQL database dump complete'`));
  });

  test('release: the image', () => {
    const SHA = 'c'.repeat(40);
    table([
      ['imageInspectCmd', rel.imageInspectCmd('app:1'), ['docker', 'image', 'inspect', '--format', '{{.Id}}', 'app:1']],
      [
        'buildCommand',
        rel.buildCommand({ ref: 'app:1', sha: SHA, dockerfile: 'Dockerfile', buildArgs: { A: '1' } }),
        [
          'docker',
          'build',
          '--file',
          'Dockerfile',
          '--tag',
          'app:1',
          '--build-arg',
          'A=1',
          '--label',
          `org.opencontainers.image.revision=${SHA}`,
          '-',
        ],
      ],
      [
        'buildCommand with a cache',
        rel.buildCommand({ ref: 'app:1', sha: SHA, dockerfile: 'Dockerfile', buildArgs: {}, cacheDir: '/c' }),
        [
          'docker',
          'buildx',
          'build',
          '--load',
          '--cache-from',
          'type=local,src=/c',
          '--cache-to',
          'type=local,dest=/c.new,mode=max',
          '--file',
          'Dockerfile',
          '--tag',
          'app:1',
          '--label',
          `org.opencontainers.image.revision=${SHA}`,
          '-',
        ],
      ],
      ['gitArchiveCmd', rel.gitArchiveCmd(`${SHA}:srv`), ['git', 'archive', '--format=tar', `${SHA}:srv`]],
      ['buildxVersionCmd', rel.buildxVersionCmd(), ['docker', 'buildx', 'version']],
      ['buildxInspectCmd', rel.buildxInspectCmd(), ['docker', 'buildx', 'inspect']],
      ['driverStatusCmd', rel.driverStatusCmd(), ['docker', 'info', '--format', '{{json .DriverStatus}}']],
      ['cacheClearNewCmd', rel.cacheClearNewCmd('/c'), sh(rel.CACHE_CLEAR_NEW, '/c')],
      ['cacheSwapCmd', rel.cacheSwapCmd('/c'), sh(rel.CACHE_SWAP, '/c')],
      ['dockerSaveCmd', rel.dockerSaveCmd('app:1'), ['docker', 'save', 'app:1']],
      ['dockerLoadCmd', rel.dockerLoadCmd(), ['docker', 'load', '--quiet']],
      ['dockerPullCmd', rel.dockerPullCmd('app:1'), ['docker', 'pull', '--quiet', 'app:1']],
      [
        'imageTagsByDateCmd',
        rel.imageTagsByDateCmd('app'),
        ['docker', 'image', 'ls', '--format', '{{.Tag}}\t{{.CreatedAt}}', 'app'],
      ],
      ['imageTagsCmd', rel.imageTagsCmd('app'), sh(rel.IMAGE_TAGS, 'app', '%7B%22reference%22%3A%5B%22app%22%5D%7D')],
      ['containerImagesCmd', rel.containerImagesCmd(), ['docker', 'ps', '-a', '--format', '{{.Image}}']],
      ['imageRmCmd', rel.imageRmCmd('app:1'), ['docker', 'image', 'rm', 'app:1']],
    ]);
  });
});

describe('the dry-run plan', () => {
  test('every command the plan prints is one the real deploy sends, spelled the same', async () => {
    const OLD = 'a1'.repeat(20);
    const NEW = 'b2'.repeat(20);
    const real = fakeStack().serving(OLD, 'blue');
    const sent: string[] = [];
    const run = real.e.host.run.bind(real.e.host);
    real.e.host.run = (c, o) => {
      sent.push(quoteArgv(c.argv));
      return run(c, o);
    };
    const r = await deploy(real.e.ctx, { version: NEW, skipCiCheck: true });
    assert.equal(r.exitCode, 0, r.message);

    const dry = fakeStack().serving(OLD, 'blue');
    dry.e.ctx.dryRun = true;
    await deploy(dry.e.ctx, { version: NEW, skipCiCheck: true });
    const plan = dry.e.said.info.find((m) => m.startsWith('plan for'));
    assert.ok(plan, dry.e.said.info.join('\n'));
    const commands = plan
      .split('\n')
      .map((l) => /^\s+\d+\. (.*)$/.exec(l)?.[1])
      .filter((l): l is string => !!l && /^(docker|sh) /.test(l));
    // the gate up, the flag cleared, the app recreated, the old app stopped (the switch is described, not printed)
    assert.equal(commands.length, 4, plan);
    for (const c of commands)
      assert.ok(
        sent.includes(c),
        `the plan prints a command the deploy does not send: ${c}\n  sent:\n    ${sent.join('\n    ')}`,
      );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// every script in src/engine: found by reading the source, checked by sh -n and ShellCheck

/**
 * Script constants that are not exported yet, in files whose owners are rewriting them; their text is read from
 * the source instead. An entry that is exported (or gone) fails the scan: take it off this list then.
 */
interface Module {
  /** top-level constants: exported or not, and their initialiser */
  consts: Map<string, { exported: boolean; init?: ts.Expression }>;
  /** names exported by an `export { … }` list */
  reexported: Set<string>;
  /** local name → the module file and name it is imported from (relative imports only) */
  imports: Map<string, { file: string; name: string }>;
  source: ts.SourceFile;
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
    })
    .sort();
}

const modules = new Map<string, Module>();
function parse(file: string): Module {
  const known = modules.get(file);
  if (known) return known;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const m: Module = { consts: new Map(), reexported: new Set(), imports: new Map(), source };
  for (const s of source.statements) {
    if (ts.isVariableStatement(s)) {
      const exported = !!s.modifiers?.some((x) => x.kind === ts.SyntaxKind.ExportKeyword);
      for (const d of s.declarationList.declarations)
        if (ts.isIdentifier(d.name)) m.consts.set(d.name.text, { exported, init: d.initializer });
    } else if (ts.isExportDeclaration(s) && !s.moduleSpecifier && s.exportClause && ts.isNamedExports(s.exportClause)) {
      for (const e of s.exportClause.elements) m.reexported.add((e.propertyName ?? e.name).text);
    } else if (
      ts.isImportDeclaration(s) &&
      ts.isStringLiteral(s.moduleSpecifier) &&
      s.moduleSpecifier.text.startsWith('.')
    ) {
      const target = resolve(dirname(file), s.moduleSpecifier.text.replace(/\.js$/, '.ts'));
      const named = s.importClause?.namedBindings;
      if (named && ts.isNamedImports(named))
        for (const e of named.elements)
          m.imports.set(e.name.text, { file: target, name: (e.propertyName ?? e.name).text });
    }
  }
  modules.set(file, m);
  return m;
}

/** the text of a string constant without running its module: only for literals without substitutions */
function literalText(e: ts.Expression | undefined): string | undefined {
  return e && (ts.isNoSubstitutionTemplateLiteral(e) || ts.isStringLiteral(e)) ? e.text : undefined;
}

interface EngineScripts {
  /** module file → exported script constants */
  exported: Map<string, Set<string>>;
  /** exported SQL constants (…_SQL), module file → names */
  sql: Map<string, Set<string>>;
  problems: string[];
}

function scanEngine(): EngineScripts {
  const out: EngineScripts = { exported: new Map(), sql: new Map(), problems: [] };
  const add = (map: Map<string, Set<string>>, file: string, name: string) =>
    map.set(file, (map.get(file) ?? new Set()).add(name));
  for (const file of walk(ENGINE)) {
    const m = parse(file);
    const rel = relative(ENGINE, file);
    const at = (n: ts.Node) => `src/engine/${rel}:${m.source.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;

    // the first argument of script(): a constant (or a choice between constants), exported where it is declared
    const scriptArg = (e: ts.Expression, call: ts.Node): void => {
      if (ts.isParenthesizedExpression(e)) {
        scriptArg(e.expression, call);
      } else if (ts.isConditionalExpression(e)) {
        scriptArg(e.whenTrue, call);
        scriptArg(e.whenFalse, call);
      } else if (!ts.isIdentifier(e)) {
        out.problems.push(`${at(call)}: script() is given an inline text; make it an exported UPPER_SNAKE constant`);
      } else if (m.consts.has(e.text)) {
        const local = m.consts.get(e.text)!;
        if (local.exported || m.reexported.has(e.text)) add(out.exported, file, e.text);
        else
          out.problems.push(
            `${at(call)}: the script ${e.text} is not exported; export it so the script checks reach it`,
          );
      } else {
        const imported = m.imports.get(e.text);
        const t = imported && parse(imported.file);
        if (imported && t && (t.consts.get(imported.name)?.exported || t.reexported.has(imported.name)))
          add(out.exported, imported.file, imported.name);
        else
          out.problems.push(
            `${at(call)}: cannot tell which constant script(${e.text}) runs; pass an exported constant`,
          );
      }
    };

    const visit = (n: ts.Node): void => {
      if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'script') {
        if (n.arguments[0]) scriptArg(n.arguments[0], n);
      }
      // a shell started by hand, not through script(): its text would escape the checks
      const items = ts.isCallExpression(n) ? n.arguments : ts.isArrayLiteralExpression(n) ? n.elements : undefined;
      if (items) {
        for (let i = 0; i + 1 < items.length; i++) {
          if (literalText(items[i] as ts.Expression) === 'sh' && literalText(items[i + 1] as ts.Expression) === '-c')
            out.problems.push(`${at(n)}: 'sh', '-c' spelled by hand; use script() with an exported constant`);
        }
      }
      // text on stdin is data or a constant (SQL): an inline literal is neither
      if (
        ts.isPropertyAssignment(n) &&
        ts.isIdentifier(n.name) &&
        n.name.text === 'stdin' &&
        literalText(n.initializer) !== undefined
      ) {
        out.problems.push(`${at(n)}: a literal text on stdin; make it an exported constant`);
      }
      ts.forEachChild(n, visit);
    };
    visit(m.source);
    for (const [name, c] of m.consts) {
      if (!name.endsWith('_SQL')) continue;
      if (c.exported) add(out.sql, file, name);
      else out.problems.push(`src/engine/${rel}: the SQL text ${name} is not exported`);
    }
  }
  return out;
}

/** every script of the engine: name → text, read from the modules that export them */
async function engineScripts(scan: EngineScripts): Promise<Map<string, string>> {
  const all = new Map<string, string>();
  for (const [file, names] of scan.exported) {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const name of names) {
      const v = mod[name];
      assert.equal(typeof v, 'string', `${relative(ROOT, file)}: ${name} is not a string`);
      all.set(`${relative(ENGINE, file)}:${name}`, v as string);
    }
  }
  return all;
}

/*
 * ShellCheck findings that are wrong for one script, with the reason; each applies to that script alone, so a new
 * finding anywhere else still fails. The scripts themselves stay byte for byte as the engine has always sent them
 * (a `# shellcheck disable=` line inside one would change its argv). Every script runs as
 * `sh -c TEXT togather-deploy ARGS…`: its data are positional parameters and never reach a shell as code.
 */
const SHELLCHECK_EXCLUDE: Record<string, { codes: string[]; why: string }> = {
  'database/commands.ts:EXTRACT_MIGRATIONS': {
    codes: ['SC2010', 'SC2115'],
    why:
      'the copies of older releases: `ls -1t` is the one POSIX way to order by mtime, and grep keeps only 40-hex names, so ' +
      'no other name ever reaches `rm`; `$old` is such a name (read from that grep, never empty) and `$root` is the ' +
      'dirname of $1, never empty, so `rm -rf -- "$root/$old"` cannot expand to /',
  },
  'release/health.ts:RAW_GET': {
    codes: ['SC2016'],
    why:
      '$req is the inner script nc\'s -e runs (`sh -c "$3" "$1"`): its "$0" is meant for that shell, which gets the path ' +
      'as its own positional parameter, so it must not expand here',
  },
  'operations/cleanup.ts:HOUSEKEEPING': {
    codes: ['SC2010', 'SC2044'],
    why:
      'the names word-split here are generated by the tool: grep keeps only ULID.jsonl log names, and the lock ' +
      'leftovers are lock.{takeover,released,removed}.<ULID or noinfo-PID>, so none holds a blank or a glob character',
  },
};
function shellcheckVersion(): string | undefined {
  const r = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? /version: (\S+)/.exec(r.stdout)?.[1] : undefined;
}

describe("the engine's shell scripts", () => {
  const scan = scanEngine();

  test('every script(...) runs an exported constant; every SQL text is exported; no shell is started by hand', async () => {
    assert.deepEqual(scan.problems, []);
    for (const m of ['stack/commands.ts', 'database/commands.ts', 'release/commands.ts'])
      assert.ok(scan.exported.has(join(ENGINE, m)), `the scan found the scripts of ${m}`);
    const sql = [...scan.sql].flatMap(([file, names]) => [...names].map((n) => [file, n] as const));
    assert.ok(sql.length >= 6, `${sql.length} SQL texts found`);
    for (const [file, name] of sql) {
      const v = ((await import(pathToFileURL(file).href)) as Record<string, unknown>)[name];
      assert.ok(typeof v === 'string' && v.trim(), `${relative(ROOT, file)}: ${name} is a text`);
    }
  });

  test('sh -n: every script parses', async () => {
    const all = await engineScripts(scan);
    assert.ok(all.size >= 40, `${all.size} scripts found`);
    const bad: string[] = [];
    for (const [name, text] of all) {
      const r = spawnSync('sh', ['-n'], { input: text, encoding: 'utf8' });
      if (r.status !== 0) bad.push(`${name}: ${r.stderr.trim()}`);
    }
    assert.deepEqual(bad, []);
  });

  test(
    'shellcheck -s sh: no finding in any script',
    { skip: shellcheckVersion() === undefined && 'shellcheck is not installed' },
    async () => {
      const all = await engineScripts(scan);
      const bad: string[] = [];
      for (const [name, text] of all) {
        const exclude = SHELLCHECK_EXCLUDE[name]?.codes ?? [];
        const r = spawnSync(
          'shellcheck',
          ['-s', 'sh', '-f', 'gcc', ...(exclude.length ? ['-e', exclude.join(',')] : []), '-'],
          { input: text, encoding: 'utf8' },
        );
        if (r.status !== 0) bad.push(`${name}:\n${r.stdout.trim().replace(/^-:/gm, '    line ')}`);
      }
      assert.deepEqual(bad, []);
    },
  );
});
