/*
 * dict_pcre_test - pcre: tables (expected values checked with postmap -q)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DictError, dictCacheClear, dictOpen } from './dict.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

test('flags i s m x A E U and inline options', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'p', [
    '/^case$/i CASE', '/^a.b$/ dotall', '/^x.y$/s not-dotall', '/end$/ endnl', '/endE$/E endE',
    '/^(a+)(a*)$/U ungreedy $1 $2', '/^lazy(a+?)(a*)$/ lazy $1 $2', '/^(?i)mixed(?-i)CASE$/ mixed',
    '/^\\Qa.b\\E$/ quoted', '/^brace{,2}$/ brace-literal', '/anch/A anchored', '/^(?<n>z)\\k<n>$/ named',
    '/^x # comment\n  y$/x extended', ''].join('\n'));
  const d = dictOpen(`pcre:${f}`);
  assert.equal(await d.lookup('CASE'), null);
  assert.equal(await d.lookup('case'), 'CASE');
  assert.equal(await d.lookup('a\nb'), 'dotall');
  assert.equal(await d.lookup('x\ny'), 'extended'); // not-dotall fails; /^x/x matches
  assert.equal(await d.lookup('the end\n'), 'endnl');
  assert.equal(await d.lookup('the endE\n'), null);
  assert.equal(await d.lookup('aaa'), 'ungreedy a aa');
  assert.equal(await d.lookup('lazyaaa'), 'lazy a aa');
  assert.equal(await d.lookup('MIXEDCASE'), 'mixed');
  assert.equal(await d.lookup('mixedcase'), null);
  assert.equal(await d.lookup('axb'), 'dotall');
  assert.equal(await d.lookup('a.b'), 'dotall');
  assert.equal(await d.lookup('brace{,2}'), 'brace-literal');
  assert.equal(await d.lookup('anchor'), 'anchored');
  assert.equal(await d.lookup('xanchor'), 'extended'); // not anchored at 'x', so a later rule
  assert.equal(await d.lookup('ZZ'), 'named');
  assert.equal(await d.lookup('x'), 'extended'); // the comment runs to the end of the logical line
});

test('bad rules are skipped with Postfix warnings; X is obsolete', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'p', '/(a/ x\n/q/Z x\n/(one)/ $2\n/w/X ok\n/v/!/u/ x\n/\\\n');
  const { result: d, lines } = await captureWarnings(() => dictOpen(`pcre:${f}`));
  assert.equal(lines.length, 6);
  assert.match(lines[0]!, new RegExp(`^warning: pcre map ${f}, line 1: error in regex`));
  assert.equal(lines[1], `warning: pcre map ${f}, line 2: unknown regexp option "Z": skipping this rule`);
  assert.equal(lines[2], `warning: pcre map ${f}, line 3: out of range replacement index "2": skipping this rule`);
  assert.equal(lines[3], `warning: pcre map ${f}, line 4: ignoring obsolete regexp option "X"`);
  assert.equal(lines[4], `warning: pcre map ${f}, line 5: unknown regexp option "!": skipping this rule`);
  assert.equal(lines[5], `warning: pcre map ${f}, line 6: no closing regexp delimiter "/": ignoring this rule`);
  assert.equal(await d.lookup('w'), 'ok');
});

test('a pattern JS cannot express makes the table unavailable, naming file and line', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'p', '/ok/ fine\n/(?>atomic)/ x\n');
  const { result: d, lines } = await captureWarnings(() => dictOpen(`pcre:${f}`));
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`pcre map ${f}, line 2: atomic groups .* cannot be translated`));
  await assert.rejects(d.lookup('ok'), DictError);
  for (const re of ['a++', '(?R)', '(?(1)a|b)', '(?|a)', '\\K', '(*FAIL)', '\\p{L}']) {
    dictCacheClear();
    const g = tableFile(t, 'p', `/${re}/ x\n`);
    const r = await captureWarnings(() => dictOpen(`pcre:${g}`));
    await assert.rejects(r.result.lookup('a'), DictError, re);
  }
});
