/*
 * dict_sql_sqlite_test - sqlite: tables against the real Postfix postmap -q
 *
 * What it does: builds one SQLite file with tricky data, writes .cf files
 * (and main.cf-style settings) for every query shape sqlite_table(5)
 * describes (%s, %u/%d, %1/%2, result_format with %s %u %d %S %U %D %%,
 * domain lists with a table in them, expansion_limit, the old
 * select_field/table/where_field form, $name that is not expanded in a
 * .cf file but is in main.cf), and asks Postern's sqlite: table and the
 * real `postmap -q -` the same tricky keys: the answers must be equal.
 * Error cases: expansion limit exceeded (real postmap exits 1 with a
 * warning; ours rejects with DictError after the same warning), a query
 * SQLite cannot prepare (both fatal with the same text).
 *
 * What it does not do: test pgsql: (dict_sql_pgsql_test.ts).
 *
 * DIAGNOSTICS
 * Assertion messages list every key whose answers differ.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { DictError, dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { captureWarnings } from '../../src/global/dict_test_lib.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { setFatalHandler } from '../../src/util/msg.js';
import { writeMainCf } from '../lib/postfix_oracle.js';
import { tempDir } from '../lib/temp_dir.js';
import {
  differences,
  oracleLookupOne,
  oracleLookups,
  ourLookups,
  SQL_CONFIGS,
  SQL_FIXTURE_D,
  SQL_FIXTURE_T,
  SQL_FIXTURE_U,
  SQL_TRICKY_KEYS,
} from './dict_sql_lib.js';

interface Db {
  exec(sql: string): void;
  prepare(sql: string): { run(...a: unknown[]): unknown };
  close(): void;
}
const Database = createRequire(import.meta.url)('better-sqlite3') as new (p: string) => Db;

/** Byte string → text for the driver that writes the fixture. */
const txt = (s: string): string => Buffer.from(s, 'latin1').toString('utf8');

function buildDb(path: string): void {
  const db = new Database(path);
  db.exec('PRAGMA synchronous = OFF; BEGIN');
  db.exec('CREATE TABLE t (k TEXT, v); CREATE TABLE u (local TEXT, domain TEXT, v TEXT); CREATE TABLE d (l1 TEXT, l2 TEXT, v TEXT);');
  const t = db.prepare('INSERT INTO t VALUES (?, ?)');
  for (const [k, v] of SQL_FIXTURE_T) t.run(txt(k), typeof v === 'string' ? txt(v) : v);
  const u = db.prepare('INSERT INTO u VALUES (?, ?, ?)');
  for (const r of SQL_FIXTURE_U) u.run(...r.map(txt));
  const d = db.prepare('INSERT INTO d VALUES (?, ?, ?)');
  for (const r of SQL_FIXTURE_D) d.run(...r.map(txt));
  db.exec('COMMIT');
  db.close();
}

function setup(t: { after(fn: () => void): void }): { dir: string; conf: string; dbpath: string } {
  const dir = tempDir(t, 'postern-sqlite-');
  const conf = join(dir, 'etc');
  writeMainCf(conf, {
    compatibility_level: '3.6',
    sqlsrc_dbpath: join(dir, 'db.sqlite'),
    sqlsrc_table: 'u',
    sqlsrc_query: "SELECT v FROM $sqlsrc_table WHERE local='%u'",
    sqlsrc_result_format: '$sqlsrc_table:%s',
  });
  const dbpath = join(dir, 'db.sqlite');
  buildDb(dbpath);
  for (const [name, lines] of Object.entries(SQL_CONFIGS)) {
    writeFileSync(join(dir, `${name}.cf`), [`dbpath = ${dbpath}`, ...lines, ''].join('\n'));
  }
  return { dir, conf, dbpath };
}

test('sqlite: every configuration answers the tricky keys as the real postmap -q does', async (t) => {
  const { dir, conf } = setup(t);
  const specs = [...Object.keys(SQL_CONFIGS).map((n) => `sqlite:${join(dir, `${n}.cf`)}`), 'sqlite:sqlsrc'];
  // expansion_limit errors stop the real postmap -q -: those are tested one key at a time below.
  const keys = SQL_TRICKY_KEYS.filter((k) => k !== 'multi' && k !== 'multi2');
  const reals = await Promise.all(specs.map((spec) => oracleLookups(conf, spec, keys)));
  for (const [i, spec] of specs.entries()) {
    const real = reals[i]!;
    const { result: ours } = await captureWarnings(() => ourLookups(conf, spec, keys));
    assert.deepEqual(differences(keys, ours, real), [], spec);
    assert.ok(real.some((v) => v !== null), `${spec}: the fixture finds something`);
  }
});

