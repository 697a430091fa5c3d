/*
 * dict_lmdb_test - unit tests of the lmdb: table (and hash:/btree: opened as lmdb:)
 *
 * What it does: builds tables through dictOpen() in create/write mode
 * and reads them back: folding, the stored null bytes (checked in the
 * raw file through lmdb-js), try0/try1 narrowing, the duplicate rules
 * and their texts, delete, sequence, the key size limit, a map that must
 * grow past a tiny lmdb_map_size, bulk atomicity for an open reader, a
 * table updated in place and a file replaced by another seen by an open
 * Dict, a missing file, foreign and LMDB 1.0 headers refused before
 * lmdb-js sees them, and the once-per-type hash:/btree: warning.
 *
 * What it does NOT do: compare with the real Postfix
 * (test/oracle/dict_lmdb_oracle_test.ts does).
 *
 * DIAGNOSTICS
 * Assertion failures name the key or the text that differs.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { dictCacheClear, dictOpen, type DictOpenOptions } from './dict.js';
import { DictError, type Dict } from './dict_base.js';
import { LMDB_REOPEN_CHECK_MS, lmdbAliasWarning } from './dict_lmdb.js';
import { LMDB_HEADER, LMDB_LAYOUT, loadLmdb } from './dict_lmdb_env.js';
import { captureWarnings } from './dict_test_lib.js';
import { MailConfig } from './mail_conf.js';
import { tempDir, waitUntil } from '../../test/lib/temp_dir.js';

const W: DictOpenOptions = { mode: 'create', bulk: true };
/** How long a child node process may take to start on a loaded machine. */
const CHILD_START_MS = 20_000;

async function build(name: string, entries: Array<[string, string]>, opts: DictOpenOptions = W): Promise<string[]> {
  const { lines } = await captureWarnings(async () => {
    const d = dictOpen(`lmdb:${name}`, opts);
    for (const [k, v] of entries) await d.update!(k, v);
    await d.close();
  });
  return lines;
}

/** The raw (key, value) pairs of FILE.lmdb, as latin1 strings with their null bytes. */
async function rawEntries(name: string): Promise<Array<[string, string]>> {
  const db = loadLmdb().open<Buffer, Buffer>({ path: `${name}.lmdb`, noSubdir: true, readOnly: true, keyEncoding: 'binary', encoding: 'binary' });
  const out: Array<[string, string]> = [];
  for (const { key, value } of db.getRange({})) out.push([key.toString('latin1'), value.toString('latin1')]);
  await db.close();
  return out;
}

async function seq(d: Dict): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const kv of d.sequence!()) out.push(kv);
  return out;
}

test('lmdb: build, fold, trailing null bytes, lookups and sequence', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'access');
  const warnings = await build(name, [['User@Example.COM', 'REJECT'], ['b', 'OK value'], ['\xe9t\xe9', '8bit']]);
  assert.deepEqual(warnings, []);
  assert.deepEqual(await rawEntries(name), [['b\0', 'OK value\0'], ['user@example.com\0', 'REJECT\0'], ['\xe9t\xe9\0', '8bit\0']]);
  dictCacheClear();
  const d = dictOpen(`lmdb:${name}`);
  assert.equal(d.lookupSync!('USER@example.com'), 'REJECT');
  assert.equal(await d.lookup('b'), 'OK value');
  assert.equal(await d.lookup('c'), null);
  assert.equal(await d.lookup(''), null);
  assert.deepEqual(await seq(d), [['b', 'OK value'], ['user@example.com', 'REJECT'], ['\xe9t\xe9', '8bit']]);
  const nofold = dictOpen(`lmdb:${name}`, { fold: false });
  assert.equal(await nofold.lookup('USER@example.com'), null);
  await d.close();
  await nofold.close();
});

test('lmdb: try0Null only writes no null bytes; a default reader finds them', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'n');
  await build(name, [['k', 'v']], { ...W, try1Null: false });
  assert.deepEqual(await rawEntries(name), [['k', 'v']]);
  dictCacheClear();
  const d = dictOpen(`lmdb:${name}`);
  assert.equal(await d.lookup('K'), 'v');
  await d.close();
});

test('lmdb: a value ends at its first null byte, as Postfix copies it', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'z');
  await build(name, [['k', 'a\0b']], { ...W, try1Null: false });
  dictCacheClear();
  const d = dictOpen(`lmdb:${name}`);
  assert.equal(await d.lookup('k'), 'a');
  await d.close();
});

