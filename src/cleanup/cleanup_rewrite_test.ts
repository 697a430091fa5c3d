/*
 * cleanup_rewrite_test - header address rewriting and the rewriting
 * adapters (headers of every kind are also compared with the real
 * cleanup in test/oracle/cleanup_addr_oracle_test.ts)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import { headerOptsFind } from '../global/header_opts.js';
import { MailConfig } from '../global/mail_conf.js';
import { localRewriteClient } from '../global/rewrite_clnt.js';
import { tokScanAddr } from '../global/tok822_parse.js';
import { type CleanupAddrDeps, cleanupAddrInit } from './cleanup_addr.js';
import { addrRewriter, cleanupFoldHeader, cleanupRewriteHeader, headerAddressKind, localAddrRewriter, rewriteTree } from './cleanup_rewrite.js';

function deps(overrides: Record<string, string> = {}): CleanupAddrDeps {
  const config = new MailConfig('/nonexistent', [], { myorigin: 'origin.example', mydestination: 'origin.example', ...overrides });
  return cleanupAddrInit(config, localAddrRewriter(config));
}
const hctx = (headerRewriteContext: 'local' | 'remote' | null, flags: number = CLEANUP_FLAG.MAP_OK) => ({ queueId: 'QID', flags, smtputf8: 0, headerRewriteContext });

test('header classes follow header_opts', () => {
  for (const h of ['From', 'Sender', 'Reply-To', 'Errors-To', 'Return-Path', 'Return-Receipt-To', 'Disposition-Notification-To', 'Mail-Followup-To', 'Resent-From', 'Resent-Sender']) {
    assert.equal(headerAddressKind(headerOptsFind(`${h}: x`)), 'sender', h);
  }
  for (const h of ['To', 'Cc', 'Bcc', 'Apparently-To', 'Resent-To', 'Resent-Cc', 'Resent-Bcc', 'Resent-Reply-To']) {
    assert.equal(headerAddressKind(headerOptsFind(`${h}: x`)), 'recipient', h);
  }
  for (const h of ['Subject', 'Delivered-To', 'Received', 'X-From']) assert.equal(headerAddressKind(headerOptsFind(`${h}: x`)), null, h);
});

test('no header rewrite context, or a header without addresses: the header is not touched', async () => {
  const d = deps({ canonical_maps: 'inline:{ a@origin.example=b@origin.example }' });
  assert.deepEqual(await cleanupRewriteHeader(d, hctx(null), 'To: a'), { text: 'To: a', changed: false, kind: 'recipient' });
  assert.deepEqual(await cleanupRewriteHeader(d, hctx('local'), 'Subject: a'), { text: 'Subject: a', changed: false, kind: null });
  assert.deepEqual(await cleanupRewriteHeader(d, hctx('local'), 'To: x@remote.example (c)'), { text: 'To: x@remote.example (c)', changed: false, kind: 'recipient' });
});

// tok822's printing of a regenerated header (no space before a comment after '>') is oracle-tested in test/oracle/tok822_cleanup_test.ts.
test('rewriting keeps comments and phrases; without MAP_OK only trivial-rewrite applies', async () => {
  const d = deps({ canonical_maps: 'inline:{ a@origin.example=b@origin.example }', masquerade_domains: 'example.com' });
  assert.equal((await cleanupRewriteHeader(d, hctx('local'), 'From: "A" <a> (c), x@host.example.com')).text, 'From: "A" <b@origin.example>(c), x@example.com');
  assert.equal((await cleanupRewriteHeader(d, hctx('local', 0), 'From: "A" <a> (c), x@host.example.com')).text, 'From: "A" <a@origin.example>(c), x@host.example.com');
  // The name keeps its spelling; white space before the colon stays part of the name.
  assert.equal((await cleanupRewriteHeader(d, hctx('local'), 'tO: a')).text, 'tO: b@origin.example');
});

test('canonical classes decide which headers are mapped', async () => {
  const d = deps({
    sender_canonical_maps: 'inline:{ s@origin.example=S2@origin.example }',
    recipient_canonical_maps: 'inline:{ s@origin.example=R2@origin.example }',
    canonical_classes: 'envelope_sender',
    recipient_canonical_classes: 'envelope_recipient',
  });
  assert.equal((await cleanupRewriteHeader(d, hctx('local'), 'From: s')).text, 'From: S2@origin.example');
  assert.equal((await cleanupRewriteHeader(d, hctx('local'), 'To: s')).text, 'To: s@origin.example', 'recipient canonical is not for headers here');
});

test('a regenerated header is folded as cleanup_fold_header does', () => {
  assert.equal(cleanupFoldHeader('To: a,\nb,\nc'), 'To: a, b, c');
  const long = `To: ${'x'.repeat(60)},\nshort,\n${'y'.repeat(68)}`;
  assert.equal(cleanupFoldHeader(long), `To: ${'x'.repeat(60)},\nshort,\n${'y'.repeat(68)}`);
  assert.equal(cleanupFoldHeader(`To: ${'x'.repeat(61)},\nab`), `To: ${'x'.repeat(61)}, ab`, '69 characters still fit');
  assert.equal(cleanupFoldHeader(`To: ${'x'.repeat(62)},\nab`), `To: ${'x'.repeat(62)},\nab`, '70 do not');
});

test('addrRewriter: R\'s internal-form client used for external forms', async () => {
  const config = new MailConfig('/nonexistent', [], { myorigin: 'origin.example', mydomain: 'origin.example' });
  const viaClient = addrRewriter(localRewriteClient(config));
  const local = localAddrRewriter(config);
  for (const a of ['joe', '"a b"', 'x@host', 'y@remote.example']) {
    assert.equal(await viaClient.rewriteExternal('local', a), await local.rewriteExternal('local', a), a);
  }
  const tree = tokScanAddr('joe');
  assert.equal(await rewriteTree(local, 'local', tree), true);
  assert.equal(await rewriteTree(local, 'local', tokScanAddr('joe@origin.example')), false);
});
