/*
 * dict_sql_pgsql_test - pgsql: tables against a real PostgreSQL and the real Postfix postmap -q
 *
 * What it does: starts a throwaway PostgreSQL (pg_server.ts), loads the
 * same tricky fixture as the sqlite test into database "mail" (and into
 * "oldstrings", where standard_conforming_strings is off, so quoting must
 * double backslashes as PQescapeStringConn does), and asks Postern's pgsql:
 * table and the real `postmap -q -` the same keys for every query shape:
 * answers must be equal. Hosts are reached as inet:host:port, host:port,
 * and postgresql:// URIs over TCP and over the UNIX socket; a dead first host fails
 * over. Errors: a query the server rejects and a stopped server make the
 * real postmap fail (exit 1) and ours reject with DictError (never null)
 * after Postfix's warning; when the server is back, the same opened table
 * answers again once the host's stay-away interval has passed.
 *
 * What it does not do: test sqlite: or the shared templates alone.
 *
 * DIAGNOSTICS
 * Assertion messages list every key whose answers differ; a server that
 * does not start fails the test with its log.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DictError, dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { pgsqlSetTiming } from '../../src/global/dict_pgsql.js';
import { captureWarnings } from '../../src/global/dict_test_lib.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { type PgServer, PG_SUPERUSER, startPgServer } from '../lib/pg_server.js';
import { writeMainCf } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';
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

/** Byte string → text for the driver that writes the fixture. */
const txt = (s: string): string => Buffer.from(s, 'latin1').toString('utf8');
/** How long a failed host rests in these tests. */
const TEST_RETRY_MS = 300;

let pg: PgServer;
let conf: string;
let dir: string;

async function loadFixture(db: string): Promise<void> {
  await pg.exec(`CREATE DATABASE ${db}`);
  await pg.exec('CREATE TABLE t (k text, v text); CREATE TABLE u (local text, domain text, v text); CREATE TABLE d (l1 text, l2 text, v text)', db);
  await insertRows(db, 't', SQL_FIXTURE_T.map(([k, v]) => [txt(k), v === null ? null : txt(String(v))]));
  await insertRows(db, 'u', SQL_FIXTURE_U.map((r) => r.map(txt)));
  await insertRows(db, 'd', SQL_FIXTURE_D.map((r) => r.map(txt)));
}

/** One parameterized INSERT for all rows. */
async function insertRows(db: string, table: string, rows: Array<Array<string | null>>): Promise<void> {
  let n = 0;
  const tuples = rows.map((r) => `(${r.map(() => `$${++n}`).join(', ')})`);
  await pg.exec(`INSERT INTO ${table} VALUES ${tuples.join(', ')}`, db, rows.flat());
}

/** Writes NAME.cf with the connection settings and the lines; returns the table spec. */
function cf(name: string, lines: string[], hosts = `inet:127.0.0.1:${pg.port}`, dbname = 'mail'): string {
  const file = join(dir, `${name}.cf`);
  writeFileSync(file, [`hosts = ${hosts}`, `user = ${PG_SUPERUSER}`, 'password = unused', `dbname = ${dbname}`, ...lines, ''].join('\n'));
  return `pgsql:${file}`;
}

before(async () => {
  pg = await startPgServer();
  dir = pg.dir;
  conf = join(dir, 'etc');
  writeMainCf(conf, {
    compatibility_level: '3.6',
    pgsrc_hosts: `127.0.0.1:${pg.port}`,
    pgsrc_user: PG_SUPERUSER,
    pgsrc_dbname: 'mail',
    pgsrc_table: 'u',
    pgsrc_query: "SELECT v FROM $pgsrc_table WHERE local='%u'",
  });
  await loadFixture('mail');
  await loadFixture('oldstrings');
  await pg.exec('ALTER DATABASE oldstrings SET standard_conforming_strings = off');
  pgsqlSetTiming({ retryMs: TEST_RETRY_MS });
});

after(async () => {
  await pg?.cleanup();
});

const KEYS = SQL_TRICKY_KEYS.filter((k) => k !== 'multi' && k !== 'multi2');

