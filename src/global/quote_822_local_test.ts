/*
 * quote_822_local_test - local-part quoting for headers (822) and SMTP (821)
 *
 * Tables of inputs and the results Postfix's quote_822_local,
 * unquote_822_local and quote_821_local give for them (the rules are in
 * the module headers); the round trip quote -> unquote must be the
 * identity for every table input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quote821Local } from './quote_821_local.js';
import { QUOTE_FLAG, quote822Local, unquote822Local } from './quote_822_local.js';

const QUOTE_822: Array<[string, string]> = [
  ['user@example.com', 'user@example.com'],
  ['first.last@example.com', 'first.last@example.com'],
  ['a b@x', '"a b"@x'],
  ['a..b@x', '"a..b"@x'],
  ['.lead@x', '".lead"@x'],
  ['trail.@x', '"trail."@x'],
  ['@x', '""@x'],
  ['', '""'],
  ['a@b@c', '"a@b"@c'],
  ['q"uote@x', '"q\\"uote"@x'],
  ['back\\slash@x', '"back\\\\slash"@x'],
  ['cr\rlf@x', '"cr\\\rlf"@x'],
  ['tab\there@x', '"tab\there"@x'],
  ['a(b)@x', '"a(b)"@x'],
  ['a,b;c:d@x', '"a,b;c:d"@x'],
  ['[lit]@x', '"[lit]"@x'],
  ['user+tag=x/y!z%w@x', 'user+tag=x/y!z%w@x'],
  ['@r1,@r2:j@k', '@r1,@r2:j@k'],
  ['@r1,@r2:a b@k', '@r1,@r2:"a b"@k'],
  ['@r1:@k', '@r1:""@k'],
  ['bare local', '"bare local"'],
  ['j\u00f6rg@x', 'j\u00f6rg@x'],
  ['a b@[1.2.3.4]', '"a b"@[1.2.3.4]'],
];

test('quote822Local: dot-strings stay, everything else becomes a quoted-string', () => {
  for (const [input, want] of QUOTE_822) assert.equal(quote822Local(input), want, JSON.stringify(input));
});

test('unquote822Local undoes quote822Local for every table input', () => {
  for (const [input] of QUOTE_822) assert.equal(unquote822Local(quote822Local(input)), input, JSON.stringify(input));
});

test('quote822Local flags: 8-bit, exposed @, bare local part', () => {
  assert.equal(quote822Local('j\u00f6rg@x', QUOTE_FLAG.NONE), '"j\\\u00f6rg"@x');
  assert.equal(quote822Local('a@b@c', QUOTE_FLAG.EIGHT_BIT_CLEAN | QUOTE_FLAG.EXPOSE_AT), 'a@b@c');
  assert.equal(quote822Local('a@b', QUOTE_FLAG.EIGHT_BIT_CLEAN | QUOTE_FLAG.BARE_LOCALPART), '"a@b"');
  assert.equal(quote822Local('a.b', QUOTE_FLAG.EIGHT_BIT_CLEAN | QUOTE_FLAG.BARE_LOCALPART), 'a.b');
});

test('unquote822Local: quotes and backslashes go only before the last unquoted @', () => {
  const table: Array<[string, string]> = [
    ['"a b"@x', 'a b@x'],
    ['"a@b"@c', 'a@b@c'],
    ['a\\@b@c', 'a@b@c'],
    ['"a"@"quoted.domain"', 'a@"quoted.domain"'],
    ['@r1,@r2:"x y"@k', '@r1,@r2:x y@k'],
    ['"no domain"', 'no domain'],
    ['trailing\\', 'trailing'],
    ['"q\\"x"@y', 'q"x@y'],
    ['"unbalanced@x', 'unbalanced@x'],
  ];
  for (const [input, want] of table) assert.equal(unquote822Local(input), want, JSON.stringify(input));
});

test('quote821Local: RFC 821 dot-strings and quoted-strings', () => {
  const table: Array<[string, string]> = [
    ['user@example.com', 'user@example.com'],
    ['a b@x', '"a b"@x'],
    ['a..b@x', '"a..b"@x'],
    ['.a@x', '".a"@x'],
    ['a.@x', '"a."@x'],
    ['q"x@y', '"q\\"x"@y'],
    ['b\\s@y', '"b\\\\s"@y'],
    ['lf\nx@y', '"lf\\\nx"@y'],
    ['a@b@c', '"a@b"@c'],
    ['@x', '""@x'],
    ['nodomain', 'nodomain'],
    ['no domain', '"no domain"'],
    ['j\u00f6rg@x', 'j\u00f6rg@x'],
  ];
  for (const [input, want] of table) assert.equal(quote821Local(input), want, JSON.stringify(input));
  // Without 8-bit clean the local part is quoted, but 8-bit text gets no backslash (signed char in Postfix).
  assert.equal(quote821Local('j\u00f6rg@x', QUOTE_FLAG.NONE), '"j\u00f6rg"@x');
  assert.equal(quote821Local('a@b@c', QUOTE_FLAG.EIGHT_BIT_CLEAN | QUOTE_FLAG.EXPOSE_AT), 'a@b@c');
});
