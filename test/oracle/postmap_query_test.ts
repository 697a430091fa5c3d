/*
 * postmap_query_test - postmap -q/-s/-d/-i/-F/-b/-h/-m and error cases against the real postmap(1)
 *
 * What it does: runs the real /usr/sbin/postmap and Postern's postmap
 * with the same arguments, input and files, and checks that exit
 * status, standard output and standard error are identical: -q and
 * -q - over pattern and in-memory tables (regexp:, cidr:, texthash:,
 * inline:, static:), header/body queries of a MIME message (-h, -b,
 * -m in every combination), -F builds and decoding, -i incremental
 * updates, -d and -d - deletes, and the option and table errors (usage,
 * conflicting options, missing files and tables, types that cannot be
 * built, proxy: refusals). The -q/-q - case spawns Postern's postmap
 * as a program; the many option and error cases run its postmapMain()
 * in this process (same code, no node start-up per case).
 *
 * What it does not do: compare builds under each option
 * (postmap_build_test.ts).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { test } from 'node:test';
import { makePostmapPair, putBoth, rawLmdb, runBoth, runBothInProcess, show } from './postmap_oracle_lib.js';

const REGEXP = [
  '/^subject:.*urgent/i URGENT',
  '/^x-multi:/ MULTI',
  '/^content-type:/ CT',
  '/body/ BODY',
  '/^(.+)@(example\\.com)$/ user=$1 domain=$2',
  '/^EMPTY$/ ${1}',
  '',
].join('\n');

const CIDR = '10.0.0.0/8 ten\n192.168.1.0/24 lan\n2001:db8::/32 doc6\n0.0.0.0/0 any\n';

const TEXTHASH = 'Alpha one\nbeta two\n"a b"@x quoted\ncaf\xc3\xa9@exampl\xc3\xa9.com utf8\n';

const MESSAGE = [
  'Received: from a',
  '\tby b',
  'Subject: Urgent stuff',
  'X-Multi: a',
  ' b',
  'Content-Type: multipart/mixed; boundary="BB"',
  'MIME-Version: 1.0',
  '',
  'body preamble',
  '--BB',
  'Content-Type: text/plain',
  'X-Multi: inside',
  '',
  'body one',
  '--BB',
  'Content-Type: message/rfc822',
  '',
  'Subject: nested urgent',
  'Content-Type: text/plain',
  '',
  'body nested',
  '--BB--',
  'epilogue body',
  '',
].join('\n');

const KEYS = [
  'user@example.com', 'USER@EXAMPLE.COM', 'u+x@example.com', 'nobody@example.org', 'alpha', 'ALPHA', 'Beta',
  '"a b"@x', '"A B"@X', '10.1.2.3', '192.168.1.77', '192.168.2.1', '2001:db8::1', '2001:DB8:0:0::1', '::1',
  'subject: URGENT', 'x-multi: y', 'a body line', 'EMPTY', ' ', 'no such key',
].join('\n');

test('postmap -q and -q - over regexp, cidr, texthash, inline, static tables', async (t) => {
  const pair = makePostmapPair(t);
  putBoth(pair, 're', REGEXP);
  putBoth(pair, 'cidr', CIDR);
  putBoth(pair, 'th', TEXTHASH);
  const runs = await Promise.all([
    runBoth(pair, ['-q', '-', 'regexp:re', 'cidr:cidr', 'texthash:th', 'inline:{nobody@example.org=inl, { ::1 = braced } }', 'static:fallback'], `${KEYS}\n`),
    runBoth(pair, ['-q', '-', 'texthash:th', 'regexp:re'], `${KEYS}\n`),
    runBoth(pair, ['-f', '-q', '-', 'texthash:th'], `${KEYS}\n`),
    runBoth(pair, ['-q', 'USER@example.com', 'texthash:th', 'regexp:re']),
    runBoth(pair, ['-q', 'nosuch', 'texthash:th', 'cidr:cidr']),
    runBoth(pair, ['-q', '10.9.9.9', 'cidr:cidr']),
    runBoth(pair, ['-q', 'EMPTY', 'regexp:re']),
    // A UTF-8 key on the command line is looked up as its bytes.
    runBoth(pair, ['-q', 'café@examplé.com', 'texthash:th']),
  ]);
  for (const r of runs) assert.equal(show(r.ours), show(r.real));
  assert.match(runs[0]!.real.stdout, /user=user domain=example\.com/);
  assert.equal(runs[7]!.real.stdout, 'utf8\n');
});

test('postmap -h / -b / -m query the lines of a message as header_checks and body_checks see them', async (t) => {
  const pair = makePostmapPair(t);
  putBoth(pair, 're', REGEXP);
  const combos = [['-h'], ['-b'], ['-h', '-m'], ['-b', '-m'], ['-h', '-b'], ['-h', '-b', '-m'], ['-h', '-U'], ['-m']];
  const runs = await Promise.all(combos.map((o) => runBothInProcess(pair, [...o, '-q', '-', 'regexp:re'], MESSAGE)));
  runs.forEach((r, i) => assert.equal(show(r.ours), show(r.real), combos[i]!.join(' ')));
  assert.match(runs[5]!.real.stdout, /body nested\tBODY/);
});

test('postmap -F: files stored base64, decoded by -q, -q - and -s', async (t) => {
  const pair = makePostmapPair(t);
  putBoth(pair, 'f1', 'one\n');
  putBoth(pair, 'f2', 'two');
  putBoth(pair, 'fsrc', 'a f1\nb f1,f2\nc f1 f2\nd nofile\ne f1, ,f2\n');
  putBoth(pair, 'bad', 'x notb64!\ny Zm9v\nz Zm9=v\n');
  const build = await Promise.all([runBothInProcess(pair, ['-F', 'lmdb:fsrc']), runBothInProcess(pair, ['lmdb:bad'])]);
  for (const r of build) assert.equal(show(r.ours), show(r.real));
  assert.deepEqual(rawLmdb(join(pair.ours, 'fsrc.lmdb')), rawLmdb(join(pair.real, 'fsrc.lmdb')));
  const runs = await Promise.all([
    runBothInProcess(pair, ['-F', '-q', 'b', 'lmdb:fsrc']),
    runBothInProcess(pair, ['-F', '-q', '-', 'lmdb:fsrc'], 'b\na\nd\n'),
    runBothInProcess(pair, ['-F', '-s', 'lmdb:fsrc']),
    runBothInProcess(pair, ['-s', 'lmdb:fsrc']),
    runBothInProcess(pair, ['-F', '-s', 'lmdb:bad']),
    runBothInProcess(pair, ['-F', '-q', 'x', 'lmdb:bad']),
    runBothInProcess(pair, ['-F', '-q', 'y', 'lmdb:bad']),
  ]);
  for (const r of runs) assert.equal(show(r.ours), show(r.real));
});

test('postmap -i adds from stdin, -d and -d - delete, as the real postmap', async (t) => {
  const pair = makePostmapPair(t);
  putBoth(pair, 'tab', 'one 1\ntwo 2\nthree 3\nfour 4\n');
  await runBothInProcess(pair, ['lmdb:tab']);
  const inc = await runBothInProcess(pair, ['-i', 'lmdb:tab'], 'Five 5\none again\n  cont\nbad\n');
  assert.equal(show(inc.ours), show(inc.real));
  const incR = await runBothInProcess(pair, ['-i', '-r', 'lmdb:tab', 'lmdb:other'], 'one replaced\n');
  assert.equal(show(incR.ours), show(incR.real));
  const d1 = await runBothInProcess(pair, ['-d', 'TWO', 'lmdb:tab']);
  assert.equal(show(d1.ours), show(d1.real));
  const d2 = await runBothInProcess(pair, ['-d', 'two', 'lmdb:tab']);
  assert.equal(show(d2.ours), show(d2.real));
  const d3 = await runBothInProcess(pair, ['-d', '-', 'lmdb:tab', 'lmdb:other'], 'three\nnosuch\none\n');
  assert.equal(show(d3.ours), show(d3.real));
  const d4 = await runBothInProcess(pair, ['-d', '-', 'lmdb:tab'], 'nosuch\n');
  assert.equal(show(d4.ours), show(d4.real));
  for (const name of ['tab', 'other']) {
    assert.deepEqual(rawLmdb(join(pair.ours, `${name}.lmdb`)), rawLmdb(join(pair.real, `${name}.lmdb`)), name);
  }
  assert.deepEqual(rawLmdb(join(pair.real, 'tab.lmdb')), ['five\\0\t5\\0', 'four\\0\t4\\0']);
});

const ERROR_CASES: string[][] = [
  [],
  ['-q'],
  ['-z', 'src'],
  ['-q', 'x', '-s', 'src'],
  ['-s', '-q', 'x', 'src'],
  ['-d', 'x', '-q', 'y', 'src'],
  ['-b', '-q', 'x', 'src'],
  ['-h', 'src'],
  ['nosuch'],
  ['lmdb:nosuch'],
  ['-q', 'x', 'lmdb:nosuch'],
  ['-s', 'lmdb:nosuch'],
  ['-q', 'x', 'lmdb:'],
  ['-q', 'x', 'static:'],
  ['-q', 'x', 'foo:bar'],
  ['regexp:src'],
  ['texthash:src'],
  ['-i', 'texthash:src'],
  ['-i', 'memcache:src'],
  ['inline:{a=b}'],
  ['proxy:lmdb:src'],
  ['-s', 'proxy:lmdb:src'],
  ['-i', 'proxy:lmdb:src'],
  ['-d', 'x', 'regexp:src'],
  ['-d', '-', 'regexp:src'],
  ['-d', 'x', 'inline:{a=b}'],
  ['-d', 'x', 'static:x'],
  ['-d', 'x', 'cidr:src'],
  ['-d', 'x', 'pcre:src'],
  ['-d', 'x', 'unionmap:{static:x}'],
  ['-q', 'x', 'regexp:nosuch'],
  ['-s', 'regexp:src'],
  ['-s'],
  ['-q', 'x'],
  ['-d', 'x'],
  // With a built src.lmdb: only the first table is listed; tables are opened in turn.
  ['-s', 'lmdb:src', 'lmdb:nosuch'],
  ['-q', 'a', 'lmdb:src', 'lmdb:nosuch'],
  ['-q', 'a', 'lmdb:nosuch', 'lmdb:src'],
  ['-q', 'nosuch', 'lmdb:src', 'lmdb:nosuch'],
  ['-m', '-q', '-', 'lmdb:src'],
  ['-q', 'x', 'fail:x'],
  ['-s', 'fail:x'],
  ['-d', 'x', 'fail:x'],
  ['-i', 'fail:x'],
];

test('postmap error cases: same status and messages as the real postmap', async (t) => {
  const pair = makePostmapPair(t);
  putBoth(pair, 'src', 'a b\n');
  const built = await runBothInProcess(pair, ['lmdb:src']);
  assert.equal(show(built.ours), show(built.real));
  const runs = await Promise.all(ERROR_CASES.map((args) => runBothInProcess(pair, args)));
  runs.forEach((r, i) => assert.equal(show(r.ours), show(r.real), ERROR_CASES[i]!.join(' ')));
});
