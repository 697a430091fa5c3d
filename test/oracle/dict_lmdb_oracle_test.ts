/*
 * dict_lmdb_oracle_test - lmdb: tables shared with the real Postfix, both ways
 *
 * What it does: from one source file of a few hundred tricky keys
 * (dict_oracle_keys.ts: upper case, extensions, quoted parts, IPv6,
 * UTF-8, up to 509 bytes), the real postmap(1) builds one table and
 * Postern's dictLmdbOpen (create, bulk) builds another, with null bytes
 * (the default) and without (postmap -n / try0Null only). Then: the real
 * `postmap -s` and `postmap -q -` (over every oracle key) give the same
 * output for both files; Postern's lookups and sequence of the real
 * postmap's file equal the real postmap's answers; a table updated by
 * the real `postmap -i` and rebuilt in place by the real postmap is seen
 * by an already open Postern Dict; the duplicate-entry warning and the
 * over-long-key error read as the real postmap's.
 *
 * What it does NOT do: test postmap(1) itself (src/postmap), or lists
 * of hash:/btree: (the unit tests cover the alias).
 *
 * DIAGNOSTICS
 * A mismatch fails with the key, our answer and postmap's.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { isValidUtf8Bytes } from '../../src/global/dict_utf8.js';
import { captureWarnings } from '../../src/global/dict_test_lib.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import { ORACLE_MAIN_BASE, writeMainCf } from '../lib/postfix_oracle.js';
import { tempDir, waitUntil } from '../lib/temp_dir.js';
import { oracleKeys } from './dict_oracle_keys.js';

const POSTMAP = '/usr/sbin/postmap';
const POSTMAP_TIMEOUT_MS = 20_000;
/** Longest source key: 509 bytes + the null byte stays within LMDB's 511. */
const MAX_SOURCE_KEY = 509;
const MIN_ENTRIES = 150;
/** How long an open Dict may take to notice a rebuilt file (its once-a-second check, with margin). */
const SEE_CHANGE_MS = 5000;
/** How long a child node process may take to start on a loaded machine. */
const CHILD_START_MS = 20_000;

interface Oracle { dir: string; config: MailConfig }

function setup(t: { after(fn: () => void): void }): Oracle {
  const dir = tempDir(t, 'postern-lmdb-oracle-');
  writeMainCf(dir, { ...ORACLE_MAIN_BASE });
  return { dir, config: loadMailConfig({ configDir: dir }) };
}

/** Runs the real postmap; returns stdout and stderr as byte strings and the exit status. */
function postmap(o: Oracle, args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(POSTMAP, ['-c', o.dir, ...args], {
    input: Buffer.from(input, 'latin1'),
    timeout: POSTMAP_TIMEOUT_MS,
    maxBuffer: 32 * 1024 * 1024,
  });
  assert.equal(r.error, undefined, `postmap ${args.join(' ')}: ${r.error}`);
  return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('latin1') };
}

