/*
 * dict_ldap_oracle_test - ldap: tables against a real slapd, compared with the real postmap -q
 *
 * What it does: starts a throwaway OpenLDAP (slapd_server.ts), loads
 * people (with quotes, '*', parentheses, backslashes, ',' and '+' in
 * their RDNs, UTF-8 names) and groups (member DNs, one missing; nested
 * groups; an LDAP URL member list; a terminal attribute), writes .cf
 * files for query_filter with %s %u %d %1 %2, a key-dependent
 * search_base, result_format, domain, special/leaf/terminal result
 * attributes, DN and URL recursion, simple bind and main.cf-prefixed
 * settings, and checks that Postern's dictOpen('ldap:...') answers every
 * key exactly as the real `postmap -q -` does. Error cases (server down,
 * wrong password, missing search base, bad filter, size_limit,
 * expansion_limit, recursion_limit) fail on both sides with Postfix's
 * warning; a server stopped mid-run fails lookups and, back, is used
 * again by the same open table.
 *
 * What it does not do: SASL, TLS with certificate checks or client certificates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type SlapdServer, startSlapd } from '../lib/slapd_server.js';
import { freePort } from '../lib/proc.js';
import { backdate } from '../lib/postfix_oracle.js';
import { captureWarnings } from '../../src/global/dict_test_lib.js';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { DictError } from '../../src/global/dict_base.js';
import type { MailConfig } from '../../src/global/mail_conf.js';
import { rfc2253Quote, rfc2254Quote } from '../../src/global/dict_ldap_conn.js';
import {
  TRICKY_KEYS, bytes, oracleConfig, oursQueryAll, oursQueryOne, realQueryAll, realQueryOne,
} from './dict_mysql_oracle_lib.js';

const BASE = 'dc=example,dc=com';
const PEOPLE = `ou=people,${BASE}`;

const person = (uid: string, rdn: string, local: string[], mail: string[], extra: string[] = []): string => [
  `dn: uid=${rdn},${PEOPLE}`, 'objectClass: inetOrgPerson', 'objectClass: inetLocalMailRecipient',
  `uid: ${uid}`, `cn: ${uid}`, `sn: ${uid}`,
  ...local.map((l) => `mailLocalAddress: ${l}`), ...mail.map((m) => `mail: ${m}`), ...extra, '',
].join('\n');

const group = (cn: string, lines: string[]): string => [
  `dn: cn=${cn},ou=groups,${BASE}`, 'objectClass: groupOfNames', 'objectClass: extensibleObject', `cn: ${cn}`,
  ...lines, '',
].join('\n');

const FIXTURE = [
  `dn: ${BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
  `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n`,
  `dn: ou=groups,${BASE}\nobjectClass: organizationalUnit\nou: groups\n`,
  person('alice', 'alice', ['alice@example.com', 'ALICE.Alias@example.com'], ['alice@example.com', 'alice.smith@example.net'],
    ['mailRoutingAddress: alice@mail.example.com', 'mailHost: mail.example.com']),
  person('bob', 'bob', ['bob@example.com', 'user@example.com', 'user'], ['bob@example.com'], ['mailRoutingAddress: bob@relay.example']),
  person('carol', 'carol', ['carol@other.example'], ['carol1@other.example', 'carol2@other.example']),
  person("o'q", "o'q", ["o'q@example.com"], ['oq@example.net']),
  person('star', 'star', ['a*b@example.com', 'a*'], ['star@example.net']),
  person('paren', 'paren', ['paren(x)@example.com', 'paren(x)', '(x)'], ['paren@example.net']),
  person('back', 'back', ['back\\slash', 'a\\2a'], ['back@example.net']),
  person('x,y', 'x\\,y', ['x,y@example.com'], ['xy@example.net']),
  person('a+b', 'a\\+b', ['a+b@example.com', 'user+ext@example.com'], ['aplusb@example.net']),
  person('catchall', 'catchall', ['@example.com'], ['catchall@example.net']),
  person('empty', 'empty', ['empty', 'nullv', 'multi'], ['empty@example.net'], ['mailHost: x']),
  person('jose', 'jose', ['jose@example.com'], ['jose@example.net'], [`cn:: ${Buffer.from('José Müller').toString('base64')}`]),
  person('sub', 'sub', ['a@sub.example.com', 'sub.example.com', 'example.com'], ['sub@example.net']),
  group('staff', ['mailLocalAddress: staff@example.com', `member: uid=alice,${PEOPLE}`, `member: uid=bob,${PEOPLE}`,
    `member: uid=nosuch,${PEOPLE}`, 'mail: staff-owner@example.com']),
  group('outer', ['mailLocalAddress: outer@example.com', `member: cn=staff,ou=groups,${BASE}`, `member: uid=carol,${PEOPLE}`]),
  group('dyn', ['mailLocalAddress: dyn@example.com', `member: uid=carol,${PEOPLE}`,
    `labeledURI: ldap:///${PEOPLE}?mail?one?(uid=a*)`]),
  group('term', ['mailLocalAddress: term@example.com', `member: uid=alice,${PEOPLE}`, 'mailRoutingAddress: term@hub.example']),
  group('many', ['mailLocalAddress: many', `member: uid=alice,${PEOPLE}`, `member: uid=bob,${PEOPLE}`, `member: uid=carol,${PEOPLE}`]),
  group('loop', ['mailLocalAddress: loop@example.com', `member: cn=loop,ou=groups,${BASE}`, 'mail: loop-owner@example.com']),
].join('\n');

const LDAP_KEYS: readonly string[] = [
  ...TRICKY_KEYS, 'staff@example.com', 'outer@example.com', 'dyn@example.com', 'term@example.com',
  'a*b@example.com', 'paren(x)@example.com', 'x,y@example.com', 'a+b@example.com', 'alice.alias@example.com',
  bytes('josé müller'), bytes('JOSÉ MÜLLER'), 'jose@example.com', 'carol@other.example',
];

describe('ldap: against slapd and the real postmap', () => {
  let srv: SlapdServer;
  let dir: string;
  let config: MailConfig;
  let deadPort: number;

  const cf = (name: string, lines: Record<string, string>, host = srv.url): string => {
    const all = { server_host: host, search_base: BASE, version: '3', bind: 'no', ...lines };
    const file = join(dir, name);
    writeFileSync(file, Object.entries(all).map(([k, v]) => `${k} = ${v}\n`).join(''));
    backdate(file);
    return `ldap:${file}`;
  };

  before(async () => {
    srv = await startSlapd({ tls: true });
    await srv.add(FIXTURE);
    dir = mkdtempSync(join(tmpdir(), 'postern-ldap-oracle-'));
    deadPort = await freePort();
    config = oracleConfig(dir, {
      ldapsrc_server_host: `127.0.0.1:${srv.port}`, ldapsrc_search_base: BASE, ldapsrc_bind: 'no',
      ldapsrc_query_filter: '(mailLocalAddress=%s)', ldapsrc_result_attribute: 'mail',
    });
  });
  after(async () => {
    dictCacheClear();
    await srv?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const same = async (spec: string, keys: readonly string[] = LDAP_KEYS): Promise<void> => {
    const [real, ours] = await Promise.all([
      realQueryAll(dir, spec, keys),
      captureWarnings(() => oursQueryAll(config, spec, keys)),
    ]);
    assert.doesNotMatch(real.stderr, /fatal|error/i, `real postmap failed: ${real.stderr}`);
    assert.equal(ours.result.stdout, real.stdout, `${spec}: postmap -q - output`);
    assert.equal(ours.result.status, real.status, `${spec}: exit status`);
    assert.ok(real.stdout.length > 0, `${spec}: the real postmap found something (the fixture is alive)`);
  };

  it('query_filter with %s, one and several values, metacharacters quoted', async () => {
    await same(cf('basic.cf', { query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail' }));
  });

  it('filter without parentheses, several result attributes, result_format', async () => {
    await same(cf('attrs.cf', { query_filter: 'mailLocalAddress=%s', result_attribute: 'mail, mailRoutingAddress', result_format: 'smtp:[%s]' }));
    await same(cf('fmt.cf', { query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail', result_format: '%u/%d/%S/%U/%D/%%' }));
  });

  it('%u %d %1 %2 in the filter', async () => {
    await same(cf('parts.cf', { query_filter: '(&(uid=%u)(mail=*@%2.%1))', result_attribute: 'mail' }));
    await same(cf('dom.cf', { query_filter: '(mail=*@%d)', result_attribute: 'uid' }));
  });

  it('key-dependent search_base (RFC 2253 quoting), scope base, missing base is "not found"', async () => {
    await same(cf('base.cf', { search_base: `uid=%u,${PEOPLE}`, scope: 'base', query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail' }));
  });

  it('UTF-8 attribute values and keys', async () => {
    await same(cf('cn.cf', { query_filter: '(cn=%s)', result_attribute: 'mail, cn' }));
  });

  it('domain list', async () => {
    await same(cf('domain.cf', { query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail', domain: 'example.com' }));
  });

  it('special_result_attribute: DN recursion (nested, missing DN skipped) and URLs', async () => {
    await same(cf('group.cf', { query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail', special_result_attribute: 'member, labeledURI' }),
      LDAP_KEYS.filter((k) => k !== 'loop@example.com'));
  });

  it('leaf_result_attribute and terminal_result_attribute', async () => {
    await same(cf('leaf.cf', {
      query_filter: '(mailLocalAddress=%s)', result_attribute: '', leaf_result_attribute: 'mail', special_result_attribute: 'member',
    }));
    await same(cf('term.cf', {
      query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail', terminal_result_attribute: 'mailRoutingAddress',
      special_result_attribute: 'member',
    }));
  });

  it('simple bind with bind_dn and settings from main.cf (ldap:PREFIX)', async () => {
    await same(cf('bind.cf', { bind: 'yes', bind_dn: srv.rootDn, bind_pw: srv.rootPassword, query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail' }));
    await same('ldap:ldapsrc');
  });

  it('server_host list: a dead server first, the next one answers', async () => {
    for (const bind of ['yes', 'no']) {
      await same(cf(`failover-${bind}.cf`, { bind, query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail' },
        `ldap://127.0.0.1:${deadPort}, 127.0.0.1:${srv.port}`), ['alice@example.com', 'bob@example.com', 'nope']);
    }
  });

  it('ldaps:// and start_tls (certificate not checked: tls_require_cert = no)', async () => {
    const q = { bind: 'yes', query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail' };
    const keys = ['alice@example.com', 'carol@other.example', 'nope'];
    await same(cf('ldaps.cf', q, srv.ldapsUrl!), keys);
    await same(cf('starttls.cf', { ...q, start_tls: 'yes' }), keys);
  });

  it('errors are temporary failures with Postfix\'s warnings, never "not found"', async () => {
    const q = { query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail' };
    const cases: [string, string, RegExp][] = [
      [cf('down.cf', { ...q, bind: 'yes' }, `ldap://127.0.0.1:${deadPort}`), 'alice@example.com',
        new RegExp(`dict_ldap_connect: Unable to bind to server ldap://127\\.0\\.0\\.1:${deadPort} with dn empty or implicit: -1 \\(Can't contact LDAP server\\)`)],
      [cf('down2.cf', q, `ldap://127.0.0.1:${deadPort}`), 'alice@example.com', /dict_ldap_lookup: Search error -1: Can't contact LDAP server $/m],
      [cf('pw.cf', { ...q, bind: 'yes', bind_dn: srv.rootDn, bind_pw: 'wrong' }), 'alice@example.com',
        /dict_ldap_connect: Unable to bind to server ldap:\/\/127\.0\.0\.1:\d+ with dn cn=admin,dc=example,dc=com: 49 \(Invalid credentials\)/],
      [cf('nobase.cf', { ...q, search_base: 'dc=nosuch,dc=com' }), 'alice@example.com',
        /dict_ldap_lookup: .*nobase\.cf: Search base 'dc=nosuch,dc=com' not found: 32: No such object/],
      [cf('filter.cf', { ...q, query_filter: '(mailLocalAddress=%s' }), 'alice@example.com', /dict_ldap_lookup: Search error -7: Bad search filter $/m],
      [cf('size.cf', { ...q, size_limit: '1', query_filter: '(mail=*@%d)' }), 'x@example.net',
        /dict_ldap_lookup: Search error 4: Size limit exceeded $/m],
      [cf('exp.cf', { ...q, expansion_limit: '1' }), 'alice@example.com',
        /dict_ldap_get_values\[1\]: .*exp\.cf: Expansion limit exceeded for key: 'alice@example\.com'/],
      [cf('rec.cf', { ...q, special_result_attribute: 'member', recursion_limit: '2' }), 'outer@example.com',
        /dict_ldap_get_values\[2\]: .*rec\.cf: Recursion limit exceeded for special attribute member=uid=alice,ou=people,dc=example,dc=com/],
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
  });

  it('server stopped mid-run: DictError; back: the same open table answers again', async () => {
    const spec = cf('restart.cf', { bind: 'yes', query_filter: '(mailLocalAddress=%s)', result_attribute: 'mail', timeout: '2' });
    dictCacheClear();
    const dict = dictOpen(spec, { config, fold: true });
    try {
      assert.equal(await dict.lookup('bob@example.com'), 'bob@example.com');
      await srv.stop();
      const down = await captureWarnings(() => dict.lookup('bob@example.com').then(() => 'answered', (e: unknown) => e));
      assert.ok(down.result instanceof DictError, `lookup with the server down: ${String(down.result)}`);
      assert.ok(down.lines.some((l) => /warning: dict_ldap_connect: Unable to bind to server/.test(l)), down.lines.join(' | '));
      await srv.start();
      assert.equal(await dict.lookup('bob@example.com'), 'bob@example.com');
      assert.equal(await dict.lookup('carol@other.example'), 'carol1@other.example,carol2@other.example');
    } finally {
      await dict.close();
      dictCacheClear();
    }
  });
});

describe('ldap quoting', () => {
  it('RFC 2253 and RFC 2254 quoting as Postfix (hex escapes)', () => {
    assert.equal(rfc2254Quote('a*(b)\\c d'), 'a\\2A\\28b\\29\\5Cc d');
    assert.equal(rfc2253Quote('a, b+c;#"<x>\\\t'), 'a\\2C\\20b\\2Bc\\3B\\23\\22\\3Cx\\3E\\5C\\09');
  });
});
