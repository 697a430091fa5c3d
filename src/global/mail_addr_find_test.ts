/*
 * mail_addr_find_test - Postfix's address search order (canonical(5),
 * virtual(5) "TABLE SEARCH ORDER"; mail_addr_find.c)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DictError, dictCacheClear } from './dict.js';
import { mailAddrFind, stripAddr } from './mail_addr_find.js';
import { Maps } from './maps.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

const isLocalDomain = (d: string) => ['local.test', 'localhost'].includes(d.toLowerCase());

test('user+ext@domain, user@domain, user+ext, user, @domain', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'v', [
    'user+foo@example.com full', 'user@example.com bare', 'joe+x joe-ext', 'joe local-user', '@example.com catch-all',
    '"quoted user"@example.com quoted', ''].join('\n'));
  const maps = new Maps('virtual_alias_maps', `texthash:${f}`);
  const find = (a: string, delim = '+') => mailAddrFind(maps, a, { recipientDelimiter: delim, isLocalDomain });
  assert.deepEqual(await find('user+foo@example.com'), { result: 'full', key: 'user+foo@example.com', extension: null });
  assert.deepEqual(await find('User+Bar@Example.COM'), { result: 'bare', key: 'User@Example.COM', extension: '+Bar' });
  assert.deepEqual(await find('joe+x@local.test'), { result: 'joe-ext', key: 'joe+x', extension: null });
  assert.deepEqual(await find('joe+y@local.test'), { result: 'local-user', key: 'joe', extension: '+y' });
  assert.deepEqual(await find('joe+y@remote.test'), null);
  assert.deepEqual(await find('other@example.com'), { result: 'catch-all', key: '@example.com', extension: null });
  assert.deepEqual(await find('quoted user@example.com'), { result: 'quoted', key: '"quoted user"@example.com', extension: null });
  assert.deepEqual(await find('joe'), { result: 'local-user', key: 'joe', extension: null });
  assert.deepEqual(await find('joe+z'), { result: 'local-user', key: 'joe', extension: '+z' });
  // Without a delimiter nothing is split.
  assert.deepEqual(await find('user+bar@example.com', ''), { result: 'catch-all', key: '@example.com', extension: null });
});

test('recipient_delimiter with several characters: the first of any splits', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'v', 'user@example.com bare\nowner-list@example.com owner\n');
  const maps = new Maps('m', `texthash:${f}`);
  const opts = { recipientDelimiter: '+-', isLocalDomain };
  assert.deepEqual(await mailAddrFind(maps, 'user-a+b@example.com', opts), { result: 'bare', key: 'user@example.com', extension: '-a+b' });
  assert.deepEqual(await mailAddrFind(maps, 'user+a-b@example.com', opts), { result: 'bare', key: 'user@example.com', extension: '+a-b' });
  assert.deepEqual(await mailAddrFind(maps, 'owner-list@example.com', opts), { result: 'owner', key: 'owner-list@example.com', extension: null });
  assert.equal(stripAddr('owner-list@x', '-'), null);
  assert.equal(stripAddr('list-request@x', '-'), null);
  assert.equal(stripAddr('postmaster@x', '+'), null);
  assert.equal(stripAddr('MAILER-DAEMON@x', '-'), null);
  assert.equal(stripAddr('+ext@x', '+'), null);
  assert.deepEqual(stripAddr('user+@x', '+'), { bare: 'user@x', extension: '+' }); // split_addr only refuses an empty local part
  assert.deepEqual(stripAddr('list-request@x', '-', { ownerRequestSpecial: false }), { bare: 'list@x', extension: '-request' });
});

test('pattern tables see the whole address once', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'r', '/^user@example\\.com$/ bare-re\n/^@example\\.com$/ at-re\n/^user$/ user-re\n');
  const maps = new Maps('m', `regexp:${f}`);
  const opts = { recipientDelimiter: '+', isLocalDomain };
  assert.equal(await mailAddrFind(maps, 'user+x@example.com', opts), null);
  assert.equal(await mailAddrFind(maps, 'user@local.test', opts), null);
  assert.deepEqual(await mailAddrFind(maps, 'user@example.com', opts), { result: 'bare-re', key: 'user@example.com', extension: null });
});

test("strategy 'full' looks up the whole address only", async () => {
  dictCacheClear();
  const maps = new Maps('m', 'inline:{ user@example.com=bare, @example.com=dom }');
  const opts = { recipientDelimiter: '+', isLocalDomain, strategy: 'full' as const };
  assert.equal(await mailAddrFind(maps, 'user+x@example.com', opts), null);
  assert.deepEqual(await mailAddrFind(maps, 'user@example.com', opts), { result: 'bare', key: 'user@example.com', extension: null });
});

test('a table error rejects the search', async () => {
  dictCacheClear();
  const maps = new Maps('m', 'fail:x');
  await captureWarnings(() =>
    assert.rejects(mailAddrFind(maps, 'a@b', { recipientDelimiter: '+', isLocalDomain }), DictError));
});

test('myorigin counts as local; isLocalDomain may be async', async () => {
  dictCacheClear();
  const maps = new Maps('m', 'inline:{ joe=local-user }');
  const opts = { recipientDelimiter: '+', isLocalDomain: async () => false, myorigin: 'Origin.Test' };
  assert.deepEqual(await mailAddrFind(maps, 'joe+x@origin.test', opts), { result: 'local-user', key: 'joe', extension: '+x' });
  assert.equal(await mailAddrFind(maps, 'joe@other.test', opts), null);
});
