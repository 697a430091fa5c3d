/*
 * postalias_diff_test - Postern's postalias(1) against the real Postfix 3.7 postalias
 *
 * The same aliases(5) sources are built by both programs in twin
 * directories (postalias_oracle_lib.ts); then the two tables are listed
 * by the REAL postalias -s and dumped raw (keys and values with their
 * null bytes), and must be equal except the YP_LAST_MODIFIED time stamp.
 * Queries (-q key, -q -), deletes (-d key, -d -), listings (-s), the
 * build options (-N -n -f -r -w -u -i -o -p), the UTF-8 rules of
 * smtputf8_enable, and the error cases (usage, conflicting modes,
 * missing files, proxy:, read-only types) are compared on exit status,
 * standard output and standard error, byte for byte.
 */
import assert from 'node:assert/strict';
import { chownSync, chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { srcPath } from '../lib/paths.js';
import { makePair, putFile, rawTable, runBoth, runOurs, runReal, sameResult, type Pair } from './postalias_oracle_lib.js';

const FIXTURE = readFileSync(srcPath('src/postalias/testdata/aliases.oracle'));

/** Keys for the query tests: names as written, folded, unfolded, misses and the special entries. */
const QUERY_KEYS = [
  'mailer-daemon', 'MAILER-DAEMON', 'postmaster', 'root', 'Root', 'ROOT', 'admin', 'Admin', 'a b', '"a b"',
  'quoted:colon', 'mixed case', 'x@y', 'p%q', 'novalue', 'list', 'pipe', 'pipe2', 'file', 'empty', '',
  'two', 'dbl', 'trail', 'lead', 'route', 'literal', 'comment (the comment)', 'comment', 'angle', 'group',
  'backslash', 'back\\slash', 'esc"q', 'tabs', 'owner-list', 'list-request', 'user.name', 'plus+ext',
  'upper', 'UPPER', 'spaced', 'crlf', 'latin', 'utf8', 'k\u00c3\u0084se', 'K\u00c3\u0084SE', 'long', 'last',
  'leading', '@', 'YP_MASTER_NAME', 'yp_master_name', 'nosuchalias', 'root@oracle.example', ' root', 'root ',
];

function keysInput(keys: readonly string[] = QUERY_KEYS): Buffer {
  return Buffer.from(keys.join('\n') + '\n', 'latin1');
}

/** Runs each case (independent processes) at most PARALLEL at a time; results in order. */
const PARALLEL = 4;
async function eachParallel<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return results;
}

async function buildBoth(pair: Pair, args: string[], source = FIXTURE, name = 'aliases'): Promise<void> {
  putFile(pair, name, source);
  const r = await runBoth(pair, [...args, `lmdb:${name}`]);
  const s = sameResult(r);
  assert.equal(s.ours, s.real, `build ${args.join(' ')}`);
}

function sameTables(pair: Pair, name = 'aliases'): void {
  assert.deepEqual(rawTable(join(pair.ours, `${name}.lmdb`)), rawTable(join(pair.real, `${name}.lmdb`)));
}

test('build from the fixture: same warnings, status and table bytes; -s, -q - and -q alike, also crossed', async (t) => {
  const pair = makePair(t);
  await buildBoth(pair, []);
  sameTables(pair);
  // Both tables listed by the real postalias -s; ours lists the real one alike.
  const real = await runReal(pair, ['-s', 'lmdb:aliases']);
  const oursByReal = await runReal({ ...pair, real: pair.ours }, ['-s', 'lmdb:aliases']);
  assert.equal(sameResult({ real, ours: oursByReal }).ours, sameResult({ real, ours: oursByReal }).real);
  assert.match(real.stdout, /^@:\t@\n/m);
  const crossedSeq = await runOurs(pair, ['-s', 'lmdb:aliases'], undefined, pair.real);
  assert.equal(sameResult({ real, ours: crossedSeq }).ours, sameResult({ real, ours: crossedSeq }).real);
  // -q - with every fixture name and its variants, ours over our table and over the real one.
  const r = await runBoth(pair, ['-q', '-', 'lmdb:aliases'], keysInput());
  assert.equal(sameResult(r).ours, sameResult(r).real);
  assert.ok(r.real.stdout.split('\n').length > 30, 'most keys are found');
  const crossed = await runOurs(pair, ['-q', '-', 'lmdb:aliases'], keysInput(), pair.real);
  assert.equal(sameResult({ real: r.real, ours: crossed }).ours, sameResult({ real: r.real, ours: crossed }).real);
  // Several tables: the first that has the key answers; -q key prints the value alone.
  await buildBoth(pair, [], Buffer.from('root: second-root\nextra: only-in-second\n'), 'second');
  const cases = [
    ['-q', '-', 'lmdb:aliases', 'lmdb:second'],
    ['-q', 'ROOT', 'lmdb:aliases'],
    ['-q', '', 'lmdb:aliases'],
    ['-q', 'extra', 'lmdb:aliases', 'lmdb:second'],
    ['-f', '-q', 'YP_MASTER_NAME', 'lmdb:aliases'],
    ['-q', 'nosuch', 'aliases'],
  ];
  const results = await eachParallel(cases, (args) => runBoth(pair, args, args[1] === '-' ? 'root\nextra\nnone\n' : undefined));
  results.forEach((res, i) => assert.equal(sameResult(res).ours, sameResult(res).real, cases[i]!.join(' ')));
  assert.equal(results[0]!.real.stdout, 'root:\tadmin, "John Smith"@example.com\nextra:\tonly-in-second\n');
});

/** The fixture without its empty name: LMDB cannot store an empty key without a null byte (-n). */
const FIXTURE_NO_EMPTY_KEY = Buffer.from(FIXTURE.toString('latin1').replace(/^"": .*\n/m, ''), 'latin1');

