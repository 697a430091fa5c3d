/*
 * dict_texthash_test - texthash: tables (expected values checked with postmap -q)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dictCacheClear, dictOpen } from './dict.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

test('key whitespace value, quoting, continuation, folding, first duplicate wins', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 't', 'Key1 value one\nkey1 dup\nnovalue\n  cont\n"a b"@x v1\n"a\\" b"@y v2\nkey:3 colon\nalone\n"open v\nkey: v\n');
  const { result: d, lines } = await captureWarnings(() => dictOpen(`texthash:${f}`));
  assert.deepEqual(lines, [
    `warning: ${f}, line 2: duplicate entry: "key1"`,
    `warning: ${f}, line 8: expected format: key whitespace value -- ignoring this line`,
    `warning: ${f}, line 9: unbalanced '"' in '"open v' -- ignoring this line`,
    `warning: ${f}, line 10: record is in "key: value" format; is this an alias file?`,
  ]);
  assert.equal(await d.lookup('KEY1'), 'value one');
  assert.equal(await d.lookup('novalue'), 'cont');
  assert.equal(await d.lookup('"a b"@x'), 'v1');
  assert.equal(await d.lookup('"A\\" B"@Y'), 'v2');
  assert.equal(await d.lookup('key:3'), 'colon');
  assert.equal(await d.lookup(''), null);
  assert.equal(d.pattern, false);
  const raw = (await captureWarnings(() => dictOpen(`texthash:${f}`, { fold: false }))).result;
  assert.equal(await raw.lookup('KEY1'), null);
  assert.equal(await raw.lookup('key1'), 'dup');
});

test('a missing file is a surrogate with "open database"', async () => {
  dictCacheClear();
  const { lines } = await captureWarnings(() => dictOpen('texthash:/nonexistent/t'));
  assert.deepEqual(lines, ['warning: texthash:/nonexistent/t is unavailable. open database /nonexistent/t: No such file or directory']);
});
