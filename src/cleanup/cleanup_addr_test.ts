/*
 * cleanup_addr_test - the envelope address stages: parameters, flags,
 * DSN handling, BCC and errors, with inline: tables (the common paths
 * are also compared with the real cleanup in
 * test/oracle/cleanup_addr_oracle_test.ts)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { MailConfig } from '../global/mail_conf.js';
import { type MsgSink, msgSetSinks } from '../util/msg.js';
import {
  type CleanupAddrDeps,
  CleanupAddrConfigError,
  CleanupAddrError,
  DSN_NOTIFY,
  SMTPUTF8_FLAG,
  cleanupAddrBcc,
  cleanupAddrFinish,
  cleanupAddrInit,
  cleanupAddrRecipient,
  cleanupAddrSender,
  cleanupDupFilter,
  cleanupOutRecipient,
  parseClasses,
  parseExtProp,
} from './cleanup_addr.js';
import { localAddrRewriter } from './cleanup_rewrite.js';

function deps(overrides: Record<string, string> = {}): CleanupAddrDeps {
  const config = new MailConfig('/nonexistent', [], { myorigin: 'origin.example', mydestination: 'origin.example', ...overrides });
  return cleanupAddrInit(config, localAddrRewriter(config));
}
const ALL = CLEANUP_FLAG.MAP_OK | CLEANUP_FLAG.BCC_OK;
const ctxOf = (flags: number = ALL) => ({ queueId: 'QID', flags, smtputf8: 0 });
const rcpt = (recipient: string, dsnNotify = 0, dsnOrcpt = '') => ({ recipient, orcpt: recipient, dsnOrcpt, dsnNotify });

test('class parameters: Postfix name_mask errors for unknown or misplaced names', () => {
  assert.deepEqual(parseClasses('canonical_classes', 'envelope_sender, header_recipient', ['envFrom', 'envRcpt', 'hdrFrom', 'hdrRcpt']), {
    envFrom: true,
    envRcpt: false,
    hdrFrom: false,
    hdrRcpt: true,
  });
  assert.throws(() => deps({ canonical_classes: 'envelope_sender, bogus' }), new CleanupAddrConfigError('unknown canonical_classes value "bogus" in "envelope_sender, bogus"'));
  assert.throws(() => deps({ sender_canonical_classes: 'envelope_recipient' }), /unknown canonical_classes value "envelope_recipient"/);
  assert.throws(() => deps({ masquerade_classes: 'Envelope_sender' }), /unknown masquerade_classes value "Envelope_sender"/);
  assert.deepEqual(parseExtProp('canonical,alias forward'), { canonical: true, virtual: false });
  assert.throws(() => parseExtProp('virtual, nope'), /unknown propagate_unmatched_extensions value "nope"/);
});

test('defaults: unqualified addresses are qualified, MAILER-DAEMON@$myorigin becomes <>', async () => {
  const d = deps();
  const dups = cleanupDupFilter(d);
  assert.deepEqual(await cleanupAddrSender(d, ctxOf(), dups, 'joe'), { sender: 'joe@origin.example', out: [] });
  assert.equal((await cleanupAddrSender(d, ctxOf(), dups, 'mailer-daemon')).sender, '');
  assert.equal((await cleanupAddrSender(d, ctxOf(), dups, 'MAILER-DAEMON@remote.example')).sender, 'MAILER-DAEMON@remote.example');
  assert.equal((await cleanupAddrSender(d, ctxOf(), dups, '')).sender, '');
  const r = await cleanupAddrRecipient(d, ctxOf(), dups, rcpt(''));
  assert.equal(r.address, 'MAILER-DAEMON@origin.example', 'an empty recipient is empty_address_recipient');
  assert.deepEqual(r.out, [{ dsnNotify: 0, dsnOrcpt: 'rfc822;MAILER-DAEMON@origin.example', orcpt: '', recipient: 'MAILER-DAEMON@origin.example' }]);
});

test('without MAP_OK no canonical, masquerade or virtual mapping; without BCC_OK no BCC', async () => {
  const d = deps({
    canonical_maps: 'inline:{ a@origin.example=b@origin.example }',
    virtual_alias_maps: 'inline:{ a@origin.example=v@remote.example }',
    masquerade_domains: 'example.com',
    recipient_bcc_maps: 'inline:{ a@origin.example=bcc@remote.example }',
    sender_bcc_maps: 'inline:{ a@origin.example=sbcc@remote.example }',
  });
  const none = await cleanupAddrRecipient(d, ctxOf(0), cleanupDupFilter(d), rcpt('a'));
  assert.deepEqual(none.out.map((o) => o.recipient), ['a@origin.example']);
  const mapOnly = await cleanupAddrRecipient(d, ctxOf(CLEANUP_FLAG.MAP_OK), cleanupDupFilter(d), rcpt('a'));
  assert.deepEqual(mapOnly.out.map((o) => o.recipient), ['b@origin.example']);
  assert.deepEqual((await cleanupAddrSender(d, ctxOf(CLEANUP_FLAG.BCC_OK), cleanupDupFilter(d), 'a')).out.map((o) => o.recipient), ['sbcc@remote.example']);
  const both = await cleanupAddrRecipient(d, ctxOf(), cleanupDupFilter(d), rcpt('a'));
  assert.deepEqual(both.out.map((o) => o.recipient), ['b@origin.example'], 'recipient_bcc_maps sees the mapped address b@origin.example');
});

test('BCC recipients: NOTIFY=NEVER, no DSN ORCPT, the BCC address as original recipient', async () => {
  const d = deps({ virtual_alias_maps: 'inline:{ {team@origin.example=x@remote.example, y@remote.example} }' });
  const out = await cleanupAddrBcc(d, ctxOf(), cleanupDupFilter(d), 'team');
  assert.deepEqual(out, [
    { dsnNotify: DSN_NOTIFY.NEVER, dsnOrcpt: '', orcpt: 'team@origin.example', recipient: 'x@remote.example' },
    { dsnNotify: DSN_NOTIFY.NEVER, dsnOrcpt: '', orcpt: 'team@origin.example', recipient: 'y@remote.example' },
  ]);
});

test('always_bcc and header/body check BCC at the end of the message', async () => {
  const d = deps({ always_bcc: 'archive' });
  const dups = cleanupDupFilter(d);
  assert.deepEqual(await cleanupAddrFinish(d, ctxOf(), dups, { haveRecipient: false, hbcRcpt: ['h@remote.example'] }), []);
  assert.deepEqual(
    (await cleanupAddrFinish(d, ctxOf(), dups, { haveRecipient: true, hbcRcpt: ['h@remote.example'] })).map((o) => o.recipient),
    ['archive@origin.example', 'h@remote.example'],
  );
  assert.deepEqual((await cleanupAddrFinish(d, ctxOf(CLEANUP_FLAG.MAP_OK), cleanupDupFilter(d), { haveRecipient: true, hbcRcpt: ['h@remote.example'], ok: false })), []);
});

test('virtual expansion of a NOTIFY=SUCCESS recipient: an "expanded" notice, SUCCESS removed', async () => {
  const d = deps({ virtual_alias_maps: 'inline:{ {l@origin.example=a@remote.example, b@remote.example}, one@origin.example=one@origin.example }' });
  const r = await cleanupAddrRecipient(d, ctxOf(), cleanupDupFilter(d), rcpt('l@origin.example', DSN_NOTIFY.SUCCESS));
  assert.deepEqual(r.trace, [
    {
      dsnNotify: DSN_NOTIFY.SUCCESS,
      dsnOrcpt: 'rfc822;l@origin.example',
      orcpt: 'l@origin.example',
      recipient: 'l@origin.example',
      service: 'trace',
      action: 'expanded',
      status: '2.0.0',
      text: 'alias expanded',
    },
  ]);
  assert.deepEqual(r.out.map((o) => o.dsnNotify), [DSN_NOTIFY.NEVER, DSN_NOTIFY.NEVER]);
  const mixed = await cleanupAddrRecipient(d, ctxOf(), cleanupDupFilter(d), rcpt('l@origin.example', DSN_NOTIFY.SUCCESS | DSN_NOTIFY.FAILURE, 'rfc822;orig@x'));
  assert.deepEqual(mixed.out.map((o) => [o.dsnNotify, o.dsnOrcpt]), [
    [DSN_NOTIFY.FAILURE, 'rfc822;orig@x'],
    [DSN_NOTIFY.FAILURE, 'rfc822;orig@x'],
  ]);
  const self = await cleanupAddrRecipient(d, ctxOf(), cleanupDupFilter(d), rcpt('one@origin.example', DSN_NOTIFY.SUCCESS));
  assert.deepEqual(self.trace, [], 'an address that maps to itself is not "expanded"');
});

test('address verification: a recipient that expands to several is "deliverable", nothing is written', async () => {
  const d = deps({ virtual_alias_maps: 'inline:{ {l@origin.example=a@remote.example, b@remote.example}, one@origin.example=two@remote.example }' });
  const ctx = { ...ctxOf(), mtaVerify: true };
  const r = await cleanupAddrRecipient(d, ctx, cleanupDupFilter(d), rcpt('l@origin.example'));
  assert.deepEqual(r.out, []);
  assert.deepEqual(r.trace.map((t) => [t.service, t.action, t.text]), [['verify', 'deliverable', 'aliased to multiple recipients']]);
  const single = await cleanupAddrRecipient(d, ctx, cleanupDupFilter(d), rcpt('one@origin.example'));
  assert.deepEqual(single.out.map((o) => o.recipient), ['two@remote.example']);
});

test('duplicates: same DSN attributes and original recipient only (case-insensitive); enable_original_recipient=no compares the recipient alone', async () => {
  const on = deps();
  const dups = cleanupDupFilter(on);
  assert.equal((await cleanupAddrRecipient(on, ctxOf(), dups, rcpt('a@remote.example'))).out.length, 1);
  assert.equal((await cleanupAddrRecipient(on, ctxOf(), dups, rcpt('A@remote.example'))).out.length, 0, 'the whole key is compared case-insensitively');
  assert.equal((await cleanupAddrRecipient(on, ctxOf(), dups, { recipient: 'a@remote.example', orcpt: 'alias@origin.example', dsnOrcpt: '', dsnNotify: 0 })).out.length, 1, 'another original recipient');
  assert.equal((await cleanupAddrRecipient(on, ctxOf(), dups, rcpt('a@remote.example', DSN_NOTIFY.FAILURE))).out.length, 1, 'other DSN attributes');
  const off = deps({ enable_original_recipient: 'no' });
  const dups2 = cleanupDupFilter(off);
  const first = await cleanupAddrRecipient(off, ctxOf(), dups2, rcpt('a@remote.example', DSN_NOTIFY.FAILURE));
  assert.equal(first.out[0]!.orcpt, 'a@remote.example', 'the O record is still written');
  assert.equal((await cleanupAddrRecipient(off, ctxOf(), dups2, rcpt('A@REMOTE.example'))).out.length, 0);
});

test('duplicate_filter_limit bounds what the filter remembers', async () => {
  const d = deps({ duplicate_filter_limit: '1' });
  const dups = cleanupDupFilter(d);
  const send = async (a: string) => (await cleanupOutRecipient(d, ctxOf(), dups, { dsnNotify: 0, dsnOrcpt: '', orcpt: a, recipient: a })).out.length;
  assert.deepEqual([await send('a@x.example'), await send('b@x.example'), await send('b@x.example'), await send('a@x.example')], [1, 1, 1, 0]);
});

test('SMTPUTF8: a UTF-8 sender sets SENDER (and REQUESTED with AUTOUTF8); a UTF-8 DSN ORCPT then says utf-8', async () => {
  const d = deps({ smtputf8_enable: 'yes' });
  const ctx = ctxOf(ALL | CLEANUP_FLAG.AUTOUTF8);
  await cleanupAddrSender(d, ctx, cleanupDupFilter(d), 'j\u00f6rg@example.de');
  assert.equal(ctx.smtputf8, SMTPUTF8_FLAG.SENDER | SMTPUTF8_FLAG.REQUESTED);
  const r = await cleanupAddrRecipient(d, ctx, cleanupDupFilter(d), rcpt('m\u00fcller@example.de'));
  assert.equal(r.out[0]!.dsnOrcpt, 'utf-8;m\u00fcller@example.de');
  const plain = ctxOf();
  await cleanupAddrSender(d, plain, cleanupDupFilter(d), 'j\u00f6rg@example.de');
  assert.equal(plain.smtputf8, SMTPUTF8_FLAG.SENDER);
  const r2 = await cleanupAddrRecipient(d, plain, cleanupDupFilter(d), rcpt('m\u00fcller@example.de'));
  assert.equal(r2.out[0]!.dsnOrcpt, 'rfc822;m\u00fcller@example.de');
});

test('BCC map errors refuse the message with Postfix warning', async () => {
  const d = deps({ sender_bcc_maps: 'fail:sbcc', recipient_bcc_maps: 'fail:rbcc' });
  const warnings: string[] = [];
  const sink: MsgSink = { write: (severity, text) => void (severity === 'warning' && warnings.push(text)) };
  msgSetSinks([sink]);
  try {
    await assert.rejects(cleanupAddrSender(d, ctxOf(), cleanupDupFilter(d), 'a@remote.example'), (e: unknown) => e instanceof CleanupAddrError && e.status === CLEANUP_STAT.WRITE);
    await assert.rejects(cleanupAddrRecipient(d, ctxOf(), cleanupDupFilter(d), rcpt('a@remote.example')), CleanupAddrError);
    // No lookup for the null sender or without BCC_OK.
    assert.equal((await cleanupAddrSender(d, ctxOf(), cleanupDupFilter(d), '')).sender, '');
    assert.equal((await cleanupAddrSender(d, ctxOf(CLEANUP_FLAG.MAP_OK), cleanupDupFilter(d), 'a@remote.example')).sender, 'a@remote.example');
  } finally {
    msgSetSinks([]);
  }
  assert.deepEqual(
    warnings.filter((w) => w.startsWith('QID: ')),
    ['QID: sender_bcc_maps map lookup problem -- message not accepted, try again later', 'QID: recipient_bcc_maps map lookup problem -- message not accepted, try again later'],
  );
});

test('deps are made once per configuration', () => {
  const config = new MailConfig('/nonexistent', [], { canonical_maps: 'inline:{ a=b }' });
  const a = cleanupAddrInit(config, localAddrRewriter(config));
  assert.equal(cleanupAddrInit(config, localAddrRewriter(config)), a);
  assert.ok(a.maps.canonical !== null && a.maps.virtualAlias === null);
});
