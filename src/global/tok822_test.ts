/*
 * tok822_test - the RFC 822 tokenizer, parser, printers and tree operators
 *
 * Tables of tricky inputs with the token lists, trees and printed forms
 * Postfix's tok822_scan/tok822_parse/tok822_internalize/externalize
 * produce for them, the token limit, and the list surgery the parser is
 * built on. The same behaviour is checked against the real Postfix in
 * test/oracle/tok822_test.ts (recipients sendmail -t extracts) and
 * test/oracle/tok822_cleanup_test.ts (headers cleanup regenerates with
 * tok822_externalize, including the garbage-recovery and token-limit
 * cases).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Tok822,
  TOK822,
  TOK822_OP,
  tokAppend,
  tokApply,
  tokCutAfter,
  tokDump,
  tokFindType,
  tokGrep,
  tokList,
  tokPrepend,
  tokRfindType,
  tokSubAppend,
  tokSubKeepAfter,
  tokSubKeepBefore,
  tokSubPrepend,
  tokUnlink,
} from './tok822.js';
import { TOK822_STR, tokExternalize, tokInternalize, tokParse, tokScan, tokScanAddr } from './tok822_parse.js';

/** The tokens of a flat scan as [kind, text] pairs (operators as their character). */
function scanned(str: string, limit = 0): Array<[string, string]> {
  return tokList(tokScan(str, limit)).map((t) => [t.type < TOK822.MINTOK ? String.fromCharCode(t.type) : String(t.type), t.text]);
}

const A = String(TOK822.ATOM);
const Q = String(TOK822.QSTRING);
const C = String(TOK822.COMMENT);
const D = String(TOK822.DOMLIT);

test('tokScan: atoms, operators, quoted strings, comments, domain literals', () => {
  assert.deepEqual(scanned('a.b@c'), [[A, 'a'], ['.', ''], [A, 'b'], ['@', ''], [A, 'c']]);
  assert.deepEqual(scanned(' "x y" (c (nested) \\) ) [1.2.3.4] '), [
    [Q, 'x y'],
    [C, '(c (nested) \\) )'],
    [D, '1.2.3.4'],
  ]);
  // | % ! are operators too; a backslash quotes the next character of an atom.
  assert.deepEqual(scanned('u%h!x|y'), [[A, 'u'], ['%', ''], [A, 'h'], ['!', ''], [A, 'x'], ['|', ''], [A, 'y']]);
  // An atom that needs quoting when printed becomes a quoted string.
  assert.deepEqual(scanned('a\\@b'), [[Q, 'a@b']]);
  assert.deepEqual(scanned('a\\ b'), [[Q, 'a b']]);
  assert.deepEqual(scanned('\\\\x'), [[Q, '\\x']]);
  // White space inside quotes and literals becomes a space; backslash-escapes are resolved.
  assert.deepEqual(scanned('"a\tb\r\nc" [x\\]y]'), [[Q, 'a b  c'], [D, 'x]y']]);
  // Unterminated things run to the end.
  assert.deepEqual(scanned('"open'), [[Q, 'open']]);
  assert.deepEqual(scanned('[open'), [[D, 'open']]);
  assert.deepEqual(scanned('(open (x)'), [[C, '(open (x)']]);
  assert.deepEqual(scanned('x\\'), [[A, 'x']]);
  assert.deepEqual(scanned('"x\\'), [[Q, 'x']]);
  assert.deepEqual(scanned(''), []);
  assert.deepEqual(scanned(' \t\r\n'), []);
});

test('tokScan: the token limit drops the rest', () => {
  assert.deepEqual(scanned('a@b, c@d', 3), [[A, 'a'], ['@', ''], [A, 'b']]);
  assert.equal(tokList(tokScan('x '.repeat(1000), 10)).length, 10);
  assert.equal(tokList(tokScan('x '.repeat(1000), 0)).length, 1000);
});

test('tokParse: the tree Postfix builds for a mixed list', () => {
  const tree = tokParse('"a b"@x.y, (c) d@e (f), grp: g@h, i; <@r1:j@k>');
  assert.equal(
    tokDump(tree),
    [
      ' address',
      '   quoted string "a b"',
      '   OP "@"',
      '   atom "x"',
      '   OP "."',
      '   atom "y"',
      ' OP ","',
      ' address',
      '   atom "d"',
      '   OP "@"',
      '   atom "e"',
      ' comment "(c)"',
      ' comment "(f)"',
      ' OP ","',
      ' atom "grp"',
      ' group ":"',
      ' address',
      '   atom "g"',
      '   OP "@"',
      '   atom "h"',
      ' OP ","',
      ' address',
      '   atom "i"',
      ' OP ";"',
      ' OP "<"',
      ' address',
      '   OP "@"',
      '   atom "r1"',
      '   OP ":"',
      '   atom "j"',
      '   OP "@"',
      '   atom "k"',
      ' OP ">"',
      '',
    ].join('\n'),
  );
});

