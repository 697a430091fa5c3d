/*
 * maps_test - Maps: table order, errors, empty keys and results (Postfix maps_find)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DictError, dictCacheClear } from './dict.js';
import { Maps } from './maps.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

test('the first table with a result wins; braces keep a table together', async () => {
  dictCacheClear();
  const m = new Maps('virtual_alias_maps', 'inline:{a=1}, inline:{ a=2, b=2 }\tinline:{ {c = with space} }');
  assert.equal(m.empty, false);
  assert.equal(m.dicts.length, 3);
  assert.equal(await m.find('a'), '1');
  assert.equal(await m.find('B'), '2');
  assert.equal(await m.find('c'), 'with space');
  assert.equal(await m.find('d'), null);
  assert.equal(new Maps('x', '').empty, true);
  assert.equal(new Maps('x', ' , ').empty, true);
});

test('an empty key is never looked up', async () => {
  dictCacheClear();
  const m = new Maps('m', 'inline:{=x}, fail:f');
  assert.equal(await m.find(''), null);
});

test('the first failing table stops the search with its DictError', async () => {
  dictCacheClear();
  const m = new Maps('canonical_maps', 'inline:{a=1}, fail:broken, inline:{b=2}');
  const { lines } = await captureWarnings(() => assert.rejects(m.find('b'), (e: unknown) => e instanceof DictError && e.table === 'fail:broken'));
  assert.deepEqual(lines, ['warning: fail:broken lookup error for "b"']);
  assert.equal(await m.find('a'), '1');
});

test('an empty result is a configuration error, as in Postfix', async () => {
  dictCacheClear();
  const m = new Maps('sender_canonical_maps', 'inline:{a=}');
  const { lines } = await captureWarnings(() => assert.rejects(m.find('a'), DictError));
  assert.deepEqual(lines, [
    'warning: sender_canonical_maps lookup of a returns an empty string result',
    'warning: sender_canonical_maps should return NO RESULT in case of NOT FOUND',
  ]);
});

test('findFixed skips pattern tables; fold:false keeps case', async (t) => {
  dictCacheClear();
  const re = tableFile(t, 'r', '/^a$/ from-regexp\n');
  const m = new Maps('m', `regexp:${re}, inline:{a=from-inline}`);
  assert.equal(await m.find('a'), 'from-regexp');
  assert.equal(await m.findFixed('a'), 'from-inline');
  const raw = new Maps('m', 'inline:{Key=v}', { fold: false });
  assert.equal(await raw.find('key'), null);
  assert.equal(await raw.find('Key'), 'v');
});