test('pgsql: every query shape answers the tricky keys as the real postmap -q does', async () => {
  // The template logic is shared with sqlite: (compared in full there); here every shape once.
  const shapes = ['plain', 'userdomain', 'labels', 'keyparts', 'resultparts', 'domainlist', 'legacy', 'literal', 'twocols', 'upperkey'];
  const specs = shapes.map((name) => cf(name, SQL_CONFIGS[name]!));
  specs.push(cf('lengths', ["query = SELECT length(v), NULL FROM t WHERE k='%s'"]));
  specs.push(cf('function', ['select_function = upper']));
  specs.push('pgsql:pgsrc');
  const [reals, { result: ours }] = await Promise.all([
    Promise.all(specs.map((spec) => oracleLookups(conf, spec, KEYS))),
    captureWarnings(() => Promise.all(specs.map((spec) => ourLookups(conf, spec, KEYS)))),
  ]);
  for (const [i, spec] of specs.entries()) {
    assert.deepEqual(differences(KEYS, ours[i]!, reals[i]!), [], spec);
    assert.ok(reals[i]!.some((v) => v !== null), `${spec}: the fixture finds something`);
  }
});

test('pgsql: quoting with standard_conforming_strings off, over every host syntax', async () => {
  const specs = [
    cf('old', SQL_CONFIGS.plain!, `inet:127.0.0.1:${pg.port}`, 'oldstrings'),
    cf('oldud', SQL_CONFIGS.userdomain!, `127.0.0.1:${pg.port}`, 'oldstrings'),
    cf('unix', SQL_CONFIGS.plain!, `postgresql:///mail?host=${pg.socketDir}&port=${pg.port}&user=${PG_SUPERUSER}`),
    cf('uri', SQL_CONFIGS.keyparts!, `postgresql://${PG_SUPERUSER}@127.0.0.1:${pg.port}/oldstrings`, 'ignored'),
  ];
  const reals = await Promise.all(specs.map((spec) => oracleLookups(conf, spec, KEYS)));
  for (const [i, spec] of specs.entries()) {
    const { result: ours } = await captureWarnings(() => ourLookups(conf, spec, KEYS));
    assert.deepEqual(differences(KEYS, ours, reals[i]!), [], spec);
    assert.ok(reals[i]!.some((v) => v !== null), `${spec}: the fixture finds something`);
  }
});

test('pgsql: multi-row keys and expansion_limit as the real postmap', async () => {
  const cases = ['limit1', 'limit3', 'twocols'].flatMap((name) =>
    ['multi', 'multi2'].map((key) => ({ spec: cf(name, SQL_CONFIGS[name]!), key })),
  );
  const reals = await Promise.all(cases.map(({ spec, key }) => oracleLookupOne(conf, spec, key)));
  for (const [i, { spec, key }] of cases.entries()) {
    const real = reals[i]!;
    const { result: ours, lines } = await captureWarnings(() => ourLookups(conf, spec, [key]));
    if (real.status === 0) {
      assert.equal(ours[0], real.stdout.replace(/\n$/, ''), `${spec} ${key}`);
    } else if (real.stderr === '') {
      assert.equal(real.status, 1);
      assert.equal(ours[0], null, `${spec} ${key}`);
    } else {
      assert.equal(ours[0], 'ERROR', `${spec} ${key}: ${real.stderr}`);
      const want = real.stderr.split('\n').find((l) => l.includes('Expansion limit'))!.replace(/^postmap: /, '');
      assert.ok(lines.includes(want), `${spec} ${key}: ${JSON.stringify(lines)} lacks ${want}`);
    }
  }
});

test('pgsql: a dead first host fails over to the next', async () => {
  const dead = await freePort();
  const spec = cf('failover', SQL_CONFIGS.plain!, `inet:127.0.0.1:${dead}, inet:127.0.0.1:${pg.port}`);
  const keys = ['alice@example.com', 'bob', 'nobody@example.com'];
  const real = await oracleLookups(conf, spec, keys);
  const { result: ours } = await captureWarnings(() => ourLookups(conf, spec, keys));
  assert.deepEqual(ours, real);
  assert.deepEqual(ours, ['Alice A', 'bob-local', null]);
});