test('sqlite: multi-row keys and expansion_limit as the real postmap', async (t) => {
  const { dir, conf } = setup(t);
  const cases = ['plain', 'limit1', 'limit3', 'legacy', 'resultparts', 'twocols'].flatMap((name) =>
    ['multi', 'multi2'].map((key) => ({ spec: `sqlite:${join(dir, `${name}.cf`)}`, key })),
  );
  const reals = await Promise.all(cases.map(({ spec, key }) => oracleLookupOne(conf, spec, key)));
  for (const [i, { spec, key }] of cases.entries()) {
    {
      const real = reals[i]!;
      const { result: ours, lines } = await captureWarnings(() => ourLookups(conf, spec, [key]));
      if (real.status === 0) {
        assert.equal(ours[0], real.stdout.replace(/\n$/, ''), `${spec} ${key}`);
      } else if (real.stderr === '') {
        assert.equal(real.status, 1);
        assert.equal(ours[0], null, `${spec} ${key}`);
      } else {
        // The real postmap reports the temporary error and exits 1.
        assert.match(real.stderr, /Expansion limit exceeded/, `${spec} ${key}: ${real.stderr}`);
        assert.equal(ours[0], 'ERROR', `${spec} ${key}`);
        const want = real.stderr.split('\n').find((l) => l.includes('Expansion limit'))!.replace(/^postmap: /, '');
        assert.ok(lines.includes(want), `${spec} ${key}: ${JSON.stringify(lines)} lacks ${want}`);
      }
    }
  }
});

test('sqlite: a query SQLite cannot prepare is fatal with the real postmap text', async (t) => {
  const { dir, conf, dbpath } = setup(t);
  const cf = join(dir, 'bad.cf');
  writeFileSync(cf, `dbpath = ${dbpath}\nquery = SELECT v FROM nosuchtable WHERE k='%s'\n`);
  const real = await oracleLookupOne(conf, `sqlite:${cf}`, 'alice@example.com');
  assert.equal(real.status, 1);
  const want = /postmap: fatal: (.*)/.exec(real.stderr)![1]!.trim();
  dictCacheClear();
  const dict = dictOpen(`sqlite:${cf}`, { config: loadMailConfig({ configDir: conf }) });
  setFatalHandler((_sev, text) => {
    throw new Error(`FATAL ${text}`);
  });
  try {
    const { result } = await captureWarnings(() => dict.lookup('alice@example.com').then(() => 'no error', (e: Error) => e.message));
    assert.equal(result.trim(), `FATAL ${want}`);
  } finally {
    setFatalHandler(null);
    await dict.close();
    dictCacheClear();
  }
});

test('sqlite: opened for writing or with a missing .cf file, the table is a surrogate', async (t) => {
  const { dir } = setup(t);
  dictCacheClear();
  const { result: w, lines } = await captureWarnings(() => dictOpen(`sqlite:${join(dir, 'plain.cf')}`, { mode: 'write' }));
  await assert.rejects(w.lookup('a'), DictError);
  assert.ok(lines.some((l) => l.includes('map requires O_RDONLY access mode')), lines.join('\n'));
  const { result: m, lines: l2 } = await captureWarnings(() => dictOpen(`sqlite:${join(dir, 'none.cf')}`));
  await assert.rejects(m.lookup('a'), DictError);
  assert.ok(l2.some((l) => l.includes(`open ${join(dir, 'none.cf')}: No such file or directory`)), l2.join('\n'));
  dictCacheClear();
});

test('sqlite: lookupSync answers as lookup', async (t) => {
  const { dir } = setup(t);
  dictCacheClear();
  const dict = dictOpen(`sqlite:${join(dir, 'plain.cf')}`);
  assert.ok(dict.lookupSync);
  assert.equal(dict.lookupSync('ALICE@example.com'), 'Alice A');
  assert.equal(dict.lookupSync('nobody@example.com'), null);
  assert.equal(await dict.lookup('alice@example.com'), 'Alice A');
  await dict.close();
  dictCacheClear();
});
