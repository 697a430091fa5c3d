/*
 * postalias_parse_test - aliasEntry() on the lines whose results were read from the real postalias
 *
 * Every expected key and value below is what Postfix 3.7's postalias
 * stored for the same line (dumped from its lmdb: table), and every
 * expected warning is the one it printed; the differential test
 * (test/oracle/postalias_diff_test.ts) checks the whole program.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureWarnings } from '../global/dict_test_lib.js';
import { mkmapLogicalLines } from '../global/mkmap_source.js';
import { aliasEntry, aliasLineUtf8Ok, ALIAS_LINE_WARNING } from './postalias_parse.js';

const entry = (line: string) => aliasEntry(line);

test('names in internal form, values in external form with Postfix spacing', () => {
  assert.deepEqual(entry('Root: foo, "bar baz"@x'), { kind: 'entry', key: 'Root', value: 'foo, "bar baz"@x' });
  assert.deepEqual(entry('"a b": c'), { kind: 'entry', key: 'a b', value: 'c' });
  assert.deepEqual(entry('bar (comment) : "q x" , <y@z>,  w (c)  '), { kind: 'entry', key: 'bar (comment)', value: '"q x", <y@z>, w (c)' });
  assert.deepEqual(entry('list: :include:/etc/x'), { kind: 'entry', key: 'list', value: ':include:/etc/x' });
  assert.deepEqual(entry('neg: |"cmd arg"'), { kind: 'entry', key: 'neg', value: '|"cmd arg"' });
  assert.deepEqual(entry('empty: ""'), { kind: 'entry', key: 'empty', value: '""' });
  assert.deepEqual(entry('"": x'), { kind: 'entry', key: '', value: 'x' });
  assert.deepEqual(entry('two:colons: value'), { kind: 'entry', key: 'two', value: 'colons:value' });
  assert.deepEqual(entry('cr: v\r'), { kind: 'entry', key: 'cr', value: 'v' });
});

test('a trailing comma keeps a space after it, as Postfix 3.7 stores it', () => {
  assert.deepEqual(entry('a: x,'), { kind: 'entry', key: 'a', value: 'x, ' });
  assert.deepEqual(entry('b: x,y'), { kind: 'entry', key: 'b', value: 'x, y' });
  assert.deepEqual(entry('d: ,'), { kind: 'entry', key: 'd', value: ', ' });
  assert.deepEqual(entry('e: x,,'), { kind: 'entry', key: 'e', value: 'x, , ' });
});

test('refused lines: the warnings Postfix gives', () => {
  assert.deepEqual(entry('x@y: z'), { kind: 'warning', text: ALIAS_LINE_WARNING.NOT_LOCAL });
  assert.deepEqual(entry('"A.B"@: v'), { kind: 'warning', text: ALIAS_LINE_WARNING.NOT_LOCAL });
  assert.deepEqual(entry('novalue:'), { kind: 'warning', text: ALIAS_LINE_WARNING.NEED_PAIR });
  assert.deepEqual(entry(': nokey'), { kind: 'warning', text: ALIAS_LINE_WARNING.NEED_PAIR });
  assert.deepEqual(entry('bad\\: q'), { kind: 'warning', text: ALIAS_LINE_WARNING.NEED_PAIR });
  assert.deepEqual(entry('a,b: x'), { kind: 'warning', text: ALIAS_LINE_WARNING.NEED_PAIR });
  assert.deepEqual(entry('   '), { kind: 'empty' });
});

test('continuation lines are joined without the newline; a quoted name may span them', async () => {
  const { result: lines, lines: warnings } = await captureWarnings(() => mkmapLogicalLines('"a\n  b": x\nc: "d\n\te"\nfoo: a,\n#c\n  b\n', 'f'));
  assert.deepEqual(lines.map((l) => [l.line, aliasEntry(l.text)]), [
    [1, { kind: 'entry', key: 'a  b', value: 'x' }],
    [3, { kind: 'entry', key: 'c', value: '"d e"' }],
    [5, { kind: 'entry', key: 'foo', value: 'a, b' }],
  ]);
  assert.deepEqual(warnings, []);
});

test('UTF-8 check: only with UTF-8 active, ASCII always passes', () => {
  assert.equal(aliasLineUtf8Ok('lat: caf\xe9', true), false);
  assert.equal(aliasLineUtf8Ok('lat: caf\xe9', false), true);
  assert.equal(aliasLineUtf8Ok('utf: caf\xc3\xa9', true), true);
  assert.equal(aliasLineUtf8Ok('plain: ascii', true), true);
});
