/*
 * db_common_test - query and result templates as pgsql_table(5) / sqlite_table(5) describe them
 *
 * What it does: expands templates for keys and results and checks the
 * cases the man pages spell out: %s %u %d %1..%9 %S %U %D %%, the query
 * suppressed for a key without domain (%d, %D, %N), with an empty local
 * part (%u) or too few labels (%N), results skipped by %u/%d, escaping of
 * substituted pieces only, and the domain list (string-list matching).
 * The same code is compared with the real postmap in
 * test/oracle/dict_sql_*_test.ts.
 *
 * What it does not do: query any database.
 *
 * DIAGNOSTICS
 * None.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cfgParserAlloc } from './cfg_parser.js';
import {
  dbCommonCheckDomain,
  dbCommonCheckDomainAsync,
  dbCommonExpand,
  dbCommonJoin,
  dbCommonParse,
  dbCommonParseDomain,
  dbCommonParseTemplate,
  dbCommonSqlBuildQuery,
} from './db_common.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

function ctxFor(t: { after(fn: () => void): void }, query: string, result = '%s', extra = ''): ReturnType<typeof dbCommonParse> {
  const cfg = cfgParserAlloc(tableFile(t, 'x.cf', `query = ${query}\n${extra}`));
  const ctx = dbCommonParse(cfg, query, { fold: true, type: 'pgsql', name: 'x.cf' });
  dbCommonParseTemplate(ctx, result, false);
  dbCommonParseDomain(cfg, ctx);
  return ctx;
}

function q(ctx: ReturnType<typeof dbCommonParse>, format: string, key: string, escape: ((s: string) => string) | null = null): string | null {
  const out: string[] = [];
  return dbCommonExpand(ctx, format, key, null, escape, out) ? dbCommonJoin(out) : null;
}

test('query templates: %s %u %d %[1-9] %% and when the query is suppressed (pgsql_table(5))', (t) => {
  const f = "u='%u' d='%d' s='%s' 1=%1 2=%2 3=%3 %%";
  const ctx = ctxFor(t, f);
  assert.equal(q(ctx, f, 'user@mail.example.com'), "u='user' d='mail.example.com' s='user@mail.example.com' 1=com 2=example 3=mail %");
  assert.equal(q(ctx, f, 'user@example.com'), null, 'too few domain labels');
  assert.equal(q(ctx, f, 'user'), null, 'no domain');
  assert.equal(q(ctx, f, '@mail.example.com'), null, 'empty local part');
  const u = "SELECT '%u'";
  const cu = ctxFor(t, u);
  assert.equal(q(cu, u, 'plain'), "SELECT 'plain'", '%u of a key without domain is the key');
  assert.equal(q(cu, u, 'a@b@c'), "SELECT 'a@b'", 'the domain starts after the last @');
  assert.equal(q(cu, u, '@c'), null);
});

test('escaping applies to substituted pieces, not to the template text', (t) => {
  const f = "SELECT 'it''s' WHERE k='%s' AND u='%u'";
  const ctx = ctxFor(t, f);
  const esc = (s: string): string => s.replace(/'/g, "''");
  assert.equal(q(ctx, f, "o'k@x.org", esc), "SELECT 'it''s' WHERE k='o''k@x.org' AND u='o''k'");
});

test('an empty key warns and makes no query', async (t) => {
  const ctx = ctxFor(t, "SELECT '%s'");
  const { result, lines } = await captureWarnings(() => q(ctx, "SELECT '%s'", ''));
  assert.equal(result, null);
  assert.deepEqual(lines, ['warning: table "pgsql:x.cf": empty query string -- ignored']);
});

test('result_format: %s %u %d of the result, %S %U %D of the key, joined with commas', async (t) => {
  const fmt = '%s|%u|%d|%S|%U|%D';
  const ctx = ctxFor(t, "SELECT '%s'", fmt);
  const out: string[] = [];
  assert.equal(dbCommonExpand(ctx, fmt, 'r@res.org', 'k@key.net', null, out), true);
  assert.equal(dbCommonExpand(ctx, fmt, 'noat', 'k@key.net', null, out), false, '%d of a result without domain skips it');
  assert.equal(dbCommonExpand(ctx, fmt, '@res.org', 'k@key.net', null, out), false, '%u of a result with empty local part skips it');
  assert.equal(dbCommonExpand(ctx, fmt, 's@two.org', 'k@key.net', null, out), true);
  assert.equal(dbCommonJoin(out), 'r@res.org|r|res.org|k@key.net|k|key.net,s@two.org|s|two.org|k@key.net|k|key.net');
  const { lines } = await captureWarnings(() => dbCommonExpand(ctx, fmt, '', 'k@key.net', null, []));
  assert.deepEqual(lines, ['warning: table "pgsql:x.cf": empty lookup result for: "k@key.net" -- ignored']);
});

test('%D in result_format alone suppresses queries for keys without domain', (t) => {
  const ctx = ctxFor(t, "SELECT '%s'", 'x-%D');
  assert.equal(q(ctx, "SELECT '%s'", 'nodomain'), null);
  assert.equal(q(ctx, "SELECT '%s'", 'a@b.c'), "SELECT 'a@b.c'");
});

test('domain list: only user@listed-domain keys are looked up', async (t) => {
  const ctx = ctxFor(t, "SELECT '%s'", '%s', 'domain = example.com, Other.ORG, inline:{ table.net=1 }\n');
  for (const [key, want] of [
    ['u@example.com', 'ok'],
    ['u@other.org', 'ok'],
    ['u@table.net', 'ok'],
    ['u@sub.example.com', 'skip'],
    ['@example.com', 'skip'],
    ['example.com', 'skip'],
    ['u@elsewhere.com', 'skip'],
  ] as const) {
    assert.equal(dbCommonCheckDomain(ctx, key), want, key);
    assert.equal(await dbCommonCheckDomainAsync(ctx, key), want, key);
  }
  const none = ctxFor(t, "SELECT '%s'");
  assert.equal(dbCommonCheckDomain(none, 'anything'), 'ok');
});

test('the old select_field/table/where_field query', (t) => {
  const cfg = cfgParserAlloc(tableFile(t, 'x.cf', 'table = aliases\nselect_field = forw_addr\nwhere_field = alias\nadditional_conditions = AND status = \'paid\'\n'));
  assert.equal(dbCommonSqlBuildQuery(cfg), "SELECT forw_addr FROM aliases WHERE alias='%s' AND status = 'paid'");
});
