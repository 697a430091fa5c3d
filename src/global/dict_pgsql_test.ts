/*
 * dict_pgsql_test - host syntax and quoting of pgsql: tables
 *
 * What it does: checks pgsqlParseHost() on the host forms pgsql_table(5)
 * lists (the unix: form as the real 3.7 postmap uses it: the whole rest
 * is the socket directory) and pgsqlQuote() as PQescapeStringConn quotes
 * with standard_conforming_strings on and off. The full behaviour against
 * a real PostgreSQL and the real postmap is in
 * test/oracle/dict_sql_pgsql_test.ts.
 *
 * What it does not do: connect anywhere.
 *
 * DIAGNOSTICS
 * None.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dictCacheClear, dictOpen } from './dict.js';
import { pgsqlParseHost, pgsqlQuote } from './dict_pgsql.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

test('host forms of pgsql_table(5)', () => {
  assert.deepEqual(pgsqlParseHost('inet:db.example.com:5433'), { unix: false, host: 'db.example.com', port: 5433 });
  assert.deepEqual(pgsqlParseHost('db.example.com:5433'), { unix: false, host: 'db.example.com', port: 5433 });
  assert.deepEqual(pgsqlParseHost('db.example.com'), { unix: false, host: 'db.example.com', port: 5432 });
  assert.deepEqual(pgsqlParseHost('unix:/var/run/postgresql'), { unix: true, host: '/var/run/postgresql', port: 5432 });
  assert.deepEqual(pgsqlParseHost('unix:/tmp/dir:5433'), { unix: true, host: '/tmp/dir:5433', port: 5432 });
  assert.equal(pgsqlParseHost('postgresql://u@h/db?sslmode=require').uri, 'postgresql://u@h/db?sslmode=require');
});

test('quoting as PQescapeStringConn', () => {
  assert.equal(pgsqlQuote("o'k\\x", true), "o''k\\x");
  assert.equal(pgsqlQuote("o'k\\x", false), "o''k\\\\x");
});

test('a pgsql: table opened for writing is a surrogate; a dead server is a DictError, not null', async (t) => {
  dictCacheClear();
  const cf = tableFile(t, 'x.cf', "hosts = inet:127.0.0.1:1\ndbname = x\nquery = SELECT '%s'\nretry_interval = 1\n");
  const { result: w, lines } = await captureWarnings(() => dictOpen(`pgsql:${cf}`, { mode: 'write' }));
  await assert.rejects(w.lookup('a'));
  assert.ok(lines.some((l) => l.includes(`pgsql:${cf} map requires O_RDONLY access mode`)), lines.join('\n'));
  const d = dictOpen(`pgsql:${cf}`);
  const { result, lines: l2 } = await captureWarnings(() => d.lookup('a').then((v) => v, (e: Error) => e.name));
  assert.equal(result, 'DictError');
  assert.ok(l2.some((l) => l.startsWith('warning: connect to pgsql server inet:127.0.0.1:1: ')), l2.join('\n'));
  await d.close();
  dictCacheClear();
});