/** Input, internal form of the whole list, external form, addresses (internal). */
const PARSE: Array<[string, string, string, string[]]> = [
  ['a@b', 'a@b', 'a@b', ['a@b']],
  ['foo@bar baz@qux', 'foo@bar, baz@qux', 'foo@bar, baz@qux', ['foo@bar', 'baz@qux']],
  ['a b c', 'a, b, c', 'a, b, c', ['a', 'b', 'c']],
  ['Joe <a@b> (x)', 'Joe <a@b>(x)', 'Joe <a@b>(x)', ['a@b']],
  ['"Joe Q." <a@b>', 'Joe Q. <a@b>', '"Joe Q." <a@b>', ['a@b']],
  ['"a b"@c', 'a b@c', '"a b"@c', ['a b@c']],
  ['a . b @ c . d', 'a.b@c.d', 'a.b@c.d', ['a.b@c.d']],
  ['undisclosed-recipients:;', 'undisclosed-recipients: ;', 'undisclosed-recipients: ;', []],
  ['<>', '<>', '<>', []],
  ['a@[1.2.3.4]', 'a@[1.2.3.4]', 'a@[1.2.3.4]', ['a@[1.2.3.4]']],
  ['"q\\"x"@d', 'q"x@d', '"q\\"x"@d', ['q"x@d']],
  ['a@b; c@d', 'a@b;, c@d', 'a@b;, c@d', ['a@b', 'c@d']],
  ['G: A <a@b>, c@d;, e', 'G: A <a@b>, c@d;, e', 'G: A <a@b>, c@d;, e', ['a@b', 'c@d', 'e']],
  ['x (only comment)', 'x (only comment)', 'x (only comment)', ['x']],
];

test('tokParse + printers: internal and external forms and the addresses found', () => {
  for (const [input, internal, external, addrs] of PARSE) {
    const tree = tokParse(input);
    assert.equal(tokInternalize(tree), internal, `internal of ${JSON.stringify(input)}`);
    assert.equal(tokExternalize(tree), external, `external of ${JSON.stringify(input)}`);
    assert.deepEqual(
      tokGrep(tree, TOK822.ADDR).map((a) => tokInternalize(a.head)),
      addrs,
      `addresses of ${JSON.stringify(input)}`,
    );
  }
  assert.equal(tokParse(''), null);
  assert.equal(tokParse('  '), null);
});

test('tokExternalize: each address quoted as a whole; LINE breaks after commas', () => {
  const tree = tokParse('a\\@b@c, "x"@y, Name <"p q"@r>');
  assert.equal(tokExternalize(tree), '"a@b"@c, x@y, Name <"p q"@r>');
  assert.equal(tokExternalize(tree, TOK822_STR.LINE), '"a@b"@c,\nx@y,\nName <"p q"@r>');
  // Token by token (an address's members), quoted strings keep their quotes.
  assert.equal(tokExternalize(tokGrep(tree, TOK822.ADDR)[1]!.head), '"x"@y');
  // Domain literals are printed with backslashes before \, CR and LF.
  assert.equal(tokExternalize(tokScan('[a\\\\b]')), '[a\\\\b]');
});

test('tokScanAddr: one address, unparsed, words spaced', () => {
  const addr = tokScanAddr('a b@c');
  assert.equal(addr.type, TOK822.ADDR);
  assert.equal(tokInternalize(addr.head), 'a b@c');
  assert.equal(tokInternalize(tokScanAddr('').head), '');
});

test('tokParse: garbage is kept, never thrown away', () => {
  const inputs = ['<<a@b>>', 'a@b>', '>>><<<', ';;;:::,,,', '(((', '"""', '\\', 'x:y:z;', '@@@', '<a@b', 'a <b> c <d>'];
  for (const input of inputs) {
    const tree = tokParse(input);
    const printed = tokExternalize(tree);
    // Reparsing what was printed gives the same print: nothing is lost between rounds.
    assert.equal(tokExternalize(tokParse(printed)), printed, JSON.stringify(input));
  }
});

test('tree operators: append, prepend, unlink, sub-lists, finders', () => {
  const mk = (s: string) => new Tok822(TOK822.ATOM, s);
  const a = mk('a');
  const b = mk('b');
  const c = mk('c');
  tokAppend(a, c);
  tokPrepend(c, b);
  assert.deepEqual(tokList(a).map((t) => t.text), ['a', 'b', 'c']);
  assert.equal(tokUnlink(b), a);
  assert.deepEqual(tokList(a).map((t) => t.text), ['a', 'c']);
  assert.equal(tokCutAfter(a), c);
  assert.equal(a.next, null);

  const group = new Tok822(TOK822.ADDR);
  const x = mk('x');
  const at = new Tok822(TOK822_OP.AT);
  const y = mk('y');
  tokSubAppend(group, at);
  tokSubAppend(group, y);
  tokSubPrepend(group, x);
  assert.deepEqual(tokList(group.head).map((t) => t.text || String.fromCharCode(t.type)), ['x', '@', 'y']);
  assert.ok(tokList(group.head).every((t) => t.owner === group));
  assert.equal(tokFindType(group.head, TOK822_OP.AT), at);
  assert.equal(tokRfindType(group.tail, TOK822.ATOM), y);
  assert.equal(tokFindType(group.head, TOK822.QSTRING), null);
  let seen = 0;
  assert.equal(tokApply(group.head, TOK822.ATOM, () => ++seen), 1);
  assert.equal(tokSubKeepBefore(group, at), y);
  assert.deepEqual(tokList(group.head).map((t) => t.text), ['x']);
  assert.equal(tokSubKeepAfter(group, x), x);
  assert.equal(group.head, null);
  assert.equal(group.tail, null);
});
