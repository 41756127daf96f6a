import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderEnvFile } from '../../../../src/engine/stack/files.js';

test('env file rendering keeps values literal for compose', () => {
  assert.equal(
    renderEnvFile({ A: 'plain', B: 'has space', C: "it's", D: 'p$w' }),
    `A=plain\nB="has space"\nC="it's"\nD='p$w'\n`,
  );
  // backslashes: doubled inside double quotes, which compose v1 and v2 both decode
  assert.equal(renderEnvFile({ E: 'a\\b\\\\c"d' }), 'E="a\\\\b\\\\\\\\c\\"d"\n');
  assert.throws(() => renderEnvFile({ T: 'x\\' }), /ends with a backslash/);
  assert.throws(() => renderEnvFile({ C: "it's $x" }), /both ' and \$/);
  assert.throws(() => renderEnvFile({ A: 'x\ny' }), /line break/);
  // compose v1 substitutes ${NAME} even inside single quotes, and collapses \\ there
  assert.throws(() => renderEnvFile({ F: 'x${HOME}' }), /\$\{…\}/);
  assert.throws(() => renderEnvFile({ G: 'a\\\\b$c' }), /double backslash/);
  assert.throws(() => renderEnvFile({ H: 'p$w\\' }), /ends with a backslash/);
  assert.equal(renderEnvFile({ I: '$x:${y:?z}' }), "I='$x:${y:?z}'\n");
});
