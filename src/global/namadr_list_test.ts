/*
 * namadr_list_test - host name and address matching as Postfix's
 * match_ops.c does it (addresses and names were also run through the real
 * smtpd's permit_mynetworks in test/oracle/namadr_list_test.ts)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MATCH_FLAG } from '../util/match_list.js';
import { loadMailConfig } from './mail_conf.js';
import { matchParentStyle, namadrListFromConfig, namadrListInit } from './namadr_list.js';

type Case = [name: string, addr: string, want: boolean];

function check(patterns: string, flags: number, cases: Case[]): void {
  const list = namadrListInit('test_list', flags, patterns);
  for (const [name, addr, want] of cases) {
    assert.equal(list.match(name, addr), want, `${name}[${addr}] ~ ${patterns} (flags ${flags})`);
    assert.equal(list.error, null, `${name}[${addr}] ~ ${patterns}: ${list.error}`);
  }
}

test('addresses: exact, bracketed, networks, IPv6 spellings', () => {
  check('127.0.0.1 [10.1.1.1] 192.168.0.0/16 [FD00::]/64 [::1] [2001:db8::]/32', 0, [
    ['unknown', '127.0.0.1', true],
    ['unknown', '127.0.0.10', false],
    ['unknown', '10.1.1.1', true],
    ['unknown', '192.168.200.1', true],
    ['unknown', '192.169.0.1', false],
    ['unknown', 'fd00::1', true],
    ['unknown', 'FD00::abcd', true],
    ['unknown', 'fd00:0:0:1::1', false],
    ['unknown', '::1', true],
    ['unknown', '0:0:0:0:0:0:0:1', true],
    ['unknown', '2001:db8:1::5', true],
    ['unknown', '2001:db9::5', false],
    ['unknown', 'garbage', false],
  ]);
});

test('names: exact and parent domains, with and without the parent style', () => {
  const names = 'Example.COM .dot.example';
  check(names, MATCH_FLAG.PARENT, [
    ['example.com', '192.0.2.1', true],
    ['MAIL.EXAMPLE.COM', '192.0.2.1', true],
    ['badexample.com', '192.0.2.1', false],
    ['a.dot.example', '192.0.2.1', false],
    ['a..dot.example', '192.0.2.1', true],
  ]);
  check(names, MATCH_FLAG.NONE, [
    ['example.com', '192.0.2.1', true],
    ['mail.example.com', '192.0.2.1', false],
    ['a.dot.example', '192.0.2.1', true],
    ['a.b.dot.example', '192.0.2.1', true],
    ['dot.example', '192.0.2.1', false],
  ]);
});

test('a name is compared with every pattern as text; an address only if it looks like one', () => {
  check('192.0.2.1 host.example', MATCH_FLAG.PARENT, [
    // match_hostname() compares strings: a "name" spelled like the address pattern matches.
    ['192.0.2.1', '198.51.100.1', true],
    ['unknown', 'host.example', false],
    ['unknown', '192.0.2.1', true],
  ]);
});

test('a bare IPv6 network is a type:table to Postfix (it needs [ ])', () => {
  assert.throws(() => namadrListInit('mynetworks', 0, '2001:db8::/32'), /mynetworks: unsupported table type "2001"/);
});

test('negation and order: the first match wins', () => {
  check('!192.0.2.5, !bad.example, 192.0.2.0/24, example', MATCH_FLAG.PARENT, [
    ['unknown', '192.0.2.5', false],
    ['unknown', '192.0.2.6', true],
    ['bad.example', '192.0.2.6', false],
    ['good.example', '198.51.100.1', true],
  ]);
});

test('inline: tables: address keys, name keys with parent lookups', () => {
  const tbl = 'inline:{192.0.2.7=ok, example.org=ok, .sub.example=ok}';
  check(tbl, MATCH_FLAG.PARENT, [
    ['unknown', '192.0.2.7', true],
    ['unknown', '192.0.2.8', false],
    ['x.y.example.org', '192.0.2.8', true],
    ['x.sub.example', '192.0.2.8', false],
  ]);
  check(tbl, MATCH_FLAG.NONE, [
    ['example.org', '192.0.2.8', true],
    ['x.example.org', '192.0.2.8', false],
    ['x.y.sub.example', '192.0.2.8', true],
  ]);
});

test('a bad network pattern is an error only when the search reaches it', () => {
  const list = namadrListInit('mynetworks', 0, '192.0.2.0/24 10.0.0.1/8 [fd00::1]/64');
  assert.equal(list.match('unknown', '192.0.2.1'), true);
  assert.equal(list.error, null);
  assert.equal(list.match('unknown', '198.51.100.1'), false);
  assert.equal(list.error, 'mynetworks: non-null host address bits in "10.0.0.1/8", perhaps you should use "10.0.0.0/8" instead');
  // IPv6 addresses skip IPv4 patterns and reach the IPv6 one.
  assert.equal(list.match('unknown', '::1'), false);
  assert.match(list.error ?? '', /"fd00::1\/64", perhaps you should use "fd00::\/64" instead/);
});

test('matchParentStyle reads parent_domain_matches_subdomains', () => {
  const dflt = 'debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks';
  assert.equal(matchParentStyle('mynetworks', dflt), MATCH_FLAG.PARENT);
  assert.equal(matchParentStyle('smtpd_authorized_xclient_hosts', dflt), MATCH_FLAG.NONE);
  assert.equal(matchParentStyle('mynetworks', ''), MATCH_FLAG.NONE);
});

test('namadrListFromConfig uses the parameter value and its parent style', () => {
  const config = loadMailConfig({
    configDir: '/nonexistent-postern-config',
    overrides: { mynetworks: 'example.com 192.0.2.0/24', parent_domain_matches_subdomains: '' },
  });
  const list = namadrListFromConfig(config, 'mynetworks');
  assert.equal(list.match('unknown', '192.0.2.9'), true);
  assert.equal(list.match('example.com', '198.51.100.1'), true);
  assert.equal(list.match('a.example.com', '198.51.100.1'), false);
  const dflt = namadrListFromConfig(loadMailConfig({ configDir: '/nonexistent-postern-config', overrides: { mynetworks: 'example.com' } }), 'mynetworks');
  assert.equal(dflt.match('a.example.com', '198.51.100.1'), true);
});
