/*
 * dict_test - dictOpen(): cache, surrogates, and the small table types
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { DictError, dictCacheClear, dictOpen, dictSetReopenRetryMs } from './dict.js';
import { loadMailConfig } from './mail_conf.js';
import { DICT_OPEN_DEFAULTS } from './dict_base.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';
import { dictUnixOpen } from './dict_unix.js';

test('same spec and folding give the same instance; other folding a new one', () => {
  dictCacheClear();
  const a = dictOpen('inline:{a=1}');
  assert.equal(dictOpen('inline:{a=1}'), a);
  assert.notEqual(dictOpen('inline:{a=1}', { fold: false }), a);
});

test('an unreadable file gives a surrogate: one warning at open, DictError at lookup', async (t) => {
  dictCacheClear();
  const { result: d, lines } = await captureWarnings(() => dictOpen('regexp:/nonexistent/x.re'));
  assert.deepEqual(lines, ['warning: regexp:/nonexistent/x.re is unavailable. open /nonexistent/x.re: No such file or directory']);
  await assert.rejects(d.lookup('x'), (e: unknown) => e instanceof DictError && e.table === 'regexp:/nonexistent/x.re');
  t.diagnostic('surrogate ok');
});

test('missing hash:/lmdb: files, refused and unknown types give surrogates with clear reasons', async () => {
  dictCacheClear();
  const { result, lines } = await captureWarnings(() => [
    dictOpen('hash:/etc/postfix/x'), dictOpen('lmdb:/x'), dictOpen('bogus:/x'), dictOpen('nocolon'), dictOpen('cdb:/x'),
  ]);
  assert.deepEqual(lines.slice(0, 3), [
    'warning: hash:/etc/postfix/x: Postern stores hash: tables as lmdb: (/etc/postfix/x.lmdb); rebuild them with postmap',
    'warning: hash:/etc/postfix/x is unavailable. open database /etc/postfix/x.lmdb: No such file or directory',
    'warning: lmdb:/x is unavailable. open database /x.lmdb: No such file or directory',
  ]);
  assert.match(lines[3]!, /unsupported dictionary type: bogus/);
  assert.match(lines[4]!, /expecting "type:name" form instead of "nocolon"/);
  assert.match(lines[5]!, /cdb:\/x is unavailable\. unsupported dictionary type: cdb \(no maintained CDB library/);
  for (const d of result) await assert.rejects(d.lookup('k'), DictError);
});

test('fail: fails every lookup', async () => {
  const d = dictOpen('fail:whatever');
  await assert.rejects(d.lookup('a'), (e: unknown) => e instanceof DictError && e.table === 'fail:whatever');
  assert.equal(d.pattern, true);
});

test('static: answers the same text for every key, braces stripped (postmap -q)', async () => {
  assert.equal(await dictOpen('static:{ a b  c }').lookup('anything'), 'a b  c');
  assert.equal(await dictOpen('static:OK').lookup(''), 'OK');
  assert.equal(await dictOpen('static:a}').lookup('x'), 'a}');
  dictCacheClear();
  const { result, lines } = await captureWarnings(() => [dictOpen('static:{a b'), dictOpen('static:{a b}c')]);
  assert.deepEqual(lines, [
    `warning: static:{a b is unavailable. bad static:name syntax: missing '}' in "{a b"`,
    `warning: static:{a b}c is unavailable. bad static:name syntax: syntax error after '}' in "{a b}c"`,
  ]);
  for (const d of result) await assert.rejects(d.lookup('x'), DictError);
});

test('inline: short and long forms, folding, duplicates (checked with postmap -q)', async () => {
  dictCacheClear();
  const d = dictOpen('inline:{ a=1, { B = x }, { c = with, comma }, =empty-key, x"y"=q, A=2 }');
  assert.equal(await d.lookup('A'), '2');
  assert.equal(await d.lookup('b'), 'x');
  assert.equal(await d.lookup('c'), 'with, comma');
  assert.equal(await d.lookup(''), 'empty-key');
  assert.equal(await d.lookup('X"Y"'), 'q');
  const nofold = dictOpen('inline:{ Key=v }', { fold: false });
  assert.equal(await nofold.lookup('key'), null);
  assert.equal(await nofold.lookup('Key'), 'v');
});

test('inline: syntax errors name Postfix texts', async () => {
  dictCacheClear();
  const cases: Array<[string, string]> = [
    ['inline:{}', 'bad syntax: "inline:{}"; need "inline:{name=value...}"'],
    ['inline:{ , }', 'empty table: "inline:{ , }"; need "inline:{name=value...}"'],
    ['inline:{a b=c}', `missing '=' after attribute name: "inline:{a b=c}"; need "inline:{name=value...}"`],
    ['inline:{"q u"=v}', `unbalanced '"': "inline:{"q u"=v}"; need "inline:{name=value...}"`],
    ['inline:{ {a = b}x }', `syntax error after '}' in "{a = b}x": "inline:{ {a = b}x }"; need "inline:{name=value...}"`],
    ['inline:{a=b}}', 'bad syntax: "inline:{a=b}}"; need "inline:{name=value...}"'],
  ];
  for (const [spec, why] of cases) {
    const { result, lines } = await captureWarnings(() => dictOpen(spec));
    assert.deepEqual(lines, [`warning: ${spec} is unavailable. ${why}`]);
    await assert.rejects(result.lookup('a'), DictError);
  }
});

test('environ: looks the (folded) key up in the environment', async () => {
  process.env.postern_dict_test = 'yes';
  assert.equal(await dictOpen('environ:x').lookup('POSTERN_DICT_TEST'), 'yes');
  assert.equal(await dictOpen('environ:x', { fold: false }).lookup('POSTERN_DICT_TEST'), null);
  delete process.env.postern_dict_test;
});

test('SMTPUTF8: a non-UTF-8 key finds nothing; UTF-8 keys fold beyond ASCII', async () => {
  dictCacheClear();
  const d = dictOpen('inline:{ \xc3\x89cole=v, stra\xc3\x9fe=s }');
  const { result, lines } = await captureWarnings(() => d.lookup('\xff'));
  assert.equal(result, null);
  assert.match(lines[0]!, /non-UTF-8 key "\?": malformed UTF-8/);
  assert.equal(await d.lookup('\xc3\xa9COLE'), 'v');
  assert.equal(await d.lookup('STRASSE'), 's');
});

test('unix:, proxy: and nis: (formats as postmap -q shows them)', async (t) => {
  dictCacheClear();
  const passwd = tableFile(t, 'passwd', 'root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob,,,:/home/bob:/bin/sh\n');
  const group = tableFile(t, 'group', 'root:x:0:\nstaff:x:50:bob,alice\n');
  const ctx = (name: string) => ({ ...DICT_OPEN_DEFAULTS, spec: `unix:${name}`, type: 'unix', name, fold: true, utf8: true });
  const pw = dictUnixOpen(ctx('passwd.byname'), { passwd, group });
  const gr = dictUnixOpen(ctx('group.byname'), { passwd, group });
  assert.equal(await pw.lookup('BOB'), 'bob:x:1000:1000:Bob,,,:/home/bob:/bin/sh');
  assert.equal(await pw.lookup('nobody-here'), null);
  assert.equal(await gr.lookup('staff'), 'staff:x:50:bob,alice');
  // proxy: asks the proxymap service; with none listening, the lookup fails temporarily (never "not found").
  const noProxymap = tableFile(t, 'main.cf', `queue_directory = ${dirname(passwd)}\n`);
  const config = loadMailConfig({ configDir: dirname(noProxymap) });
  await assert.rejects(dictOpen('proxy:unix:passwd.byname', { config }).lookup('root'), DictError);
  const { result, lines } = await captureWarnings(() => [dictOpen('nis:mail.aliases'), dictOpen('unix:bogus')]);
  assert.deepEqual(lines, [
    'warning: dict_nis_init: NIS domain name not set - NIS lookups disabled',
    'warning: unix:bogus is unavailable. unknown table: unix:bogus',
  ]);
  assert.equal(await result[0]!.lookup('root'), null);
  await assert.rejects(result[1]!.lookup('root'), DictError);
});

test('unionmap: and pipemap: (results as postmap -q shows them)', async () => {
  dictCacheClear();
  const u = dictOpen('unionmap:{inline:{a=, b=x}, inline:{a=2, b=}, inline:{c=}}');
  assert.equal(await u.lookup('A'), '2');
  assert.equal(await u.lookup('b'), 'x,');
  assert.equal(await u.lookup('c'), null);
  assert.equal(await u.lookup('d'), null);
  const p = dictOpen('pipemap:{inline:{a=x, b=y, c=}, inline:{x=final, y=, =z}}');
  assert.equal(await p.lookup('a'), 'final');
  assert.equal(await p.lookup('b'), '');
  assert.equal(await p.lookup('c'), 'z');
  assert.equal(await p.lookup('d'), null);
  const { result, lines } = await captureWarnings(() => dictOpen('unionmap:{}'));
  assert.deepEqual(lines, ['warning: unionmap:{} is unavailable. bad syntax: "unionmap:{}"; need "unionmap:{type:name...}"']);
  await assert.rejects(result.lookup('a'), DictError);
  await captureWarnings(() => assert.rejects(dictOpen('unionmap:{inline:{a=1}, fail:x}').lookup('a'), DictError));
});

test('a table whose file was missing at open time is found once it has been built', async (t) => {
  dictCacheClear();
  dictSetReopenRetryMs(0);
  t.after(() => dictSetReopenRetryMs(10_000));
  const dir = dirname(tableFile(t, 'placeholder', ''));
  const spec = `lmdb:${dir}/later`;
  const { result: d, lines } = await captureWarnings(() => dictOpen(spec));
  assert.match(lines[0]!, /later is unavailable\. open database \S+later\.lmdb: No such file or directory/);
  await assert.rejects(d.lookup('k'), DictError);
  assert.throws(() => d.lookupSync!('k'), DictError);
  const w = dictOpen(spec, { mode: 'create', bulk: true });
  await w.update!('k', 'v');
  await w.close();
  assert.equal(await d.lookup('k'), 'v');
  assert.equal(d.lookupSync!('K'), 'v');
  // A table that cannot be opened for another reason stays a plain surrogate.
  const { result: bad } = await captureWarnings(() => dictOpen('bogus:/x'));
  assert.equal(bad.lookupSync, undefined);
});
