/*
 * cleanup_masq_test - masquerade_domains and masquerade_exceptions as
 * postconf(5) and ADDRESS_REWRITING_README describe them (the
 * header/envelope classes are compared with the real cleanup in
 * test/oracle/cleanup_addr_oracle_test.ts)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { MailConfig } from '../global/mail_conf.js';
import { type MsgSink, msgSetSinks } from '../util/msg.js';
import { cleanupAddrInit } from './cleanup_addr.js';
import { CleanupAddrError } from './cleanup_map11.js';
import { masqExceptionsInit, masqueradeDomain, masqueradeExternal, masqueradeInternal, parseMasqDomains } from './cleanup_masq.js';
import { localAddrRewriter } from './cleanup_rewrite.js';

function deps(overrides: Record<string, string>) {
  const config = new MailConfig('/nonexistent', [], { myorigin: 'origin.example', mydestination: '', ...overrides });
  return cleanupAddrInit(config, localAddrRewriter(config));
}
const ctx = { queueId: 'QID', flags: 0, smtputf8: 0 };

test('masquerade_domains: first listed parent wins, a listed domain itself stops the search', () => {
  const list = parseMasqDomains('foo.example.com example.com')!;
  assert.equal(masqueradeDomain('bar.foo.example.com', list), 'foo.example.com');
  assert.equal(masqueradeDomain('foo.example.com', list), null, 'a listed domain is left alone');
  assert.equal(masqueradeDomain('baz.example.com', list), 'example.com');
  assert.equal(masqueradeDomain('example.com', list), null);
  assert.equal(masqueradeDomain('notexample.com', list), null, 'only whole labels match');
  assert.equal(masqueradeDomain('host.EXAMPLE.com', list), 'example.com', 'case-insensitive, replaced by the list spelling');
  assert.equal(masqueradeDomain('x.example.org', list), null);
});

test('masquerade_domains: order matters, and ! makes an exception', () => {
  assert.equal(masqueradeDomain('bar.foo.example.com', parseMasqDomains('example.com, foo.example.com')!), 'example.com');
  const bang = parseMasqDomains('!sub.example.com, example.com')!;
  assert.equal(masqueradeDomain('sub.example.com', bang), null);
  assert.equal(masqueradeDomain('host.sub.example.com', bang), null);
  assert.equal(masqueradeDomain('other.example.com', bang), 'example.com');
  assert.equal(masqueradeDomain('a.example.com', parseMasqDomains('!!example.com')!), 'example.com', 'two ! cancel out');
  assert.equal(masqueradeDomain('a.example.com', parseMasqDomains('! example.com')!), 'example.com', 'a lone ! is an empty entry');
});

test('parseMasqDomains splits on commas and white space', () => {
  assert.deepEqual(parseMasqDomains(' a.example,b.example\tc.example\n'), ['a.example', 'b.example', 'c.example']);
  assert.equal(parseMasqDomains('  '), null);
});

test('addresses without a domain, and excepted local parts, are left alone', () => {
  const d = deps({ masquerade_domains: 'example.com', masquerade_exceptions: 'root, Mailer-Daemon' });
  assert.deepEqual(masqueradeExternal(d, ctx, 'user'), { address: 'user', changed: false });
  assert.deepEqual(masqueradeExternal(d, ctx, 'user@host.example.com'), { address: 'user@example.com', changed: true });
  assert.deepEqual(masqueradeExternal(d, ctx, 'ROOT@host.example.com'), { address: 'ROOT@host.example.com', changed: false });
  assert.deepEqual(masqueradeExternal(d, ctx, 'mailer-daemon@host.example.com').changed, false);
  // The exception compares the external (quoted) local part.
  assert.deepEqual(masqueradeInternal(d, ctx, 'a b@host.example.com'), { address: 'a b@example.com', changed: true });
});

test('masquerade_exceptions may be a table', () => {
  const d = deps({ masquerade_domains: 'example.com', masquerade_exceptions: 'inline:{ root=yes }' });
  assert.equal(masqueradeExternal(d, ctx, 'root@a.example.com').changed, false);
  assert.equal(masqueradeExternal(d, ctx, 'joe@a.example.com').changed, true);
  assert.equal(masqExceptionsInit(''), null);
});

test('a masquerade_exceptions lookup error refuses the message as Postfix does', () => {
  const d = deps({ masquerade_domains: 'example.com', masquerade_exceptions: '/nonexistent/postern-masq-exceptions' });
  const infos: string[] = [];
  const sink: MsgSink = { write: (severity, text) => void (severity === 'info' && infos.push(text)) };
  msgSetSinks([sink]);
  try {
    assert.throws(
      () => masqueradeExternal(d, ctx, 'joe@a.example.com'),
      (e: unknown) => e instanceof CleanupAddrError && e.status === CLEANUP_STAT.WRITE && e.reason === null,
    );
  } finally {
    msgSetSinks([]);
  }
  assert.deepEqual(infos, ['QID: masquerade_exceptions map lookup problem -- message not accepted, try again later']);
});