test('build options -N, -f -n, -w -o -p: same tables, messages and queries', async (t) => {
  await eachParallel([['-N'], ['-f', '-n'], ['-w', '-o', '-p']], async (args) => {
    const pair = makePair(t);
    const noNull = args.includes('-n');
    await buildBoth(pair, args, noNull ? FIXTURE_NO_EMPTY_KEY : FIXTURE);
    sameTables(pair);
    const keys = noNull ? keysInput(QUERY_KEYS.filter((k) => k !== '')) : keysInput();
    const q = await runBoth(pair, [...args.filter((a) => a !== '-r' && a !== '-w'), '-q', '-', 'lmdb:aliases'], keys);
    assert.equal(sameResult(q).ours, sameResult(q).real, `query after ${args.join(' ')}`);
  });
  // The empty name itself with -n: both stop with LMDB's error.
  const pair = makePair(t);
  await buildBoth(pair, ['-n'], Buffer.from('"": x\n'));
  sameTables(pair);
});

test('smtputf8_enable = yes: non-UTF-8 lines refused, UTF-8 keys folded; -u turns the checks off', async (t) => {
  for (const args of [[], ['-u']]) {
    const pair = makePair(t, { smtputf8_enable: 'yes' });
    await buildBoth(pair, args);
    sameTables(pair);
    const q = await runBoth(pair, [...args, '-q', '-', 'lmdb:aliases'], Buffer.from('k\u00c3\u00a4se\nK\u00c3\u0084SE\nlatin\ncaf\u00e9\n', 'latin1'));
    assert.equal(sameResult(q).ours, sameResult(q).real, `utf8 ${args.join(' ')}`);
  }
});

test('-i: entries from standard input added to an existing table, signature replaced, duplicates warned', async (t) => {
  const pair = makePair(t);
  await buildBoth(pair, [], Buffer.from('old: entry\nroot: admin\n'));
  const input = 'new: one\n  , two\nRoot: other\nbad line\n';
  const r = await runBoth(pair, ['-i', 'lmdb:aliases'], input);
  assert.equal(sameResult(r).ours, sameResult(r).real);
  sameTables(pair);
  // -i with -r replaces; a missing table is created.
  const r2 = await runBoth(pair, ['-i', '-r', 'lmdb:aliases', 'lmdb:fresh'], 'root: replaced\n');
  assert.equal(sameResult(r2).ours, sameResult(r2).real);
  sameTables(pair);
  sameTables(pair, 'fresh');
});

test('-d key and -d -: one entry removed per table; status says whether any was found', async (t) => {
  const pair = makePair(t);
  await buildBoth(pair, []);
  for (const args of [['-d', 'ROOT', 'lmdb:aliases'], ['-d', 'nosuch', 'lmdb:aliases']]) {
    const s = sameResult(await runBoth(pair, args));
    assert.equal(s.ours, s.real, args.join(' '));
  }
  const r = await runBoth(pair, ['-d', '-', 'lmdb:aliases'], 'admin\nnosuch\nPOSTMASTER\n');
  assert.equal(sameResult(r).ours, sameResult(r).real);
  sameTables(pair);
});

test('errors: usage, bad option, conflicting modes, missing files, proxy:, read-only types, -s forms', async (t) => {
  const pair = makePair(t);
  await buildBoth(pair, [], Buffer.from('a: b\n'), 'small');
  const cases = [
    [],
    ['-Z', 'lmdb:small'],
    ['-q', 'a', '-s', 'lmdb:small'],
    ['-s', '-q', 'a', 'lmdb:small'],
    ['-s', 'lmdb:small', 'lmdb:nosuch'],
    ['-q', 'a', 'lmdb:nosuch', 'lmdb:small'],
    ['lmdb:nosuch'],
    ['proxy:lmdb:small'],
    ['-s', 'proxy:lmdb:small'],
    ['-s', 'static:x'],
    ['-d', 'a', 'inline:{a=b}'],
    ['texthash:small'],
    ['fail:small'],
  ];
  const results = await eachParallel(cases, (args) => runBoth(pair, args));
  results.forEach((r, i) => assert.equal(sameResult(r).ours, sameResult(r).real, cases[i]!.join(' ')));
  // A name longer than LMDB's key limit: both stop with LMDB's error.
  await buildBoth(pair, [], Buffer.from(`${'k'.repeat(600)}: v\n`), 'longkey');
});

test('run as root: the table is built as the source owner with the source permissions (unless -o/-p)', async (t) => {
  const nobody = { uid: 65534, gid: 65534 };
  const cases: Array<[string[], number]> = [[[], 0o640], [['-o'], 0o755], [['-p'], 0o604]];
  await eachParallel(cases, async ([args, mode]) => {
    const pair = makePair(t);
    chmodSync(pair.real, 0o777);
    chmodSync(pair.ours, 0o777);
    putFile(pair, 'aliases', 'a: b\n', mode);
    chownSync(join(pair.real, 'aliases'), nobody.uid, nobody.gid);
    chownSync(join(pair.ours, 'aliases'), nobody.uid, nobody.gid);
    const r = await runBoth(pair, [...args, 'lmdb:aliases']);
    assert.equal(sameResult(r).ours, sameResult(r).real);
    const st = (dir: string): string => {
      const s = statSync(join(dir, 'aliases.lmdb'));
      return `uid=${s.uid} gid=${s.gid} mode=${(s.mode & 0o777).toString(8)}`;
    };
    assert.equal(st(pair.ours), st(pair.real), `${args.join(' ')} source mode ${mode.toString(8)}`);
  });
});