test('lmdb: duplicate keys per dup mode, with Postfix\'s text', async (t) => {
  const dir = tempDir(t, 'postern-lmdb-');
  const entries: Array<[string, string]> = [['a', '1'], ['A', '2']];
  const spec = (n: string): string => `lmdb:${join(dir, n)}`;
  assert.deepEqual(await build(join(dir, 'w'), entries), [`warning: ${spec('w')}: duplicate entry: "a"`]);
  assert.deepEqual(await build(join(dir, 'i'), entries, { ...W, dup: 'ignore' }), []);
  assert.deepEqual(await build(join(dir, 'r'), entries, { ...W, dup: 'replace' }), []);
  const fatal = dictOpen(spec('f'), { ...W, dup: 'fatal' });
  await fatal.update!('a', '1');
  await assert.rejects(fatal.update!('A', '2'), (e: unknown) => e instanceof DictError && e.message === `${spec('f')}: duplicate entry: "a"`);
  await fatal.close();
  dictCacheClear();
  assert.equal(await dictOpen(spec('w')).lookup('a'), '1');
  assert.equal(await dictOpen(spec('i')).lookup('a'), '1');
  assert.equal(await dictOpen(spec('r')).lookup('a'), '2');
});

test('lmdb: write mode updates, deletes and sees duplicates already in the file', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'rw');
  await build(name, [['a', '1'], ['b', '2']]);
  const { lines } = await captureWarnings(async () => {
    const d = dictOpen(`lmdb:${name}`, { mode: 'write' });
    await d.update!('a', 'x');
    await d.update!('c', '3');
    assert.equal(await d.delete!('B'), true);
    assert.equal(await d.delete!('nope'), false);
    await d.close();
  });
  assert.deepEqual(lines, [`warning: lmdb:${name}: duplicate entry: "a"`]);
  assert.deepEqual(await rawEntries(name), [['a\0', '1\0'], ['c\0', '3\0']]);
});

test('lmdb: keys over LMDB\'s 511 bytes are refused on update and not found on lookup', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'big');
  const d = dictOpen(`lmdb:${name}`, W);
  await d.update!('k'.repeat(510), 'fits');
  await assert.rejects(d.update!('k'.repeat(511), 'v'), (e: unknown) => e instanceof DictError
    && e.message === `error updating lmdb:${name}: MDB_BAD_VALSIZE: Unsupported size of key/DB name/data, or wrong DUPFIXED size`);
  await d.close();
  dictCacheClear();
  const r = dictOpen(`lmdb:${name}`);
  assert.equal(await r.lookup('k'.repeat(510)), 'fits');
  assert.equal(await r.lookup('k'.repeat(2000)), null);
  await r.close();
});

test('lmdb: a table far larger than lmdb_map_size is built (the map grows)', async (t) => {
  const dir = tempDir(t, 'postern-lmdb-');
  const name = join(dir, 'large');
  const config = new MailConfig(dir, [], { lmdb_map_size: '65536' });
  const d = dictOpen(`lmdb:${name}`, { ...W, config });
  const N = 5000;
  for (let i = 0; i < N; i++) await d.update!(`key${i}@example.com`, `value ${i} ${'x'.repeat(40)}`);
  await d.close();
  dictCacheClear();
  const r = dictOpen(`lmdb:${name}`, { config });
  assert.equal(await r.lookup(`key${N - 1}@example.com`), `value ${N - 1} ${'x'.repeat(40)}`);
  assert.equal((await seq(r)).length, N);
  await r.close();
});

test('lmdb: a bulk create is invisible to an open reader until close, then seen whole', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'atomic');
  await build(name, [['old', '1']]);
  dictCacheClear();
  const reader = dictOpen(`lmdb:${name}`);
  assert.equal(await reader.lookup('old'), '1');
  const w = dictOpen(`lmdb:${name}`, W);
  await w.update!('new', '2');
  await new Promise((r) => setImmediate(r));
  assert.equal(await reader.lookup('old'), '1');
  assert.equal(await reader.lookup('new'), null);
  await w.close();
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(await reader.lookup('old'), null);
  assert.equal(await reader.lookup('new'), '2');
  await reader.close();
});

