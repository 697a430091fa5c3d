/*
 * postmap_build_test - Postern's postmap builds the same tables as the real postmap(1)
 *
 * What it does: builds the same source files with the real
 * /usr/sbin/postmap and with Postern's postmap, under each option that
 * changes a build (-f, -N, -n, -r, -w, -u, smtputf8 off), and checks
 * that exit status and diagnostics are identical, that both LMDB files
 * hold the same raw bytes (keys and values, null bytes included), that
 * the real postmap -s lists our table exactly as its own, and that
 * hundreds of keys queried with -q - give the same output and status
 * from every program on every table (Postern's postmap spawned for the
 * default options and the generated source, run in-process for the
 * other option variants). Sources: a fixture full of tricky
 * lines (src/postmap/testdata/postmap_tricky.map) and a generated one.
 *
 * What it does not do: query options and error cases
 * (postmap_query_test.ts), ownership and permissions
 * (postmap_perm_test.ts).
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { srcPath } from '../lib/paths.js';
import { makePostmapPair, putBoth, rawLmdb, runBoth, runBothInProcess, runOursIn, runRealIn, show, type PostmapPair } from './postmap_oracle_lib.js';

const TRICKY = readFileSync(srcPath('src/postmap/testdata/postmap_tricky.map')).toString('latin1');

/** A generated source: mixed-case addresses, domains, IPs, values with spaces. */
function generatedSource(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const user = i % 3 === 0 ? `User${i}` : `user${i}`;
    const dom = i % 5 === 0 ? `Dom${i % 17}.Example` : `dom${i % 17}.example`;
    if (i % 7 === 0) lines.push(`${dom} relay:[mx${i}.example]`);
    else if (i % 11 === 0) lines.push(`10.${i % 256}.${(i * 7) % 256}.${(i * 13) % 256} REJECT blocked ${i}`);
    else if (i % 13 === 0) lines.push(`@${dom} catchall${i}@example`);
    else lines.push(`${user}@${dom}\tvalue ${i}  with  spaces`);
  }
  return `${lines.join('\n')}\n`;
}

