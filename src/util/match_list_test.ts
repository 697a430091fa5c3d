/*
 * match_list_test - list splitting, '!' negation, /file entries, tables,
 * parse errors; with a plain string-equality match function so only the
 * list machinery is under test (host matching: global/namadr_list_test)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  hasMatchTableOpener, isTablePattern, type MatchFunc, MatchListError, matchListInit, MatchTableError, MatchTableWait,
  setMatchTableOpener, splitBraced,
} from './match_list.js';

/** Exact string match, or a table lookup for a type:table pattern. */
const equal: MatchFunc = (list, input, pattern) =>
  isTablePattern(pattern) ? list.tableLookup(pattern, input) !== undefined : input === pattern;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-match-list-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('splitBraced splits on white space and commas, keeping {...} whole', () => {
  assert.deepEqual(splitBraced(' a,b\tc\r\n d,, '), ['a', 'b', 'c', 'd']);
  assert.deepEqual(splitBraced('inline:{ a=1, {b = 2} } x'), ['inline:{ a=1, {b = 2} }', 'x']);
});

test('first match wins; each ! flips; case folded both sides', () => {
  const list = matchListInit('test_list', 0, '!B, b, C !!d', [equal]);
  assert.deepEqual(list.patterns, ['!b', 'b', 'c', 'd']);
  assert.equal(list.match('b'), false);
  assert.equal(list.match('C'), true);
  assert.equal(list.match('D'), true);
  assert.equal(list.match('e'), false);
  assert.equal(list.error, null);
});

test('tries every input with its own function, pattern by pattern', () => {
  const seen: string[] = [];
  const spy =
    (tag: string): MatchFunc =>
    (_l, input, pattern) => {
      seen.push(`${tag}:${input}~${pattern}`);
      return false;
    };
  const list = matchListInit('test_list', 0, 'p1 p2', [spy('a'), spy('b')]);
  assert.equal(list.match('X', 'Y'), false);
  assert.deepEqual(seen, ['a:x~p1', 'b:y~p1', 'a:x~p2', 'b:y~p2']);
});

test('/file entries: patterns a line, # lines skipped, outer ! applied', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'list');
  writeFileSync(file, '# comment\none two,three\n\n!four\nfour five\n');
  const list = matchListInit('test_list', 0, `!${file} six`, [equal]);
  assert.deepEqual(list.patterns, ['!one', '!two', '!three', 'four', '!four', '!five', 'six']);
  assert.equal(list.match('two'), false);
  assert.equal(list.match('four'), true);
  assert.equal(list.match('six'), true);
});

test('a /file that cannot be opened fails at match time, not at init', (t) => {
  const missing = join(tmp(t), 'nope');
  const list = matchListInit('test_list', 0, `a ${missing} b`, [equal]);
  assert.equal(list.match('a'), true);
  assert.equal(list.error, null);
  assert.equal(list.match('b'), false);
  assert.match(list.error ?? '', /^test_list: nofile:.*nope: table lookup problem: open file .*nope: ENOENT$/);
});

test('a comment after a pattern ends the line (Postfix warns)', () => {
  const list = matchListInit('test_list', 0, 'a #b c', [equal]);
  assert.deepEqual(list.patterns, ['a']);
});

test('inline: and static: tables', () => {
  const list = matchListInit('test_list', 0, 'inline:{ Key1=v, {key2 = v2 x} } !static:x', [equal]);
  assert.equal(list.match('KEY1'), true);
  assert.equal(list.match('key2'), true);
  assert.equal(list.match('other'), false);
  const all = matchListInit('test_list', 0, 'static:{any thing}', [equal]);
  assert.equal(all.match('whatever'), true);
});

test('init errors name the list, and the file and line for file entries', (t) => {
  const bad = (patterns: string, re: RegExp) =>
    assert.throws(() => matchListInit('test_list', 0, patterns, [equal]), (e: unknown) => e instanceof MatchListError && re.test(e.message), patterns);
  bad('a !', /^test_list: no pattern after '!'$/);
  bad('INLINE:{x=1}', /^test_list: unsupported table type "INLINE"/);
  bad('static:', /^test_list: open dictionary: expecting "type:name" form instead of "static:"$/);
  bad('hash:/etc/postfix/x', /^test_list: unsupported table type "hash" in "hash:\/etc\/postfix\/x"/);
  // Wording as the real postmap -q reports these.
  bad('inline:{a}', /^test_list: missing '=' after attribute name: "inline:\{a\}"; need "inline:\{name=value...\}"$/);
  bad('inline:{ a = b }', /^test_list: missing '=' after attribute name: /);
  bad('inline:{}', /^test_list: bad syntax: "inline:\{\}"; need /);
  bad('inline:{ {a=1 }', /^test_list: bad syntax: "inline:\{ \{a=1 \}"; need /);
  bad('inline:{ {a b} }', /^test_list: missing '=' after attribute name: "inline:\{ \{a b\} \}"; need /);
  bad('inline:a=b', /^test_list: bad syntax: "inline:a=b"; need /);
  const file = join(tmp(t), 'list');
  writeFileSync(file, 'ok\n\nx !!!\n');
  bad(file, new RegExp(`^test_list: ${file}, line 3: no pattern after '!'$`));
});

test('a /file naming itself stops at the nesting limit', (t) => {
  const file = join(tmp(t), 'loop');
  writeFileSync(file, `${file}\n`);
  assert.throws(() => matchListInit('test_list', 0, file, [equal]), /nested too deeply/);
});

test('registered table opener: other types open through it; matchAsync waits for MatchTableWait tables', async () => {
  const asked: string[] = [];
  const remote: Record<string, string> = { b: 'yes', down: '' };
  setMatchTableOpener((typeAndName, listName, fail) => {
    if (typeAndName.startsWith('bad:')) fail('refused by the opener');
    return {
      typeName: typeAndName.slice(0, typeAndName.indexOf(':')),
      lookup(key) {
        if (typeAndName.startsWith('sync:')) return key === 'a' ? 'x' : undefined;
        throw new MatchTableWait(`${typeAndName} (${listName}) must wait`);
      },
      async lookupAsync(key) {
        asked.push(key);
        if (key === 'down') throw new MatchTableError('server down');
        return remote[key];
      },
    };
  });
  try {
    assert.equal(hasMatchTableOpener(), true);
    assert.throws(() => matchListInit('test_list', 0, 'bad:x', [equal]), /^MatchListError: test_list: refused by the opener$/);
    const list = matchListInit('test_list', 0, 'sync:t net:t', [equal]);
    assert.equal(list.match('a'), true);
    assert.equal(list.match('b'), false);
    assert.equal(list.error, 'test_list: net:t: table lookup problem: net:t (test_list) must wait');
    assert.equal(await list.matchAsync('b'), true);
    assert.equal(list.error, null);
    assert.equal(await list.matchAsync('c'), false);
    assert.equal(list.error, null);
    assert.equal(await list.matchAsync('down'), false);
    assert.equal(list.error, 'test_list: net:t: table lookup problem: server down');
    assert.deepEqual(asked, ['b', 'c', 'down']);
  } finally {
    setMatchTableOpener(null);
  }
  assert.throws(() => matchListInit('test_list', 0, 'net:t', [equal]), /unsupported table type "net"/);
});