test('lmdb: a non-bulk update is seen by an open reader; a replaced file is reopened', async (t) => {
  const dir = tempDir(t, 'postern-lmdb-');
  const name = join(dir, 'live');
  await build(name, [['a', '1']]);
  dictCacheClear();
  const reader = dictOpen(`lmdb:${name}`);
  assert.equal(await reader.lookup('a'), '1');
  const w = dictOpen(`lmdb:${name}`, { mode: 'write' });
  await w.update!('b', '2');
  await w.close();
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(await reader.lookup('b'), '2');
  // A new file renamed over the old one (another inode).
  const other = join(dir, 'other');
  await build(other, [['a', 'replaced']]);
  renameSync(`${other}.lmdb`, `${name}.lmdb`);
  // Seen within the once-a-second check (bounded wait, with margin for a loaded machine).
  assert.ok(await waitUntil(() => reader.lookupSync!('a') === 'replaced', LMDB_REOPEN_CHECK_MS * 5));
  assert.equal(reader.lookupSync!('b'), null);
  await reader.close();
});

test('lmdb: a missing file makes a surrogate with Postfix\'s text', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'missing');
  dictCacheClear();
  const { result: d, lines } = await captureWarnings(() => dictOpen(`lmdb:${name}`));
  const why = `open database ${name}.lmdb: No such file or directory`;
  assert.deepEqual(lines, [`warning: lmdb:${name} is unavailable. ${why}`]);
  await assert.rejects(d.lookup('x'), (e: unknown) => e instanceof DictError && e.message.includes(why));
});

test('lmdb: LMDB 1.0 and foreign files are refused before lmdb-js reads them', async (t) => {
  const dir = tempDir(t, 'postern-lmdb-');
  const good = join(dir, 'good');
  await build(good, [['a', '1']]);
  const v2 = join(dir, 'v2');
  copyFileSync(`${good}.lmdb`, `${v2}.lmdb`);
  const buf = readFileSync(`${v2}.lmdb`);
  buf.writeUInt32LE(2, LMDB_HEADER.versionOffset);
  writeFileSync(`${v2}.lmdb`, buf);
  const text = join(dir, 'text');
  writeFileSync(`${text}.lmdb`, 'this is not a database at all, just some text\n');
  const folder = join(dir, 'folder');
  mkdirSync(`${folder}.lmdb`);
  const cases: Array<[string, string, DictOpenOptions]> = [
    [v2, 'not an LMDB 0.9 file (LMDB data format version 2; rebuild it with postmap)', {}],
    [text, 'not an LMDB 0.9 file (bad magic number)', {}],
    [v2, 'not an LMDB 0.9 file (LMDB data format version 2; rebuild it with postmap)', { mode: 'write' }],
    [folder, 'not a regular file', {}],
  ];
  for (const [name, why, opts] of cases) {
    dictCacheClear();
    const { result: d, lines } = await captureWarnings(() => dictOpen(`lmdb:${name}`, opts));
    assert.deepEqual(lines, [`warning: lmdb:${name} is unavailable. open database ${name}.lmdb: ${why}`]);
    await assert.rejects(d.lookup('a'), DictError);
  }
});

test('lmdb: hash: and btree: open NAME.lmdb, each warning once per process', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'alias');
  await build(name, [['k', 'v']]);
  dictCacheClear();
  const first = await captureWarnings(async () => [await dictOpen(`hash:${name}`).lookup('k'), await dictOpen(`btree:${name}`).lookup('K')]);
  assert.deepEqual(first.result, ['v', 'v']);
  assert.deepEqual(first.lines, [`warning: ${lmdbAliasWarning('hash', name)}`, `warning: ${lmdbAliasWarning('btree', name)}`]);
  assert.equal(lmdbAliasWarning('hash', '/etc/postfix/access'),
    'hash:/etc/postfix/access: Postern stores hash: tables as lmdb: (/etc/postfix/access.lmdb); rebuild them with postmap');
  dictCacheClear();
  const again = await captureWarnings(async () => dictOpen(`hash:${name}`, { fold: false }).lookup('k'));
  assert.equal(again.result, 'v');
  assert.deepEqual(again.lines, []);
});

test('lmdb: the loaded package is the LMDB 0.9 build', () => {
  const v = (loadLmdb() as unknown as { version: { major: number; minor: number } }).version;
  assert.deepEqual([v.major, v.minor], [0, 9]);
});

test('lmdb: a table root builds in a root-owned directory is readable by an unprivileged user', async (t) => {
  assert.equal(process.getuid?.(), 0, 'the tests run as root');
  const dir = tempDir(t, 'postern-lmdb-');
  chmodSync(dir, 0o755);
  const name = join(dir, 'shared');
  await build(name, [['k', 'v']]);
  assert.equal(statSync(`${name}.lmdb`).mode & 0o777, 0o644);
  assert.equal(statSync(`${name}.lmdb-lock`).mode & 0o777, 0o666, 'readers must be able to register in the lock file');
  const dictJs = join(dirname(fileURLToPath(import.meta.url)), 'dict.js');
  const script = `import(${JSON.stringify(dictJs)}).then(async (m) => { const d = m.dictOpen(${JSON.stringify(`lmdb:${name}`)}); process.stdout.write(String(await d.lookup('K'))); })`;
  const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, timeout: CHILD_START_MS, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'v', r.stderr);
});

