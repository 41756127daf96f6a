import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { engineAnswer } from '../../../src/engine/engine-api.js';
import { PREFLIGHT } from '../../../src/engine/release/preflight.js';
import { imageTagsCmd } from '../../../src/engine/release/commands.js';
import { parseImageTags } from '../../../src/engine/release/image.js';
import { parseStackFacts } from '../../../src/engine/stack/colours.js';
import { inspectStackCmd, resumeAppCmd } from '../../../src/engine/stack/commands.js';
import { parseProbe, probeCmd } from '../../../src/engine/release/health.js';
import type { HealthConfig } from '../../../src/config/schema.js';
import { Layout } from '../../../src/engine/stack/layout.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/*
 * The scripts that read the engine over its API, run by sh with a fake curl and a fake docker first on PATH
 * (each says which one answered), against a real unix socket file: the API answers when it may be asked, the
 * CLI answers the same facts when it may not (a docker context, a tcp DOCKER_HOST, no socket).
 */
describe('engine reads: the API over its socket, else the docker CLI', () => {
  let dir: string;
  let server: Server;
  let sock: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tgd-engine-api-'));
    sock = join(dir, 'docker.sock');
    server = createServer();
    await new Promise<void>((res) => server.listen(sock, res));
    const bin = join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin, join(dir, 'home')]);
    const list = JSON.stringify([
      { Names: ['/tg-x-app-blue'], State: 'exited', Image: `app:${A}` },
      { Names: ['/tg-x-app-green'], State: 'running', Image: `app:${B}` },
      { Names: ['/tg-x-caddy'], State: 'running', Image: 'caddy:2' },
      { Names: ['/tg-x-y-app-blue'], State: 'running', Image: 'other:1' },
    ]);
    const images = JSON.stringify([
      { RepoTags: [`app:${A}`, 'app:latest'] },
      { RepoTags: [`app:${B}`] },
      { RepoTags: null },
    ]);
    // the fake curl answers by path, and records that it was asked
    writeFileSync(
      join(bin, 'curl'),
      `#!/bin/sh\nfor a; do u=$a; done\necho curl >> "${dir}/asked"\n` +
        // what an exec was made with: the argument after --data-binary
        `d=; for a; do [ "$d" = next ] && printf '%s' "$a" > "${dir}/exec-body" && d=; [ "$a" = --data-binary ] && d=next; done\n` +
        `case "$u" in\n` +
        `*/version) echo '{"Components":[{"Name":"Engine","Version":"26.1.5"}],"Version":"26.1.5","ApiVersion":"1.45","KernelVersion":"6.1"}';;\n` +
        `*/info) echo '{"ID":"x","DockerRootDir":"/","Name":"h"}';;\n` +
        `*/containers/json*) echo '${list}';;\n*/images/json*) echo '${images}';;\n` +
        `*/containers/tg-x-app-gone/start) exit 22;;\n*/containers/*/start) ;;\n` +
        `*/containers/tg-x-gate-cut/exec) echo '{"Id":"0123abcd00"}';;\n` +
        `*/containers/tg-x-gate-refused/exec) echo '{"Id":"0123abcd01"}';;\n` +
        `*/containers/*/exec) echo '{"Id":"0123abcdef"}';;\n` +
        `*/exec/0123abcdef/start) printf 'passes=2 probes=3\\r\\n  HTTP/1.1 200 OK\\r\\n{"status":"healthy"}\\r\\n\\r\\nrc=0\\r\\n';;\n` +
        // an exec that ran and whose stream was cut (curl's time limit), and one the engine refused to start
        `*/exec/0123abcd00/start) printf 'passes=2 probes=2\\r\\n  HTTP/1.1 200 OK\\r\\n{"sta'; exit 28;;\n` +
        `*/exec/0123abcd01/start) exit 22;;\n` +
        `*/containers/*/json) echo '{"Id":"c","State":{"Status":"running","ExitCode":0},"RestartCount":0}';;\n` +
        `*) exit 22;;\nesac\n`,
    );
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh\necho docker >> "${dir}/asked"\ncase "$1 $2" in\n` +
        `"version --format") echo 26.1.5;;\n"info --format") echo /;;\n` +
        `"container inspect") printf '/tg-x-app-blue exited app:${A}\\n/tg-x-app-green running app:${B}\\n/tg-x-caddy running caddy:2\\n'; exit 1;;\n` +
        `"image ls") printf '${A}\\nlatest\\n${B}\\n';;\n"compose version") echo 2.26.1;;\n` +
        `"start --") echo "$3";;\n"inspect -f") echo 'running 0 0';;\n` +
        `"exec tg-x-gate-blue"|"exec tg-x-gate-refused") printf 'passes=2 probes=3\\n  HTTP/1.1 200 OK\\n{"status":"healthy"}\\n\\nrc=0\\n';;\nesac\n`,
    );
    chmodSync(join(bin, 'curl'), 0o755);
    chmodSync(join(bin, 'docker'), 0o755);
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function run(argv: readonly string[], env: Record<string, string>): { out: string; asked: string } {
    rmSync(join(dir, 'asked'), { force: true });
    const r = spawnSync(argv[0]!, argv.slice(1), {
      env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, HOME: join(dir, 'home'), ...env },
      encoding: 'utf8',
    });
    let asked = '';
    try {
      asked = spawnSync('sort', ['-u', join(dir, 'asked')], { encoding: 'utf8' }).stdout.trim();
    } catch {
      /* nothing asked */
    }
    return { out: r.stdout, asked };
  }

  const viaApi = () => ({ DOCKER_HOST: `unix://${sock}` });
  /** the names a colour's scripts use; the gate's may be one the fake engine treats apart */
  const layoutOf = (app: string, gate = 'tg-x-gate-blue') =>
    ({ app: () => app, gate: () => gate }) as unknown as Layout;
  const health = { interval: 100, timeout: 2000, consecutive: 2, path: '/health' } as HealthConfig;
  const viaCli: [string, () => Record<string, string>][] = [
    ['a docker context', () => ({ DOCKER_HOST: `unix://${sock}`, DOCKER_CONTEXT: 'remote' })],
    ['a tcp DOCKER_HOST', () => ({ DOCKER_HOST: 'tcp://127.0.0.1:2375' })],
    ['no socket there', () => ({ DOCKER_HOST: `unix://${dir}/none.sock` })],
  ];

  test('the stack: the same facts from the engine list (exact names only) and from the CLI', () => {
    const layout = { stack: 'tg-x', root: dir } as unknown as Layout;
    const api = run(inspectStackCmd(layout).argv, viaApi());
    assert.equal(api.asked, 'curl');
    assert.ok(engineAnswer(api.out));
    const facts = parseStackFacts(api.out, 'tg-x');
    assert.deepEqual(facts.blue, { flag: false, gate: 'absent', app: 'exited', image: `app:${A}` });
    assert.deepEqual(facts.green, { flag: false, gate: 'absent', app: 'running', image: `app:${B}` });
    assert.equal(facts.caddy, 'running');
    for (const [why, env] of viaCli) {
      const cli = run(inspectStackCmd(layout).argv, env());
      assert.equal(cli.asked, 'docker', why);
      assert.deepEqual(parseStackFacts(cli.out, 'tg-x'), facts, why);
    }
  });

  test('the app images: the same commit tags from the engine list and from the CLI', () => {
    const api = run(imageTagsCmd('app').argv, viaApi());
    assert.equal(api.asked, 'curl');
    assert.deepEqual([...parseImageTags(api.out, 'app')].sort(), [A, B]);
    for (const [why, env] of viaCli) {
      const cli = run(imageTagsCmd('app').argv, env());
      assert.equal(cli.asked, 'docker', why);
      assert.deepEqual([...parseImageTags(cli.out, 'app')].sort(), [A, B], why);
    }
  });

  test("the preflight: the engine's version and data root from the API, else from the CLI", () => {
    const argv = ['sh', '-c', PREFLIGHT, 'togather-deploy', dir];
    const api = run(argv, viaApi());
    assert.match(api.out, /^docker=26\.1\.5$/m);
    assert.match(api.out, /^docker_free_kb=\d+$/m);
    assert.match(api.out, /^compose2=2\.26\.1$/m);
    for (const [why, env] of viaCli) {
      const cli = run(argv, env());
      assert.match(cli.out, /^docker=26\.1\.5$/m, why);
      assert.match(cli.out, /^docker_free_kb=\d+$/m, why);
    }
  });

  test('a warm start: the engine starts the container over its API, else (or when it refuses) docker start does', () => {
    const layout = layoutOf('tg-x-app-blue');
    const api = run(resumeAppCmd(layout, 'blue').argv, viaApi());
    assert.equal(api.asked, 'curl');
    for (const [why, env] of viaCli) {
      const cli = run(resumeAppCmd(layout, 'blue').argv, env());
      assert.equal(cli.asked, 'docker', why);
      assert.equal(cli.out.trim(), 'tg-x-app-blue', why);
    }
    assert.equal(
      run(resumeAppCmd(layoutOf('tg-x-app-gone'), 'blue').argv, viaApi()).asked,
      'curl\ndocker',
      'refused: docker start says why',
    );
  });

  test("a round of health probes: the same answer run through the engine's exec API as through docker exec", () => {
    const { cmd } = probeCmd(health, 8080, layoutOf('tg-x-app-blue'), 'blue');
    const api = run(cmd.argv, viaApi());
    assert.equal(api.asked, 'curl');
    const round = parseProbe(api.out);
    assert.deepEqual(
      [round.code, round.body, round.passes, round.probes, round.state, round.restarts],
      [200, '{"status":"healthy"}', 2, 3, 'running', 0],
    );
    assert.doesNotMatch(api.out, /\r/, "the terminal's carriage returns are gone");
    // the exec runs the loop with the same arguments docker exec would give it
    const body = JSON.parse(readFileSync(join(dir, 'exec-body'), 'utf8')) as { Tty: boolean; Cmd: string[] };
    assert.equal(body.Tty, true);
    assert.deepEqual(body.Cmd.slice(3), ['togather-deploy', ...cmd.argv.slice(6, 13)]);
    assert.equal(body.Cmd[4], '2');
    assert.equal(body.Cmd[5], 'http://127.0.0.1:8080/health');
    for (const [why, env] of viaCli) {
      const cli = run(cmd.argv, env());
      assert.equal(cli.asked, 'docker', why);
      assert.deepEqual(parseProbe(cli.out), round, why);
    }
  });

  test('a round whose exec ran but whose stream was cut is not run again; one the engine refused is run by docker exec', () => {
    const gated = (gate: string) => probeCmd(health, 8080, layoutOf('tg-x-app-blue', gate), 'blue').cmd.argv;
    const cut = run(gated('tg-x-gate-cut'), viaApi());
    assert.equal(cut.asked, 'curl', 'no second round through docker exec');
    const p = parseProbe(cut.out);
    assert.deepEqual([p.code, p.passes, p.state], [0, 0, 'running'], 'a cut round is no answer');
    const refused = run(gated('tg-x-gate-refused'), viaApi());
    assert.equal(refused.asked, 'curl\ndocker');
    assert.equal(parseProbe(refused.out).code, 200);
  });
});