/** The source entries: oracle keys a postmap source line can carry, each with its own value. */
function sourceEntries(): Array<[string, string]> {
  const keys = oracleKeys().filter((k) => k !== '' && !/[\s"\\]/.test(k) && !k.startsWith('#') && !k.endsWith(':')
    && k.length <= MAX_SOURCE_KEY && isValidUtf8Bytes(k));
  return keys.map((k, i) => [k, `value-${i} ${k.length % 3 === 0 ? 'with space' : 'x'}`]);
}

function writeSource(file: string, entries: Array<[string, string]>): void {
  writeFileSync(file, Buffer.from(entries.map(([k, v]) => `${k} ${v}\n`).join(''), 'latin1'));
}

/** Our build of the same entries: create + bulk, as postmap does. */
async function ourBuild(o: Oracle, name: string, entries: Array<[string, string]>, try1Null: boolean): Promise<string[]> {
  const { lines } = await captureWarnings(async () => {
    const d = dictOpen(`lmdb:${name}`, { mode: 'create', bulk: true, config: o.config, try0Null: !try1Null, try1Null });
    for (const [k, v] of entries) await d.update!(k, v);
    await d.close();
  });
  return lines;
}

/** key → value lines of `postmap -q -`, as a map. */
function parseQ(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    assert.ok(tab >= 0, `odd postmap output ${JSON.stringify(line)}`);
    m.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return m;
}

/** The oracle keys but the empty one (see the empty-key test: an error unless the table is known to use null bytes). */
const queryKeys = (): string[] => oracleKeys().filter((k) => k !== '');

for (const [label, flag, try1] of [['with null bytes', null, true], ['without null bytes (-n)', '-n', false]] as const) {
  test(`lmdb oracle ${label}: both builds dump and answer alike in the real postmap; we read its file as it does`, async (t) => {
    const o = setup(t);
    const entries = sourceEntries();
    assert.ok(entries.length >= MIN_ENTRIES, `only ${entries.length} entries`);
    const theirs = join(o.dir, 'theirs');
    const ours = join(o.dir, 'ours');
    writeSource(theirs, entries);
    const built = postmap(o, [...(flag ? [flag] : []), `lmdb:${theirs}`]);
    assert.equal(built.status, 0, built.stderr);
    const ourWarnings = await ourBuild(o, ours, entries, try1);
    // Duplicates after folding (User/USER ...) are warned about by both.
    const dupOf = (s: string): string[] => s.split('\n').filter((l) => l.includes('duplicate entry')).map((l) => l.replace(/^.*?: warning: lmdb:[^:]*: /, ''));
    assert.deepEqual(ourWarnings.filter((l) => l.includes('duplicate entry')).map((l) => l.replace(/^warning: lmdb:[^:]*: /, '')), dupOf(built.stderr));

    const dumpTheirs = postmap(o, ['-s', `lmdb:${theirs}`]);
    const dumpOurs = postmap(o, ['-s', `lmdb:${ours}`]);
    assert.equal(dumpTheirs.status, 0, dumpTheirs.stderr);
    assert.equal(dumpOurs.status, 0, dumpOurs.stderr);
    assert.ok(dumpTheirs.stdout.split('\n').length > MIN_ENTRIES);
    assert.equal(dumpOurs.stdout, dumpTheirs.stdout, 'postmap -s of our table differs');

    const keys = queryKeys();
    const input = keys.map((k) => `${k}\n`).join('');
    const qTheirs = postmap(o, ['-q', '-', `lmdb:${theirs}`], input);
    const qOurs = postmap(o, ['-q', '-', `lmdb:${ours}`], input);
    assert.equal(qOurs.stdout, qTheirs.stdout, 'postmap -q - over our table differs');
    const answers = parseQ(qTheirs.stdout);
    assert.ok(answers.size >= MIN_ENTRIES / 2, `only ${answers.size} hits`);

    dictCacheClear();
    const d = dictOpen(`lmdb:${theirs}`, { config: o.config });
    const mismatches: string[] = [];
    await captureWarnings(async () => {
      for (const k of keys) {
        const mine = await d.lookup(k);
        const real = answers.get(k) ?? null;
        if (mine !== real) mismatches.push(`${JSON.stringify(k)}: ours ${JSON.stringify(mine)}, postmap ${JSON.stringify(real)}`);
      }
    });
    assert.deepEqual(mismatches, []);
    const dumped: string[] = [];
    for await (const [k, v] of d.sequence!()) dumped.push(`${k}\t${v}\n`);
    assert.equal(dumped.join(''), dumpTheirs.stdout, 'our sequence of the real table differs from postmap -s');
    await d.close();
  });
}

test('lmdb oracle: an open Dict sees the real postmap -i and an in-place rebuild', async (t) => {
  const o = setup(t);
  const src = join(o.dir, 'live');
  writeSource(src, [['a@example.com', 'one']]);
  assert.equal(postmap(o, [`lmdb:${src}`]).status, 0);
  dictCacheClear();
  const d = dictOpen(`lmdb:${src}`, { config: o.config });
  assert.equal(await d.lookup('A@Example.com'), 'one');
  const inc = postmap(o, ['-i', `lmdb:${src}`], 'B@example.com two\n');
  assert.equal(inc.status, 0, inc.stderr);
  assert.ok(await waitUntil(() => d.lookupSync!('b@example.com') === 'two', SEE_CHANGE_MS), 'postmap -i not seen');
  writeSource(src, [['a@example.com', 'rebuilt'], ['c@example.com', 'three']]);
  const re = postmap(o, [`lmdb:${src}`]);
  assert.equal(re.status, 0, re.stderr);
  assert.ok(await waitUntil(() => d.lookupSync!('a@example.com') === 'rebuilt', SEE_CHANGE_MS), 'rebuild not seen');
  assert.equal(d.lookupSync!('c@example.com'), 'three');
  assert.equal(d.lookupSync!('b@example.com'), null);
  // And the real postmap reads what we write into its file.
  const w = dictOpen(`lmdb:${src}`, { mode: 'write', config: o.config });
  await w.update!('D@example.com', 'four');
  assert.equal(await w.delete!('c@example.com'), true);
  await w.close();
  assert.equal(postmap(o, ['-s', `lmdb:${src}`]).stdout, 'a@example.com\trebuilt\nd@example.com\tfour\n');
  await d.close();
});

test('lmdb oracle: duplicate and over-long key texts read as the real postmap\'s', async (t) => {
  const o = setup(t);
  const name = 'dup';
  writeSource(join(o.dir, name), [['a', '1'], ['A', '2']]);
  // Relative names, as an administrator types them: the message names the table as given.
  const real = spawnSync(POSTMAP, ['-c', o.dir, `lmdb:${name}`], { cwd: o.dir, timeout: POSTMAP_TIMEOUT_MS });
  const realWarn = real.stderr.toString('latin1').trim();
  assert.equal(realWarn, 'postmap: warning: lmdb:dup: duplicate entry: "a"');
  const cwd = process.cwd();
  process.chdir(o.dir);
  try {
    const lines = await ourBuild(o, name, [['a', '1'], ['A', '2']], true);
    assert.deepEqual(lines, [realWarn.replace(/^postmap: /, '')]);
    const long = 'k'.repeat(511);
    writeSource(join(o.dir, 'big'), [[long, 'v']]);
    const realBig = spawnSync(POSTMAP, ['-c', o.dir, 'lmdb:big'], { cwd: o.dir, timeout: POSTMAP_TIMEOUT_MS });
    assert.equal(realBig.status, 1);
    const realFatal = realBig.stderr.toString('latin1').trim().replace(/^postmap: fatal: /, '');
    const d = dictOpen('lmdb:big', { mode: 'create', bulk: true, config: o.config });
    await assert.rejects(d.update!(long, 'v'), (e: unknown) => e instanceof Error && e.message === realFatal);
    await d.close();
  } finally {
    process.chdir(cwd);
  }
});

test('lmdb oracle: an empty key is a lookup error unless the table is known to store null bytes', async (t) => {
  const o = setup(t);
  const name = join(o.dir, 'empty');
  writeSource(name, [['a', '1']]);
  assert.equal(postmap(o, ['-n', `lmdb:${name}`]).status, 0);
  const real = postmap(o, ['-q', '', `lmdb:${name}`]);
  assert.equal(real.status, 1);
  const realText = real.stderr.trim().replace(/^postmap: fatal: /, '');
  assert.match(realText, /MDB_BAD_VALSIZE/);
  dictCacheClear();
  const d = dictOpen(`lmdb:${name}`, { config: o.config });
  const { lines } = await captureWarnings(() => assert.rejects(d.lookup(''), (e: unknown) => e instanceof Error && e.message === realText));
  assert.deepEqual(lines, [`warning: ${realText}`]);
  // Narrowed to null bytes by a hit, postmap finds nothing instead (and so do we).
  const withNul = join(o.dir, 'withnul');
  writeSource(withNul, [['a', '1']]);
  assert.equal(postmap(o, [`lmdb:${withNul}`]).status, 0);
  const narrowed = postmap(o, ['-q', '-', `lmdb:${withNul}`], 'a\n\n');
  assert.equal(narrowed.status, 0, narrowed.stderr);
  assert.equal(narrowed.stdout, 'a\t1\n');
  const n = dictOpen(`lmdb:${withNul}`, { config: o.config });
  assert.equal(await n.lookup('a'), '1');
  assert.equal(await n.lookup(''), null);
  await d.close();
  await n.close();
});

test('lmdb oracle: a table older than its source is warned about on reading, as postmap -q does', async (t) => {
  const o = setup(t);
  const name = join(o.dir, 'stale');
  writeSource(name, [['a', '1']]);
  assert.equal(postmap(o, [`lmdb:${name}`]).status, 0);
  const ago = (s: number): Date => new Date(Date.now() - s * 1000);
  const cases: Array<[number, number]> = [[300, 200], [300, 50], [200, 300]];
  for (const [tableAge, sourceAge] of cases) {
    utimesSync(`${name}.lmdb`, ago(tableAge), ago(tableAge));
    utimesSync(name, ago(sourceAge), ago(sourceAge));
    const real = postmap(o, ['-q', 'a', `lmdb:${name}`]);
    assert.equal(real.stdout, '1\n');
    const realWarnings = real.stderr.split('\n').filter((l) => l !== '').map((l) => l.replace(/^postmap: /, ''));
    dictCacheClear();
    const { result, lines } = await captureWarnings(async () => {
      const d = dictOpen(`lmdb:${name}`, { config: o.config });
      const v = await d.lookup('a');
      await d.close();
      return v;
    });
    assert.equal(result, '1');
    assert.deepEqual(lines, realWarnings, `table ${tableAge} s old, source ${sourceAge} s old`);
  }
});

test('lmdb oracle: changes by the real postmap reach new readers while another process holds the table open', async (t) => {
  const o = setup(t);
  const src = join(o.dir, 'held');
  writeSource(src, [['a', 'one']]);
  assert.equal(postmap(o, [`lmdb:${src}`]).status, 0);
  const dictJs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'global', 'dict.js');
  // The holder opens first (so LMDB's lock file is set up by it) and stays open.
  const script = `import(${JSON.stringify(dictJs)}).then(async (m) => {
    const d = m.dictOpen(${JSON.stringify(`lmdb:${src}`)});
    process.stdout.write(String(d.lookupSync('a')) + '\\n');
    setTimeout(() => {}, 30000);
    process.stdin.on('data', () => process.exit(0));
  })`;
  const holder = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => holder.kill());
  let out = '';
  holder.stdout.setEncoding('utf8');
  holder.stdout.on('data', (s: string) => { out += s; });
  assert.ok(await waitUntil(() => out.includes('\n'), CHILD_START_MS), 'holder did not start');
  assert.equal(out, 'one\n');
  for (let i = 0; i < 3; i++) {
    const inc = postmap(o, ['-i', `lmdb:${src}`], `k${i} v${i}\n`);
    assert.equal(inc.status, 0, inc.stderr);
    dictCacheClear();
    const d = dictOpen(`lmdb:${src}`, { config: o.config });
    assert.equal(await d.lookup(`k${i}`), `v${i}`, `change ${i} not seen by a new reader`);
    await d.close();
  }
  // And the real postmap -d removes from a table we wrote.
  const ours = join(o.dir, 'ours');
  await ourBuild(o, ours, [['x', '1'], ['y', '2']], true);
  const del = postmap(o, ['-d', 'X', `lmdb:${ours}`]);
  assert.equal(del.status, 0, del.stderr);
  dictCacheClear();
  const r = dictOpen(`lmdb:${ours}`, { config: o.config });
  assert.equal(await r.lookup('x'), null);
  assert.equal(await r.lookup('y'), '2');
  await r.close();
  holder.stdin.write('exit\n');
});