test('lmdb: a reader in another process never sees a half-built table', async (t) => {
  const name = join(tempDir(t, 'postern-lmdb-'), 'atomic2');
  const N = 10000;
  await build(name, [['first', 'old'], ['last', 'old']]);
  const dictJs = join(dirname(fileURLToPath(import.meta.url)), 'dict.js');
  // The child reads 'first' and 'last' on every event-loop turn (a fresh snapshot each) until it sees the new table.
  const script = `import(${JSON.stringify(dictJs)}).then(async (m) => {
    const d = m.dictOpen(${JSON.stringify(`lmdb:${name}`)});
    let turns = 0; let torn = 0; const deadline = Date.now() + 30000;
    process.stdout.write('ready\\n');
    while (Date.now() < deadline) {
      const a = d.lookupSync('first'); const b = d.lookupSync('last');
      turns++;
      if (a !== b) torn++;
      if (a === 'new' && b === 'new') break;
      await new Promise((r) => setImmediate(r));
    }
    process.stdout.write(JSON.stringify({ turns, torn, done: d.lookupSync('first') }) + '\\n');
  })`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s: string) => { out += s; });
  assert.ok(await waitUntil(() => out.includes('ready'), CHILD_START_MS), 'child did not start');
  const entries: Array<[string, string]> = [['first', 'new']];
  for (let i = 0; i < N; i++) entries.push([`middle${i}`, 'x'.repeat(50)]);
  entries.push(['last', 'new']);
  await build(name, entries);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(await exited, 0);
  const result = JSON.parse(out.split('\n')[1]!) as { turns: number; torn: number; done: string };
  assert.equal(result.torn, 0);
  assert.equal(result.done, 'new');
  assert.ok(result.turns > 1, `only ${result.turns} reads`);
});

/** The newest transaction id in FILE.lmdb's meta pages. */
function newestTxnid(name: string): bigint {
  const b = readFileSync(`${name}.lmdb`);
  const psize = b.readUInt32LE(LMDB_LAYOUT.metaPageSizeOffset);
  const t0 = b.readBigUInt64LE(LMDB_LAYOUT.metaTxnidOffset);
  const t1 = b.readBigUInt64LE(psize + LMDB_LAYOUT.metaTxnidOffset);
  return t0 > t1 ? t0 : t1;
}

test('lmdb: a file replaced while another process holds the old one open is read whole by a new reader', async (t) => {
  const dir = tempDir(t, 'postern-lmdb-');
  const name = join(dir, 'swap');
  await build(name, [['k', 'old']]);
  const other = join(dir, 'other');
  await build(other, [['k', 'new']]);
  // Many commits to the old file, ending at the other parity than the new file's newest transaction.
  const w = dictOpen(`lmdb:${name}`, { mode: 'write', dup: 'replace' });
  for (let i = 0; i < 7 || newestTxnid(name) % 2n === newestTxnid(other) % 2n; i++) await w.update!(`n${i}`, 'x');
  await w.close();
  assert.ok(newestTxnid(name) > newestTxnid(other) + 1n);
  const dictJs = join(dirname(fileURLToPath(import.meta.url)), 'dict.js');
  const script = `import(${JSON.stringify(dictJs)}).then(async (m) => {
    const d = m.dictOpen(${JSON.stringify(`lmdb:${name}`)});
    process.stdout.write(String(d.lookupSync('k')) + '\\n');
    setTimeout(() => {}, 30000);
    process.stdin.on('data', () => process.exit(0));
  })`;
  const holder = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => holder.kill());
  let out = '';
  holder.stdout.setEncoding('utf8');
  holder.stdout.on('data', (s: string) => { out += s; });
  assert.ok(await waitUntil(() => out.includes('\n'), CHILD_START_MS), 'holder did not start');
  assert.equal(out, 'old\n');
  renameSync(`${other}.lmdb`, `${name}.lmdb`);
  dictCacheClear();
  const d = dictOpen(`lmdb:${name}`);
  assert.equal(await d.lookup('k'), 'new');
  await d.close();
  holder.stdin.write('exit\n');
});
