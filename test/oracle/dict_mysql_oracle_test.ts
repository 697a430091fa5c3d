/*
 * dict_mysql_oracle_test - mysql: tables against a real MariaDB, compared with the real postmap -q
 *
 * What it does: starts a throwaway MariaDB (mariadb_server.ts), fills a
 * database with tricky keys and values (quotes, backslashes, '%', NULL,
 * empty strings, several rows and columns, UTF-8 and latin1 columns, a
 * stored procedure), writes .cf files exercising query, %u %d %1 %2,
 * result_format with %s %u %d %S %U %D, domain, the legacy
 * select_field/table/where_field form, CALL, unix: sockets, host
 * failover and main.cf-prefixed settings, and checks that Postern's
 * dictOpen('mysql:...') answers every key of TRICKY_KEYS exactly as the
 * real `postmap -q -` does. Error cases (bad query, no result set,
 * expansion_limit, server down) must fail with Postfix's warning, never
 * "not found"; a server stopped mid-run makes lookups fail and, once it
 * is back, the same open table answers again.
 *
 * What it does not do: test TLS or option files against the server.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type MariadbServer, startMariadb } from '../lib/mariadb_server.js';
import { freePort } from '../lib/proc.js';
import { backdate } from '../lib/postfix_oracle.js';
import { captureWarnings } from '../../src/global/dict_test_lib.js';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { DictError } from '../../src/global/dict_base.js';
import type { MailConfig } from '../../src/global/mail_conf.js';
import { mysqlParseOptions } from '../../src/global/dict_mysql_options.js';
import { MYSQL_MAX_PENDING } from '../../src/global/dict_mysql.js';
import {
  TRICKY_KEYS, asUtf8, bytes, oracleConfig, oursQueryAll, oursQueryOne, realQueryAll, realQueryOne,
} from './dict_mysql_oracle_lib.js';

const PASSWORD = "s3cr'et";

const SETUP_SQL = `
CREATE DATABASE mail CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER 'postfix'@'127.0.0.1' IDENTIFIED BY 's3cr\\'et';
CREATE USER 'postfix'@'localhost' IDENTIFIED BY 's3cr\\'et';
GRANT SELECT, EXECUTE ON mail.* TO 'postfix'@'127.0.0.1';
GRANT SELECT, EXECUTE ON mail.* TO 'postfix'@'localhost';
USE mail;
CREATE TABLE aliases (k VARCHAR(255) COLLATE utf8mb4_bin, v VARCHAR(255) NULL);
INSERT INTO aliases VALUES ('a@example.com','b@example.org'), ('x','y1'), ('x','y2'),
 ('o\\'q@example.com','quote'), ('back\\\\slash','bs'), ('pct%@example.com','percent'), ('under_score','us'),
 ('josé@exämple.com','utf8 é value'), ('empty',''), ('nullv',NULL), ('@example.com','catchall'),
 ('user@','trailing-at'), ('"a b"@example.com','quoted'), ('user+ext@example.com','ext'),
 ('user@example.com','user@example.net'), ('many','m1'), ('many','m2'), ('many','m3'), ('sp ace','space'),
 ('example.com','the domain'), ('sub.example.com','sub'), ('user','local-only'), ('X','upper'),
 ('smörgåsbord','@nolocal'), ('multi','one'), ('multi','two@example.net'), ('a*','star'), ('日本@example.com','jp'),
 ('semi;colon','semi');
CREATE TABLE users (local VARCHAR(64), domain VARCHAR(255), dest VARCHAR(255) NULL);
INSERT INTO users VALUES ('alice','example.com','alice@mail.example.com'), ('bob','example.com',NULL),
 ('carol','other.example','carol@elsewhere'), ('user','example.com','u1'), ('user','example.com','u2'),
 ('o\\'q','example.com','oq'), ('a','sub.example.com','asub');
CREATE TABLE latin (k VARCHAR(255) CHARACTER SET latin1 COLLATE latin1_bin, v VARCHAR(255) CHARACTER SET latin1);
INSERT INTO latin VALUES ('smörgåsbord','latin é'), ('x','latin x');
CREATE PROCEDURE lookup(IN p VARCHAR(255)) READS SQL DATA SQL SECURITY INVOKER
 SELECT v FROM aliases WHERE k = p;
CREATE PROCEDURE nothing(IN p VARCHAR(255)) READS SQL DATA SQL SECURITY INVOKER
 SET @x = p;
`;

describe('mysql: against MariaDB and the real postmap', () => {
  let srv: MariadbServer;
  let dir: string;
  let config: MailConfig;
  let deadPort: number;

  const cf = (name: string, lines: Record<string, string>, hosts = `inet:127.0.0.1:${srv.port}`): string => {
    const all = { hosts, user: 'postfix', password: PASSWORD, dbname: 'mail', ...lines };
    const file = join(dir, name);
    writeFileSync(file, Object.entries(all).map(([k, v]) => `${k} = ${v}\n`).join(''));
    // The real postmap waits for a settings file younger than a second to settle.
    backdate(file);
    return `mysql:${file}`;
  };

  before(async () => {
    srv = await startMariadb();
    await srv.sql(SETUP_SQL);
    dir = mkdtempSync(join(tmpdir(), 'postern-mysql-oracle-'));
    deadPort = await freePort();
    config = oracleConfig(dir, {
      mysqlsrc_hosts: `inet:127.0.0.1:${srv.port}`, mysqlsrc_user: 'postfix', mysqlsrc_password: PASSWORD,
      mysqlsrc_dbname: 'mail', mysqlsrc_query: "SELECT v FROM aliases WHERE k='%s'",
    });
  });
  after(async () => {
    dictCacheClear();
    await srv?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const same = async (spec: string, keys: readonly string[] = TRICKY_KEYS): Promise<void> => {
    const [real, ours] = await Promise.all([
      realQueryAll(dir, spec, keys),
      captureWarnings(() => oursQueryAll(config, spec, keys)),
    ]);
    assert.doesNotMatch(real.stderr, /fatal|error/, `real postmap failed: ${real.stderr}`);
    assert.equal(ours.result.stdout, real.stdout, `${spec}: postmap -q - output`);
    assert.equal(ours.result.status, real.status, `${spec}: exit status`);
    assert.ok(real.stdout.length > 0, `${spec}: the real postmap found something (the fixture is alive)`);
  };

  it('plain %s query: every tricky key as the real postmap', async () => {
    await same(cf('basic.cf', { query: "SELECT v FROM aliases WHERE k='%s'" }));
  });

  it('%u and %d (local part, domain) with NULL results', async () => {
    await same(cf('parts.cf', { query: "SELECT dest FROM users WHERE local='%u' AND domain='%d'" }));
  });

  it('%1 %2 domain labels', async () => {
    await same(cf('labels.cf', { query: "SELECT v FROM aliases WHERE k='%2.%1'" }));
  });

  it('result_format with %s, %u, %d and the key parts %S %U %D', async () => {
    await same(cf('fmt1.cf', { query: "SELECT v FROM aliases WHERE k='%s'", result_format: 'smtp:[%s]' }));
    await same(cf('fmt2.cf', { query: "SELECT v FROM aliases WHERE k='%s'", result_format: '%u at %d' }));
    await same(cf('fmt3.cf', { query: "SELECT v FROM aliases WHERE k='%s'", result_format: '%s/%S/%U/%D%%' }));
  });

  it('domain list limits the keys looked up', async () => {
    await same(cf('domain.cf', { query: "SELECT v FROM aliases WHERE k='%s'", domain: 'example.com, other.example' }));
  });

  it('several columns per row, NULL and empty columns skipped', async () => {
    await same(cf('multi.cf', { query: "SELECT v, k, NULL, '' FROM aliases WHERE k='%s'" }));
  });

  it('legacy select_field/table/where_field/additional_conditions', async () => {
    await same(cf('legacy.cf', {
      table: 'aliases', select_field: 'v', where_field: 'k', additional_conditions: "AND v <> 'y2'",
    }));
  });

  it('LIKE query: % and _ in keys reach the server unescaped, as in Postfix', async () => {
    await same(cf('like.cf', { query: "SELECT v FROM aliases WHERE k LIKE '%s'" }));
  });

  it('stored procedure (CALL)', async () => {
    await same(cf('proc.cf', { query: "CALL lookup('%s')" }));
  });

  it('latin1 column: bytes converted by the server as for Postfix', async () => {
    const spec = cf('latin.cf', { query: "SELECT v FROM latin WHERE k='%s'" });
    // A key latin1 cannot hold is a collation error on the server, for Postfix too.
    const jp = bytes('日本@example.com');
    await same(spec, TRICKY_KEYS.filter((k) => k !== jp));
    const real = await realQueryOne(dir, spec, jp);
    assert.match(real.stderr, /warning: .*latin\.cf: query failed: Illegal mix of collations/);
    assert.notEqual(real.status, 0);
    const ours = await captureWarnings(() => oursQueryOne(config, spec, jp));
    assert.ok(ours.result instanceof DictError);
    assert.ok(ours.lines.some((l) => /warning: .*latin\.cf: query failed: Illegal mix of collations/.test(l)), ours.lines.join(' | '));
  });

  it('unix: socket host', async () => {
    await same(cf('unix.cf', { query: "SELECT v FROM aliases WHERE k='%s'" }, `unix:${srv.socket}`));
  });

  it('failover: a dead host in the list is passed over', async () => {
    const spec = cf('failover.cf', { query: "SELECT v FROM aliases WHERE k='%s'" },
      `inet:127.0.0.1:${deadPort}, inet:127.0.0.1:${srv.port}`);
    await same(spec, ['x', 'a@example.com', 'nope']);
  });

  it('settings from main.cf (mysql:PREFIX)', async () => {
    await same('mysql:mysqlsrc');
  });

  it('errors are temporary failures with Postfix\'s warnings, never "not found"', async () => {
    const cases: [string, string, RegExp][] = [
      [cf('bad.cf', { query: "SELECT v FROM nosuch WHERE k='%s'" }), 'x', /query failed: Table 'mail\.nosuch' doesn't exist/],
      [cf('nors.cf', { query: "CALL nothing('%s')" }), 'x', /query failed: query returned no result set\(require_result_set = yes\)/],
      [cf('limit.cf', { query: "SELECT v FROM aliases WHERE k='%s'", expansion_limit: '2' }), 'many',
        /dict_mysql_lookup: .*limit\.cf: Expansion limit exceeded for key: 'many'/],
      [cf('down.cf', { query: "SELECT v FROM aliases WHERE k='%s'" }, `inet:127.0.0.1:${deadPort}`), 'x',
        new RegExp(`connect to mysql server inet:127\\.0\\.0\\.1:${deadPort}: Can't connect to server on '127\\.0\\.0\\.1'`)],
    ];
    // The real postmap runs for all cases at once (each waits on its own server answers).
    const reals = await Promise.all(cases.map(([spec, key]) => realQueryOne(dir, spec, key)));
    for (const [n, [spec, key, warning]] of cases.entries()) {
      const real = reals[n]!;
      assert.notEqual(real.status, 0, `${spec}: real postmap fails`);
      assert.match(real.stderr, warning, `${spec}: real postmap's warning`);
      assert.match(real.stderr, /fatal: table .*: query error/, `${spec}: real postmap reports a lookup error`);
      const ours = await captureWarnings(() => oursQueryOne(config, spec, key));
      assert.ok(ours.result instanceof DictError, `${spec}: Postern fails the lookup (got ${String(ours.result)})`);
      assert.ok(ours.lines.some((l) => warning.test(l)), `${spec}: Postern warns: ${ours.lines.join(' | ')}`);
    }
    // With the result set made optional, no result set is "not found" on both sides.
    const spec = cf('nors2.cf', { query: "CALL nothing('%s')", require_result_set: 'no' });
    const real = await realQueryOne(dir, spec, 'x');
    assert.equal(real.status, 1);
    assert.equal(real.stderr, '');
    assert.equal(await oursQueryOne(config, spec, 'x'), null);
  });

  it('one key with characters postmap -q - cannot carry: empty, tab', async () => {
    const spec = cf('basic2.cf', { query: "SELECT v FROM aliases WHERE k='%s'" });
    for (const key of ['', 'tab\there', bytes('josé@exämple.com')]) {
      const real = await realQueryOne(dir, spec, key);
      const ours = await captureWarnings(() => oursQueryOne(config, spec, key));
      assert.equal(ours.result === null ? 1 : 0, real.status, `key ${JSON.stringify(key)}: status`);
      if (typeof ours.result === 'string') assert.equal(`${asUtf8(ours.result)}\n`, real.stdout);
    }
  });

  it('concurrent lookups on one table each get their own answer; too many waiting ones are refused', async () => {
    const spec = cf('conc.cf', { query: "SELECT v FROM aliases WHERE k='%s'" });
    dictCacheClear();
    const dict = dictOpen(spec, { config, fold: true });
    try {
      const keys = Array.from({ length: 60 }, (_, i) => ['x', 'a@example.com', 'nope', 'many'][i % 4]!);
      const want: Record<string, string | null> = { x: 'y1,y2', 'a@example.com': 'b@example.org', nope: null, many: 'm1,m2,m3' };
      const got = await Promise.all(keys.map((k) => dict.lookup(k)));
      assert.deepEqual(got, keys.map((k) => want[k]));
      const flood = await Promise.allSettled(Array.from({ length: MYSQL_MAX_PENDING + 5 }, () => dict.lookup('x')));
      const refused = flood.filter((r) => r.status === 'rejected');
      assert.equal(refused.length, 5);
      assert.ok(refused.every((r) => (r as PromiseRejectedResult).reason instanceof DictError));
    } finally {
      await dict.close();
      dictCacheClear();
    }
  });

  it('an idle connection is closed after idle_interval and reopened on the next lookup', async () => {
    const spec = cf('idle.cf', { query: "SELECT v FROM aliases WHERE k='%s'", idle_interval: '1' });
    const sessions = async (): Promise<number> =>
      Number((await srv.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'postfix';")).trim());
    dictCacheClear();
    const dict = dictOpen(spec, { config, fold: true });
    try {
      assert.equal(await dict.lookup('x'), 'y1,y2');
      assert.equal(await sessions(), 1);
      let closed = false;
      for (let i = 0; i < 40 && !closed; i++) {
        await new Promise((r) => setTimeout(r, 100));
        closed = (await sessions()) === 0;
      }
      assert.ok(closed, 'the idle connection was closed');
      assert.equal(await dict.lookup('a@example.com'), 'b@example.org');
      assert.equal(await sessions(), 1);
    } finally {
      await dict.close();
      dictCacheClear();
    }
  });

  it('server stopped mid-run: DictError; back: the same open table answers again', async () => {
    const spec = cf('restart.cf', { query: "SELECT v FROM aliases WHERE k='%s'", retry_interval: '1' });
    dictCacheClear();
    const dict = dictOpen(spec, { config, fold: true });
    try {
      assert.equal(await dict.lookup('x'), 'y1,y2');
      await srv.stop();
      const down = await captureWarnings(() => dict.lookup('x').then(() => 'answered', (e: unknown) => e));
      assert.ok(down.result instanceof DictError, `lookup with the server down: ${String(down.result)}`);
      assert.ok(down.lines.some((l) => /warning: connect to mysql server inet:127\.0\.0\.1:\d+: /.test(l)), down.lines.join(' | '));
      await srv.start();
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await dict.lookup('x'), 'y1,y2');
      assert.equal(await dict.lookup('a@example.com'), 'b@example.org');
    } finally {
      await dict.close();
      dictCacheClear();
    }
  });
});

describe('mysql option files', () => {
  it('reads [client] then the named group, later settings winning', () => {
    const text = '# comment\n[client]\nport = 3307\nsocket=/a/b\n[mysqld]\nport=1\n[postfix]\nport = "3308"\ndefault_character_set = latin1 # x\n';
    assert.deepEqual(mysqlParseOptions(text, 'postfix'), { port: '3308', socket: '/a/b', 'default-character-set': 'latin1' });
    assert.deepEqual(mysqlParseOptions(text, ''), { port: '3307', socket: '/a/b' });
  });
});
