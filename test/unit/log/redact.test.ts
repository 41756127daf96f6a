import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor } from '../../../src/log/redact.js';

test('redactor masks secrets and their derived forms, and unregistered URL passwords', () => {
  const r = new Redactor();
  r.add('postgres://app:s3cr%2Ft@db:5432/togather');
  r.add('tok-ABCDEF-123');
  const text = `url=postgres://app:s3cr%2Ft@db:5432/togather pw=s3cr/t b64=${Buffer.from('tok-ABCDEF-123').toString('base64')} enc=${encodeURIComponent('tok-ABCDEF-123')}`;
  const out = r.redact(text);
  assert.ok(!out.includes('s3cr'), out);
  assert.ok(!out.includes('tok-ABCDEF'), out);
  assert.ok(!out.includes(Buffer.from('tok-ABCDEF-123').toString('base64')), out);
  assert.equal(
    new Redactor().redact('see mysql://u:hunter22@h/db and Authorization: Bearer abc.def'),
    'see mysql://u:***@h/db and Authorization: Bearer ***',
  );
});

test('an age secret key is masked without being registered (a key pasted where a recipient belongs)', () => {
  const key = 'AGE-SECRET-KEY-1QYQSZQGPRYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQ';
  assert.equal(new Redactor().redact(`recipients[0]: "${key}" is not valid`), 'recipients[0]: "***" is not valid');
  assert.equal(new Redactor().redact(`"${key.toLowerCase()}"`), '"***"');
});
