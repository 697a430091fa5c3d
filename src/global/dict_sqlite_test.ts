/*
 * dict_sqlite_test - how sqlite: tables print REAL values and quote keys
 *
 * What it does: checks sqliteRealText() against what the real Postfix
 * postmap printed for REAL columns read through sqlite3_column_text()
 * (Debian SQLite 3.40: 1.0, 2.5, 1.0e+20, 1.0e-05, 15 significant digits
 * for 1/3), and sqliteQuote() as sqlite3_mprintf("%q"). The full
 * differential test is test/oracle/dict_sql_sqlite_test.ts.
 *
 * What it does not do: open a database.
 *
 * DIAGNOSTICS
 * None.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sqliteQuote, sqliteRealText } from './dict_sqlite.js';

test('REAL values read as the real postmap prints them', () => {
  assert.equal(sqliteRealText(1), '1.0');
  assert.equal(sqliteRealText(42), '42.0');
  assert.equal(sqliteRealText(2.5), '2.5');
  assert.equal(sqliteRealText(1e20), '1.0e+20');
  assert.equal(sqliteRealText(0.00001), '1.0e-05');
  assert.equal(sqliteRealText(1 / 3), '0.333333333333333');
  assert.equal(sqliteRealText(-1234.5), '-1234.5');
});

test('keys are quoted as sqlite3 %q quotes them', () => {
  assert.equal(sqliteQuote("o'brien"), "o''brien");
  assert.equal(sqliteQuote('back\\slash "dq"'), 'back\\slash "dq"');
});
