/*
 * resolve_local_test - local domains, own addresses and domain lists
 *
 * The answers here are the ones the real trivial-rewrite gave for the
 * same settings in test/oracle/trivial_rewrite_resolve_test.ts (variant
 * "classes": which recipient domains resolved to the local class, which
 * literals were ours, which list entries matched which domains).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { msgSetSinks } from '../util/msg.js';
import { validHostname, validMailhostLiteral } from '../util/valid_hostname.js';
import { DictError } from './dict.js';
import { DomainList, domainListFromConfig, stringListFromConfig } from './domain_list.js';
import { MailConfig } from './mail_conf.js';
import { ownInetAddr, proxyInetAddr } from './own_inet_addr.js';
import { LocalDomains, resolveLocal, resolveLocalAsync } from './resolve_local.js';

const SETTINGS = {
  compatibility_level: '3.6',
  myhostname: 'oracle.example',
  mydomain: 'dom.example',
  mydestination: '$myhostname, localhost.$mydomain, localhost, $mydomain',
  inet_interfaces: 'loopback-only',
  inet_protocols: 'ipv4',
  proxy_interfaces: '192.0.2.7',
  relay_domains: 'relay.example, .relaysub.example',
  virtual_alias_domains: 'valias.example',
};
const config = new MailConfig('/nonexistent/postern-resolve-local', [], SETTINGS);

const LOCAL = ['oracle.example', 'Oracle.Example', 'oracle.example.', 'localhost', 'localhost.', 'localhost.dom.example', 'dom.example', '[127.0.0.1]', '[192.0.2.7]'];
const NOT_LOCAL = ['remote.example', 'remote.example..', '', '.', 'sub.dom.example', '[192.0.2.8]', '[IPv6:::1]', '127.0.0.1', '192.0.2.7'];

test('resolveLocal and LocalDomains agree on mydestination and own literals', async () => {
  const l = new LocalDomains(config);
  for (const d of LOCAL) {
    assert.equal(resolveLocal(config, d), true, d);
    assert.equal(await l.isLocal(d), true, d);
    assert.equal(await resolveLocalAsync(config, d), true, d);
  }
  for (const d of NOT_LOCAL) {
    assert.equal(resolveLocal(config, d), false, d);
    assert.equal(await l.isLocal(d), false, d);
  }
});

test('own addresses follow inet_interfaces, inet_protocols and proxy_interfaces', () => {
  assert.equal(ownInetAddr(config, '127.0.0.1'), true);
  assert.equal(ownInetAddr(config, '[127.0.0.1]'), true);
  assert.equal(ownInetAddr(config, '::1'), false, 'inet_protocols = ipv4');
  assert.equal(ownInetAddr(config, '192.0.2.7'), false);
  assert.equal(proxyInetAddr(config, '192.0.2.7'), true);
  const v6 = new MailConfig('/nonexistent', [], { ...SETTINGS, inet_protocols: 'all', inet_interfaces: '127.0.0.1, [::1]' });
  assert.equal(ownInetAddr(v6, '::1'), true);
  assert.equal(ownInetAddr(v6, '0:0:0:0:0:0:0:1'), true);
  assert.equal(ownInetAddr(v6, '127.0.0.2'), false);
  const all = new MailConfig('/nonexistent', [], { ...SETTINGS, inet_interfaces: 'all' });
  assert.equal(ownInetAddr(all, '127.0.0.1'), true, 'the loopback interface is one of all');
});

test('relay_domains is a domain list with parent matching; virtual_alias_domains a string list', async () => {
  const relay = domainListFromConfig(config, 'relay_domains');
  assert.equal(relay.parent, true);
  assert.equal(await relay.match('relay.example'), true);
  assert.equal(await relay.match('sub.relay.example'), true);
  assert.equal(await relay.match('x.relaysub.example'), false);
  assert.equal(await relay.match('relaysub.example'), false);
  const valias = stringListFromConfig(config, 'virtual_alias_domains');
  assert.equal(await valias.match('VAlias.Example'), true);
  assert.equal(await valias.match('sub.valias.example'), false);
});

test('list entries: tables, /file, negation; an unreadable /file is a DictError', async () => {
  msgSetSinks([{ write: () => undefined }]);
  const dir = mkdtempSync(join(tmpdir(), 'postern-domain-list-'));
  try {
    const file = join(dir, 'domains');
    writeFileSync(file, '# comment\nfile.example other.example\n');
    const list = new DomainList('test_domains', 'string', false, `!no.example, inline:{no.example=x, yes.example=y}, ${file}`);
    assert.equal(await list.match('no.example'), false);
    assert.equal(await list.match('yes.example'), true);
    assert.equal(await list.match('other.example'), true);
    assert.equal(await list.match('else.example'), false);
    const broken = new DomainList('test_domains', 'string', false, `a.example ${join(dir, 'missing')}`);
    assert.equal(await broken.match('a.example'), true);
    await assert.rejects(broken.match('b.example'), DictError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host name and literal syntax as resolve checks it', () => {
  for (const ok of ['remote.example', 'under_score.example', 'localhost', 'a-b.example']) assert.equal(validHostname(ok), true, ok);
  for (const bad of ['-bad.example', 'bad-.example', '123', '127.0.0.1', 'remote..example', '', 'a b']) assert.equal(validHostname(bad), false, bad);
  for (const ok of ['[127.0.0.1]', '[IPv6:::1]', '[192.0.2.8]']) assert.equal(validMailhostLiteral(ok), true, ok);
  for (const bad of ['[::1]', '[1.2.3]', '[127.0.0.1].', '127.0.0.1']) assert.equal(validMailhostLiteral(bad), false, bad);
});

test('resolveLocal (synchronous) searches inline: mydestination tables; LocalDomains searches any table', async () => {
  msgSetSinks([{ write: () => undefined }]);
  const dir = mkdtempSync(join(tmpdir(), 'postern-resolve-local-'));
  try {
    writeFileSync(join(dir, 'mydest'), 'file.example x\n');
    const c = new MailConfig(dir, [], { ...SETTINGS, mydestination: `inline:{inline.example=x}, texthash:${join(dir, 'mydest')}` });
    assert.equal(resolveLocal(c, 'inline.example'), true);
    assert.equal(resolveLocal(c, 'other.example'), false);
    assert.equal(await resolveLocalAsync(c, 'file.example'), true);
    assert.equal(await resolveLocalAsync(c, 'inline.example'), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