test('pgsql: a query the server rejects is a DictError after the warning, as the real postmap fails', async () => {
  const spec = cf('badquery', ["query = SELECT v FROM nosuchtable WHERE k='%s'"]);
  const real = await oracleLookupOne(conf, spec, 'alice@example.com');
  assert.equal(real.status, 1);
  assert.match(real.stderr, /postmap: warning: pgsql query failed: fatal error from host inet:127\.0\.0\.1:\d+: ERROR: {2}relation "nosuchtable" does not exist/);
  dictCacheClear();
  const dict = dictOpen(spec, { config: loadMailConfig({ configDir: conf }) });
  const { result, lines } = await captureWarnings(() => dict.lookup('alice@example.com').then(() => 'found', (e: unknown) => e));
  assert.ok(result instanceof DictError, String(result));
  assert.ok(
    lines.some((l) => l.startsWith(`warning: pgsql query failed: fatal error from host inet:127.0.0.1:${pg.port}: ERROR:  relation "nosuchtable" does not exist`)),
    lines.join('\n'),
  );
  await dict.close();
  dictCacheClear();
});

test('pgsql: server stopped mid-run → DictError, never null; back again → the same table answers', async () => {
  const spec = cf('restart', SQL_CONFIGS.plain!);
  dictCacheClear();
  const dict = dictOpen(spec, { config: loadMailConfig({ configDir: conf }) });
  try {
    assert.equal(await dict.lookup('alice@example.com'), 'Alice A');
    await pg.stop();
    const real = await oracleLookupOne(conf, spec, 'alice@example.com');
    assert.equal(real.status, 1, 'the real postmap fails too');
    assert.match(real.stderr, /connect to pgsql server inet:127\.0\.0\.1:\d+/);
    for (let i = 0; i < 3; i++) {
      const { result, lines } = await captureWarnings(() => dict.lookup('alice@example.com').then((v) => v, (e: unknown) => e));
      assert.ok(result instanceof DictError, `lookup ${i} while down gave ${String(result)}`);
      if (i === 0) assert.ok(lines.some((l) => l.startsWith('warning: pgsql query failed: fatal error from host')), lines.join('\n'));
    }
    await pg.start();
    await new Promise((r) => setTimeout(r, TEST_RETRY_MS + 50));
    assert.equal(await dict.lookup('alice@example.com'), 'Alice A');
    assert.equal(await dict.lookup('nobody@example.com'), null);
  } finally {
    if (!pg.running) await pg.start();
    await dict.close();
    dictCacheClear();
  }
});

test('pgsql: concurrent lookups on one table are answered in order', async () => {
  const spec = cf('concurrent', SQL_CONFIGS.plain!);
  dictCacheClear();
  const dict = dictOpen(spec, { config: loadMailConfig({ configDir: conf }) });
  const keys = ['alice@example.com', 'bob', 'nobody', "o'brien@example.com", 'real'];
  const got = await Promise.all(keys.map((k) => dict.lookup(k)));
  assert.deepEqual(got, ['Alice A', 'bob-local', null, "O'Brien", '2.5']);
  await dict.close();
  dictCacheClear();
});

test('pgsql: a query slower than the query timeout is a DictError, and the host is tried again later', async () => {
  const spec = cf('slow', ["query = SELECT v FROM t, pg_sleep(CASE WHEN '%s' = 'slow' THEN 5 ELSE 0 END) WHERE k='%s'"]);
  dictCacheClear();
  const dict = dictOpen(spec, { config: loadMailConfig({ configDir: conf }) });
  pgsqlSetTiming({ queryMs: 500 });
  try {
    const started = Date.now();
    const { result, lines } = await captureWarnings(() => dict.lookup('slow').then((v) => v, (e: unknown) => e));
    assert.ok(result instanceof DictError, String(result));
    assert.ok(Date.now() - started < 4000, 'bounded by the query timeout');
    assert.ok(lines.some((l) => l.includes('query timed out after 500 ms')), lines.join('\n'));
    await new Promise((r) => setTimeout(r, TEST_RETRY_MS + 50));
    assert.equal(await dict.lookup('alice@example.com'), 'Alice A');
  } finally {
    pgsqlSetTiming({ queryMs: 60_000 });
    await dict.close();
    dictCacheClear();
  }
});