/** Keys to query: every key of the source as written, upper and lower case, and misses. */
function queryKeys(source: string): string[] {
  // No empty key: the real lmdb: table fails on it (MDB_BAD_VALSIZE), see the report.
  const keys = new Set<string>([' ', 'nosuch', 'NOSUCH@EXAMPLE.COM', 'user@', '@', 'dup ', '"quoted local"@Example.com']);
  for (const line of source.split('\n')) {
    const m = /^(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const k = m[1]!;
    keys.add(k);
    // ASCII case changes only: a case-changed UTF-8 byte string would not be UTF-8 (see the report).
    keys.add(k.replace(/[a-z]+/g, (x) => x.toUpperCase()));
    keys.add(k.replace(/[A-Z]+/g, (x) => x.toLowerCase()));
    keys.add(`${k}x`);
  }
  return [...keys].filter((k) => !k.includes('\r'));
}

/**
 * Build with both programs and compare diagnostics and raw contents;
 * query both tables with -q - (same keys). With `full`, also -s by
 * both programs and each program reading the other's table.
 */
async function checkBuild(pair: PostmapPair, name: string, source: string, opts: string[], queryOpts: string[], full: boolean): Promise<void> {
  putBoth(pair, name, source);
  // The full comparisons spawn Postern's postmap; the option variants run it in-process.
  const both = full ? runBoth : runBothInProcess;
  const build = await both(pair, [...opts, `lmdb:${name}`]);
  assert.equal(show(build.ours), show(build.real), `build ${opts.join(' ')}`);
  assert.deepEqual(rawLmdb(join(pair.ours, `${name}.lmdb`)), rawLmdb(join(pair.real, `${name}.lmdb`)), `raw ${opts.join(' ')}`);
  const keys = Buffer.from(`${queryKeys(source).join('\n')}\n`, 'latin1');
  const s = [...queryOpts, '-s', `lmdb:${name}`];
  const q = [...queryOpts, '-q', '-', `lmdb:${name}`];
  const qBoth = await both(pair, q, keys);
  const qReal = qBoth.real;
  assert.equal(show(qBoth.ours), show(qReal), `-q - ${opts.join(' ')}`);
  assert.ok(qReal.stdout.split('\n').length > 10, 'the query finds keys');
  if (!full) return;
  // Each program reading its own table and the other's.
  const [realOfOurs, realOfReal, oursOfReal, qCross] = await Promise.all([
    runRealIn(pair, pair.ours, s), runRealIn(pair, pair.real, s), runOursIn(pair, pair.real, s),
    runOursIn(pair, pair.real, q, keys),
  ]);
  assert.equal(show(realOfOurs), show(realOfReal), `real -s ${opts.join(' ')}`);
  assert.equal(show(oursOfReal), show(realOfReal), `our -s ${opts.join(' ')}`);
  assert.equal(show(qCross), show(qReal), `our -q - of the real table ${opts.join(' ')}`);
}

const VARIANTS: Array<{ opts: string[]; query: string[]; settings?: Record<string, string> }> = [
  { opts: [], query: [] },
  { opts: ['-f'], query: ['-f'] },
  { opts: ['-N'], query: ['-N'] },
  { opts: ['-n'], query: ['-n'] },
  { opts: ['-r'], query: [] },
  { opts: ['-w'], query: [] },
  { opts: ['-u'], query: ['-u'] },
  { opts: [], query: [], settings: { compatibility_level: '0' } },
];

test('postmap build: the tricky source under each build option, identical to the real postmap', async (t) => {
  await Promise.all(VARIANTS.map((v) => {
    const label = `${v.opts.join(' ') || 'default'}${v.settings ? ' smtputf8 off' : ''}`;
    return t.test(label, async (st) => {
      const pair = makePostmapPair(st, v.settings ?? {});
      await checkBuild(pair, 'tricky', TRICKY, v.opts, v.query, v.opts.length === 0 && !v.settings);
    });
  }));
});

test('postmap build: a generated 400-entry source, and several tables in one call', async (t) => {
  const pair = makePostmapPair(t);
  await checkBuild(pair, 'gen', generatedSource(400), [], [], true);
  putBoth(pair, 'a', 'Alpha one\nbeta two\n');
  putBoth(pair, 'b', 'gamma three\nalpha four\n');
  const both = await runBothInProcess(pair, ['lmdb:a', 'b']);
  assert.equal(show(both.ours), show(both.real));
  for (const name of ['a', 'b']) {
    assert.deepEqual(rawLmdb(join(pair.ours, `${name}.lmdb`)), rawLmdb(join(pair.real, `${name}.lmdb`)));
  }
  // -q on several tables: the first that has the key answers.
  const [one, many] = await Promise.all([
    runBothInProcess(pair, ['-q', 'ALPHA', 'lmdb:b', 'lmdb:a']),
    runBothInProcess(pair, ['-q', '-', 'lmdb:b', 'lmdb:a'], 'alpha\nALPHA\nbeta\ngamma\nnosuch\n'),
  ]);
  assert.equal(show(one.ours), show(one.real));
  assert.equal(show(many.ours), show(many.real));
  assert.equal(many.real.stdout, 'alpha\tfour\nALPHA\tfour\nbeta\ttwo\ngamma\tthree\n');
});

test('postmap -q KEY: value and exit status of one query, for 120 keys', async (t) => {
  const pair = makePostmapPair(t);
  const source = generatedSource(200);
  putBoth(pair, 'gen', source);
  const build = await runBothInProcess(pair, ['lmdb:gen']);
  assert.equal(show(build.ours), show(build.real));
  const keys = queryKeys(source).filter((_, i) => i % 5 === 0).slice(0, 120);
  assert.equal(keys.length, 120);
  const runs = await Promise.all(keys.map((k) => runBothInProcess(pair, ['-q', k, 'lmdb:gen'])));
  runs.forEach((r, i) => assert.equal(show(r.ours), show(r.real), keys[i]));
  const found = runs.filter((r) => r.real.status === 0).length;
  assert.ok(found > 20 && found < 100, `hits and misses (${found} found)`);
});

test('postmap build: rebuilding replaces the old contents', async (t) => {
  const pair = makePostmapPair(t);
  putBoth(pair, 'r', 'old1 a\nold2 b\n');
  await runBothInProcess(pair, ['lmdb:r']);
  putBoth(pair, 'r', 'new1 c\n');
  const again = await runBothInProcess(pair, ['lmdb:r']);
  assert.equal(show(again.ours), show(again.real));
  assert.deepEqual(rawLmdb(join(pair.ours, 'r.lmdb')), rawLmdb(join(pair.real, 'r.lmdb')));
  assert.deepEqual(rawLmdb(join(pair.ours, 'r.lmdb')), ['new1\\0\tc\\0']);
});
