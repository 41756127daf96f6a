import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  judgePreflight,
  parsePreflight,
  unixSocket,
  versionAtLeast,
} from '../../../../src/engine/release/preflight.js';
import { DeployError, ExitCode } from '../../../../src/errors.js';

test('preflight: the socket the keeper mounts comes from a unix DOCKER_HOST only', () => {
  assert.equal(unixSocket(undefined), '/var/run/docker.sock');
  assert.equal(unixSocket('unix:///run/user/1000/docker.sock'), '/run/user/1000/docker.sock');
  assert.equal(
    judgePreflight(parsePreflight('docker=27.1.0\ncompose2=2.29.1\ndocker_host=unix:///srv/d.sock\n'), 0).dockerSocket,
    '/srv/d.sock',
  );
  for (const h of [
    'tcp://10.0.0.1:2376',
    'ssh://me@host',
    'unix://relative.sock',
    'unix:///a b.sock',
    'unix:///x/../etc/shadow',
    'unix:///a$(id).sock',
  ]) {
    assert.equal(unixSocket(h), undefined, h);
  }
});

test('preflight: versions, compose flavour, disk, all problems at once', () => {
  assert.ok(versionAtLeast('20.10.24+dfsg1', [20, 10]));
  assert.ok(!versionAtLeast('19.03.1', [20, 10]));
  const f = judgePreflight(parsePreflight('docker=20.10.24\ncompose1=1.29.2\nfree_kb=2097152\n'), 1024);
  assert.deepEqual(f.compose, ['docker-compose']);
  assert.deepEqual(judgePreflight(parsePreflight('docker=27.1.0\ncompose2=2.29.1\ncompose1=1.29.2\n'), 0).compose, [
    'docker',
    'compose',
  ]);
  try {
    judgePreflight(parsePreflight('docker=\nfree_kb=1024\n'), 1024);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof DeployError);
    assert.equal(e.exitCode, ExitCode.preflight);
    assert.match(e.message, /docker does not answer/);
    assert.match(e.message, /compose/);
    assert.match(e.message, /only 1 MiB free/);
  }
});
