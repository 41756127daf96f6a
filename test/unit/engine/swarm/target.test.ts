/**
 * The swarm target's view of which releases can start again: a task may land on any node, so a version counts only
 * when the manager and every listed node hold its image; a node that cannot be asked is named.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { swarmTarget } from '../../../../src/engine/swarm/target.js';
import { DeployError } from '../../../../src/errors.js';
import { ScriptedHost, fakeConfig, fakeEngine } from '../../../fakes/host.js';

const sha = (c: string) => c.repeat(40);
const tags = /docker image ls --format '\{\{\.Tag\}\}' "\$1"/;

describe('swarm imagesPresent', () => {
  it('keeps only the versions every node holds', async () => {
    const { ctx, host, clock } = fakeEngine(fakeConfig());
    host.on(tags, { stdout: [sha('a'), sha('b'), sha('c'), 'latest'].join('\n') });
    const n2 = new ScriptedHost(clock);
    n2.on(tags, { stdout: [sha('a'), sha('b')].join('\n') });
    const n3 = new ScriptedHost(clock);
    n3.on(tags, { stdout: [sha('b'), sha('c')].join('\n') });
    ctx.nodeHosts = () => [
      { name: 'n2', host: n2 },
      { name: 'n3', host: n3 },
    ];
    assert.deepEqual([...(await swarmTarget.imagesPresent(ctx))], [sha('b')]);
  });

  it('names the node it could not ask', async () => {
    const { ctx, host, clock } = fakeEngine(fakeConfig());
    host.on(tags, { stdout: sha('a') });
    const n2 = new ScriptedHost(clock);
    n2.on(tags, () => {
      throw new Error('ssh: connect to host 10.0.0.12 port 22: No route to host');
    });
    ctx.nodeHosts = () => [{ name: 'n2', host: n2 }];
    await assert.rejects(
      () => swarmTarget.imagesPresent(ctx),
      (e: unknown) => e instanceof DeployError && /node n2/.test(e.message) && /No route to host/.test(e.message),
    );
  });
});
