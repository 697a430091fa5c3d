/*
 * cleanup_dup_filter_test - the per-message duplicate filter (Postfix been_here with BH_FLAG_FOLD)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DupFilter, asciiLower, recipientKey } from './cleanup_dup_filter.js';

test('keys compare case-insensitively, ASCII letters only', () => {
  const f = new DupFilter(0);
  assert.equal(f.seen('User@Example.COM'), false);
  assert.equal(f.seen('user@example.com'), true);
  assert.equal(f.seen('\u00c4@example.com'), false);
  assert.equal(f.seen('\u00e4@example.com'), false, 'lowercase() leaves 8-bit characters alone');
  assert.equal(asciiLower('AbC\u00c4'), 'abc\u00c4');
});

test('once the limit is reached new keys are no longer remembered', () => {
  const f = new DupFilter(2);
  assert.equal(f.seen('a'), false);
  assert.equal(f.seen('b'), false);
  assert.equal(f.seen('c'), false);
  assert.equal(f.seen('c'), false, 'the third key was not remembered');
  assert.equal(f.seen('a'), true, 'earlier keys still are');
  assert.equal(f.size, 2);
});

test('a limit of zero or less means no limit', () => {
  for (const limit of [0, -1]) {
    const f = new DupFilter(limit);
    for (let i = 0; i < 2000; i++) assert.equal(f.seen(`k${i}`), false);
    assert.equal(f.seen('k1999'), true);
  }
});

test('check() looks without remembering', () => {
  const f = new DupFilter(0);
  assert.equal(f.check('x'), false);
  assert.equal(f.seen('x'), false);
  assert.equal(f.check('X'), true);
});

test('recipient keys: DSN ORCPT, NOTIFY, original and final recipient, or the recipient alone', () => {
  assert.equal(recipientKey(true, 'rfc822;a@b', 2, 'a@b', 'c@d'), 'rfc822;a@b\n2\na@b\nc@d');
  assert.equal(recipientKey(false, 'rfc822;a@b', 2, 'a@b', 'c@d'), 'c@d');
});
