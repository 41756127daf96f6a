import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quote, quoteArgv } from '../../../src/util/shell.js';

test('quote: argv becomes one shell word each, whatever it holds', () => {
  assert.equal(quote('plain-word_1.2/x'), 'plain-word_1.2/x');
  assert.equal(quote(''), "''");
  assert.equal(quote("it's"), `'it'\\''s'`);
  assert.equal(quote('$(touch /tmp/x)'), `'$(touch /tmp/x)'`);
  assert.equal(quoteArgv(['echo', 'a b', '`id`', 'x\ny']), `echo 'a b' '\`id\`' 'x\ny'`);
});
