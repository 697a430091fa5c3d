/*
 * tok822_rewrite_test - addresses in header values: find, split, rewrite
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOK822, TOK822_HEADER_TOKEN_LIMIT } from './tok822.js';
import { tokExternalize, tokInternalize } from './tok822_parse.js';
import { addressParts, headerAddresses, tokRewrite, tokRewriteAsync } from './tok822_rewrite.js';

test('headerAddresses: internal, external, route, local part, domain', () => {
  const { addresses } = headerAddresses(' "a b"@x.y, Joe <@r1,@r2:j@k>, grp: i;, u@[1.2.3.4], "q@r"@s (c)');
  assert.deepEqual(
    addresses.map((a) => [a.internal, a.external, a.route, a.localPart, a.domain]),
    [
      ['a b@x.y', '"a b"@x.y', '', 'a b', 'x.y'],
      ['@r1,@r2:j@k', '@r1,@r2:j@k', '@r1,@r2:', 'j', 'k'],
      ['i', 'i', '', 'i', null],
      ['u@[1.2.3.4]', 'u@[1.2.3.4]', '', 'u', '[1.2.3.4]'],
      ['q@r@s', '"q@r"@s', '', 'q@r', 's'],
    ],
  );
  assert.deepEqual(headerAddresses('').addresses, []);
  assert.deepEqual(headerAddresses('(nothing but a comment)').addresses, []);
});

test('headerAddresses: the token limit bounds the work', () => {
  const many = Array.from({ length: 100 }, (_, i) => `u${i}@d`).join(', ');
  // Each address is 3 tokens plus a comma: 10 tokens hold 3 addresses (the third cut short).
  assert.deepEqual(
    headerAddresses(many, 10).addresses.map((a) => a.internal),
    ['u0@d', 'u1@d', 'u2@'],
  );
  assert.equal(headerAddresses(many).addresses.length, 100);
});

test('addressParts: an @ in the route is not the domain separator', () => {
  const { addresses } = headerAddresses('<@r1:local>');
  assert.deepEqual(addressParts(addresses[0]!.node), { route: '@r1:', localPart: 'local', domain: null });
});

test('tokRewrite: the rewritten address replaces the old one, the rest of the header stays', () => {
  const { tree, addresses } = headerAddresses('Joe (c) <joe>, "a b"@x');
  const seen: string[] = [];
  for (const a of addresses) {
    tokRewrite(a.node, (ext) => {
      seen.push(ext);
      return ext.includes('@') ? ext : `${ext}@example.com`;
    });
  }
  assert.deepEqual(seen, ['joe', '"a b"@x']);
  assert.equal(tokExternalize(tree), 'Joe (c) <joe@example.com>, "a b"@x');
  assert.equal(tokInternalize(addresses[1]!.node.head), 'a b@x');
});

test('tokRewriteAsync waits for the client', async () => {
  const { tree, addresses } = headerAddresses('x');
  await tokRewriteAsync(addresses[0]!.node, async (ext) => `${ext}@async.example`);
  assert.equal(tokExternalize(tree), 'x@async.example');
  assert.equal(addresses[0]!.node.type, TOK822.ADDR);
});

test('headerAddresses: a header as large as header_size_limit parses in linear time', () => {
  /** Postfix's header_size_limit default, and a bound far above the ~0.2 s this takes. */
  const HEADER_SIZE_LIMIT = 102400;
  const BOUND_MS = 5000;
  const value = 'a@b.c, '.repeat(Math.floor(HEADER_SIZE_LIMIT / 7));
  const t0 = Date.now();
  const { addresses } = headerAddresses(value, 0);
  assert.equal(addresses.length, Math.floor(HEADER_SIZE_LIMIT / 7));
  assert.ok(Date.now() - t0 < BOUND_MS, `took ${Date.now() - t0} ms`);
  // With Postfix's token limit the list stops at the 10240th token (6 tokens an address).
  assert.equal(headerAddresses(value).addresses.length, Math.ceil(TOK822_HEADER_TOKEN_LIMIT / 6));
});
