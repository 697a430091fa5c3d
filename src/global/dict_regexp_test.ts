/*
 * dict_regexp_test - regexp: tables (expected values checked with postmap -q)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dictCacheClear, dictOpen } from './dict.js';
import { posixRegex } from './dict_regexp_posix.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

test('substitution, $$, ${n}, $(n), case-insensitive default and the i flag', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', '/^(.*)\\+(.*)@(.*)$/ u=$1 e=${2} d=$(3) $$\n/^Upper$/ U\n/^Exact$/i E\n');
  const d = dictOpen(`regexp:${f}`);
  assert.equal(await d.lookup('Joe+X@Example.com'), 'u=Joe e=X d=Example.com $');
  assert.equal(await d.lookup('UPPER'), 'U');
  assert.equal(await d.lookup('exact'), null);
  assert.equal(await d.lookup('Exact'), 'E');
});

test('if/endif nesting, !/re/, /a/!/b/, IF without ENDIF ends the search', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', [
    'if /^if-/', '/^if-a/ in-a', 'if !/b$/', '/^if-c/ c-not-b', 'endif', '/^if-/ default', 'endif',
    '/x/!/y/ x-not-y', '!/@/ no-at', 'if /^q/', 'if /^qq/', '/./ qq', 'endif', ''].join('\n'));
  const { result: d, lines } = await captureWarnings(() => dictOpen(`regexp:${f}`));
  assert.deepEqual(lines, [`warning: regexp map ${f}, line 10: IF has no matching ENDIF`]);
  assert.equal(await d.lookup('if-a'), 'in-a');
  assert.equal(await d.lookup('if-c'), 'c-not-b');
  assert.equal(await d.lookup('if-cb'), 'default');
  assert.equal(await d.lookup('x@'), 'x-not-y');
  assert.equal(await d.lookup('xy@'), null);
  assert.equal(await d.lookup('plain'), 'no-at');
  assert.equal(await d.lookup('qqq@'), 'qq');
  assert.equal(await d.lookup('qa@'), null);
});

test('bad rules are skipped with Postfix warnings, the rest works', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', [
    '/(a)/ $2', '/b/ x$2y', '/c/ ${1', '/d/', '/e/ $10', '/f/I x', '/^*g/ x', 'junk', 'endif', '/h/ ok', '/i',
    '!/j/ $1',
  ].join('\n') + '\n');
  const { result: d, lines } = await captureWarnings(() => dictOpen(`regexp:${f}`));
  assert.deepEqual(lines, [
    `warning: regexp map ${f}, line 1: out of range replacement index "2": skipping this rule`,
    `warning: regexp map ${f}, line 2: non-numeric replacement index "2y"`,
    `warning: regexp map ${f}, line 2: bad replacement syntax: skipping this rule`,
    'warning: truncated macro reference: "${1"',
    `warning: regexp map ${f}, line 3: bad replacement syntax: skipping this rule`,
    `warning: regexp map ${f}, line 4: no replacement text: using empty string`,
    `warning: regexp map ${f}, line 5: out of range replacement index "10": skipping this rule`,
    `warning: regexp map ${f}, line 6: unknown regexp option "I": skipping this rule`,
    `warning: regexp map ${f}, line 7: Invalid preceding regular expression`,
    `warning: regexp map ${f}, line 8: ignoring unrecognized request`,
    `warning: regexp map ${f}, line 9: ignoring ENDIF without matching IF`,
    `warning: regexp map ${f}, line 11: no closing regexp delimiter "/": skipping this rule`,
    `warning: regexp map ${f}, line 12: $number found in negative match replacement text: skipping this rule`,
  ]);
  assert.equal(await d.lookup('d'), '');
  assert.equal(await d.lookup('h'), 'ok');
});

test('continuation lines join with their leading white space; comments skipped', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', '/^b/\n  B1\n# comment\n  B2\n\n/^c/ C\n');
  const d = dictOpen(`regexp:${f}`);
  assert.equal(await d.lookup('b'), 'B1  B2');
  assert.equal(await d.lookup('c'), 'C');
});

test('POSIX translation follows glibc, not JS', () => {
  const m = (re: string, s: string, o = {}) => {
    const r = posixRegex(re, { extended: true, icase: false, newline: false, ...o });
    if ('error' in r) return r.error;
    return r.regex.test(s);
  };
  assert.equal(m('^\\d$', 'd'), true); // unknown escape = the letter
  assert.equal(m('^\\d$', '1'), false);
  assert.equal(m('^\\d$', 'd', { icase: true }), false); // glibc: nothing, under REG_ICASE
  assert.equal(m('^\\Q$', 'q', { icase: true }), true);
  assert.equal(m('^[\\.]$', '\\'), true); // backslash literal in brackets
  assert.equal(m('^(c+?)d$', 'd'), true); // "+?" is "(c+)?"
  assert.equal(m('^g{,2}$', 'gg'), true);
  assert.equal(m('^o\\{2\\}$', 'o{2}'), true);
  assert.equal(m('^a.b$', 'a\nb'), true);
  assert.equal(m('^a.b$', 'a\nb', { newline: true }), false);
  assert.equal(m('^[[:upper:]]$', 'x', { icase: true }), true);
  assert.equal(m('^\\(x\\)\\{2\\}$', 'xx', { extended: false }), true);
  assert.equal(m('^x+$', 'x+', { extended: false }), true);
  assert.equal(m('^[]w]$', ']'), true);
  assert.equal(m('a{x', 'a'), 'Unmatched \\{');
  assert.equal(m('z{3,1}', 'z'), 'Invalid content of \\{\\}');
  assert.equal(m('(a', 'a'), 'Unmatched ( or \\(');
  assert.equal(m('[a', 'a'), 'Unmatched [, [^, [:, [., or [=');
  assert.equal(m('\\1(a)', 'a'), 'Invalid back reference');
  assert.equal(m('\xe9', '\xc9', { icase: true }), false); // C locale: ASCII folding only
});

test('the longest match at the leftmost position decides what $n captures (glibc)', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', '/^(a|ab)/ g:$1\n/(x|xy)(z|yz)?/ h:$1:$2\n');
  const d = dictOpen(`regexp:${f}`);
  assert.equal(await d.lookup('ab'), 'g:ab');
  assert.equal(await d.lookup('xyz'), 'h:x:yz');
});

test('noRegsub (transport_maps): rules with $n are refused', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', '/^(a)$/ x$1\n/^b$/ plain\n');
  const { result: d, lines } = await captureWarnings(() => dictOpen(`regexp:${f}`, { noRegsub: true }));
  assert.deepEqual(lines, [`warning: regexp map ${f}, line 1: regular expression substitution is not allowed: skipping this rule`]);
  assert.equal(await d.lookup('a'), null);
  assert.equal(await d.lookup('b'), 'plain');
});
