/*
 * mkmap_source_test - logical lines and "key whitespace value" splitting as Postfix's postmap does them
 *
 * Expected values follow postmap(1) INPUT FILE FORMAT and what the real
 * /usr/sbin/postmap 3.7.11 stored for the same lines (checked by
 * test/oracle/postmap_build_test.ts on the fixture
 * src/postmap/testdata/postmap_tricky.map).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { captureWarnings } from './dict_test_lib.js';
import { mkmapArgPath, mkmapLogicalLines, mkmapRawArgv, mkmapSplitEntry, msgPrintable } from './mkmap_source.js';

test('mkmapLogicalLines: comments, blank lines, continuations, line numbers', async () => {
  const text = [
    '  stray leading text', // 1: nothing to continue: warned, dropped
    '# comment', //           2
    '', //                    3
    'k1 v1', //               4
    '# between', //           5
    '', //                    6
    '  cont', //              7: continues k1 across a comment and a blank line
    'k2\tv2', //              8
    '   # indented comment', // 9
    'k3 v3', //               10 (no final newline)
  ].join('\n');
  const { result, lines } = await captureWarnings(() => mkmapLogicalLines(text, 'src'));
  assert.deepEqual(result, [
    { text: 'k1 v1  cont', line: 4 },
    { text: 'k2\tv2', line: 8 },
    { text: 'k3 v3', line: 10 },
  ]);
  assert.deepEqual(lines, ['warning: src: logical line must not start with whitespace: "  stray leading text"']);
});

test('mkmapLogicalLines: a long stray line is quoted to 30 bytes', async () => {
  const { lines } = await captureWarnings(() => mkmapLogicalLines(' 123456789012345678901234567890xyz\n', 'f'));
  assert.deepEqual(lines, ['warning: f: logical line must not start with whitespace: " 12345678901234567890123456789..."']);
});

test('mkmapSplitEntry: quoted keys keep their quotes, backslash escapes, value trimmed', () => {
  assert.deepEqual(mkmapSplitEntry('Foo bar  baz'), { key: 'Foo', value: 'bar  baz' });
  assert.deepEqual(mkmapSplitEntry('"a b"@x  v w \r'), { key: '"a b"@x', value: 'v w' });
  assert.deepEqual(mkmapSplitEntry('"a\\" b"@x v'), { key: '"a\\" b"@x', value: 'v' });
  assert.deepEqual(mkmapSplitEntry('k4\\ x y'), { key: 'k4\\ x', value: 'y' });
  assert.deepEqual(mkmapSplitEntry('k\t\tv\tw'), { key: 'k', value: 'v\tw' });
  assert.deepEqual(mkmapSplitEntry('k3 "unbal'), { key: 'k3', value: '"unbal' });
  assert.deepEqual(mkmapSplitEntry('"unbal v'), { error: 'unbalanced' });
  assert.deepEqual(mkmapSplitEntry('keyonly'), { error: 'format' });
  assert.deepEqual(mkmapSplitEntry('key   '), { error: 'format' });
  assert.deepEqual(mkmapSplitEntry('trailing\\'), { error: 'format' });
});

test('msgPrintable: invalid bytes and controls become ?, valid UTF-8 stays', () => {
  assert.equal(msgPrintable('caf\xe9 x'), 'caf? x');
  assert.equal(msgPrintable('\xff\xfe x'), '?? x');
  assert.equal(msgPrintable('caf\xc3\xa9'), 'caf\xc3\xa9');
  assert.equal(msgPrintable('caf\xc3\xa9', false), 'caf??');
  assert.equal(msgPrintable('a\tb'), 'a?b');
});

test('mkmapRawArgv / mkmapArgPath: arguments as byte strings and back', () => {
  // This process's own arguments: ASCII here, so bytes and characters agree.
  const argv = process.argv.slice(2);
  assert.deepEqual(mkmapRawArgv(argv), argv.map((a) => Buffer.from(a, 'utf8').toString('latin1')));
  // Arguments that are not this process's: UTF-8 encoded.
  assert.deepEqual(mkmapRawArgv(['café', 'x', 'y', 'z', 'w', 'v', 'u', 't', 's', 'r', 'q', 'p']).slice(0, 1), ['caf\xc3\xa9']);
  assert.equal(mkmapArgPath('/tmp/caf\xc3\xa9'), '/tmp/café');
});
