/** versions: the data and the one text both adapters show (CLI stdout, the action's log and job summary). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { versions } from '../../../../src/engine/operations/versions.js';
import { fakeStack } from '../../../fakes/host.js';

describe('versions', () => {
  const OLD = 'c3'.repeat(20);
  const NEW = 'd4'.repeat(20);

  test('the data as listVersions gives it, and the text: current (short SHA, ref only when there is one), then the picker', async () => {
    const stack = fakeStack().serving(OLD, 'blue').serving(NEW, 'green');
    const v = await versions(stack.e.ctx);
    assert.equal(v.data.current?.version, NEW);
    assert.deepEqual(
      v.data.candidates.map((c) => c.version),
      [OLD],
    );
    const [current, heading, ...picker] = v.text.split('\n');
    assert.match(current!, new RegExp(`^current: ${NEW.slice(0, 12)} since \\S+$`));
    assert.equal(heading, 'can roll back to:');
    assert.equal(picker.length, 1);
    assert.match(picker[0]!, new RegExp(`^  ${OLD.slice(0, 12)} .*\\[default\\]$`));
  });

  test('nothing deployed: current none, nothing to roll back to', async () => {
    const v = await versions(fakeStack().e.ctx);
    assert.equal(v.text, 'current: none\ncan roll back to:\n  (none: no earlier successful deployment in the history)');
  });
});
