import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liveColour, parseStackFacts } from '../../../../src/engine/stack/colours.js';

test('the live colour is what the gates route, state only breaks ties', () => {
  const facts = parseStackFacts(
    'blue.gate=running togather-test/gate:1\nblue.app=running img:1\nblue.flag=on\n' +
      'green.gate=running g\ngreen.app=exited img:0\ngreen.flag=off\ncaddy=running c\ndb=running p\n',
  );
  assert.equal(facts.blue.image, 'img:1');
  assert.equal(facts.dbImage, 'p');
  assert.equal(parseStackFacts('db=absent\n').dbImage, undefined);
  assert.equal(liveColour(facts, 'green'), 'blue');
  const both = parseStackFacts('blue.app=running a\nblue.flag=on\ngreen.app=running b\ngreen.flag=on\n');
  assert.equal(liveColour(both, 'green'), 'green');
  assert.equal(liveColour(parseStackFacts('blue.app=absent\nblue.flag=on\n')), undefined);
});
