/*
 * bounce_inprocess_test - Postern's bounce(8) fed through bounce_clnt, submitting to Postern's cleanup, all in this process
 *
 * What it does: submits an original message to an in-process cleanup,
 * appends recipient records through bounceLogAppend (bounce, defer and
 * trace services), then asks for notifications through bounceFlush,
 * deferFlush, deferWarn, traceFlush and bounceOne, and checks what
 * Postfix's bounce(8) does: the log files and their removal, the log
 * lines ("QUEUEID: sender non-delivery notification: NEWID" ...), the
 * notification's envelope (sender <>, or double-bounce for postmaster
 * copies) and its MIME structure as Python's email package parses it,
 * DSN NOTIFY filtering, DELRCPT crossing off, the double-bounce and
 * triple-bounce rules.
 *
 * What it does not do: compare with the real Postfix (bounce_dsn_test
 * does) or run master.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BOUNCE_FLAG, bounceFlush, bounceFlushVerp, bounceLogAppend, bounceOne, deferFlush, deferWarn, traceFlush } from '../../src/global/bounce_clnt.js';
import { DSN_NOTIFY, DSN_RET, dsnMake } from '../../src/global/dsn.js';
import { queuePath } from '../../src/global/mail_queue.js';
import type { Recipient } from '../../src/global/recipient_list.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { verpSender } from '../../src/bounce/bounce_notify_verp.js';
import { tempDir } from '../lib/temp_dir.js';
import { dsnStructure, makeOurBounce, type DsnPart } from './bounce_dsn_lib.js';

const MAIN = { myhostname: 'ours.example', mydestination: '', compatibility_level: '3.6', notify_classes: 'resource, software' };
const LINES = ['Subject: hello', 'Message-ID: <m1@example.net>', '', 'body line'];

function rcptOf(qf: { recipients: Array<{ address: string; offset: number }> }, addr: string, notify = 0): Recipient {
  const r = qf.recipients.find((x) => x.address === addr);
  assert.ok(r, `no recipient ${addr}`);
  return { origAddress: addr, address: addr, offset: r.offset, dsnOrcpt: `rfc822;${addr}`, dsnNotify: notify };
}

function partTypes(p: DsnPart): string[] {
  return [p.content_type, ...(p.parts ?? []).flatMap(partTypes)];
}

test('bounce: append + flush sends one DSN from <> to the sender and removes the log', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), MAIN);
  t.after(() => ours.close());
  const id = await ours.submit('sender@example.net', ['a@example.com', 'b@example.com', 'c@example.com'], LINES);
  const qf = ours.queueFile('incoming', id);
  const fail = dsnMake('5.1.1', 'host mx.example.com said: 550 no such user', { action: 'failed', dtype: 'smtp', dtext: '550 no such user', mtype: 'dns', mname: 'mx.example.com' });
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id, rcptOf(qf, 'a@example.com'), fail), 0);
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id, rcptOf(qf, 'b@example.com', DSN_NOTIFY.NEVER), fail), 0);
  const logPath = queuePath(ours.queueDir, 'bounce', id, ours.ctx.hash);
  const log = readFileSync(logPath, 'utf8');
  assert.match(log, /^\n<a@example\.com>: host mx\.example\.com said: 550 no such user\nrecipient=a@example\.com\noffset=\d+\ndsn_orig_rcpt=rfc822;a@example\.com\nstatus=5\.1\.1\naction=failed\ndiag_type=smtp\ndiag_text=550 no such user\nmta_type=dns\nmta_mname=mx\.example\.com\nreason=host mx\.example\.com said: 550 no such user\n\n/);
  assert.equal(await bounceFlush(ours.clientOpts, 0, 'incoming', id, '7bit', 0, 'sender@example.net', '', 0), 0);
  assert.equal(existsSync(logPath), false, 'the bounce log is removed after the notification');
  const notes = ours.notices('sender non-delivery notification');
  assert.deepEqual(notes.map((n) => n.orig), [id]);
  const dsnQf = ours.queueFile('incoming', notes[0]!.id);
  assert.equal(dsnQf.sender, '');
  assert.deepEqual(dsnQf.recipients.map((r) => r.address), ['sender@example.net']);
  const s = await dsnStructure(ours.root, 'flush', ours.content('incoming', notes[0]!.id));
  assert.deepEqual(s.defects, []);
  assert.deepEqual(partTypes(s.root), ['multipart/report', 'text/plain', 'message/delivery-status', 'message/rfc822']);
  assert.equal(s.root.params['report-type'], 'delivery-status');
  const ds = s.root.parts![1]!.blocks!;
  // NOTIFY=NEVER recipient b is left out of the sender's copy.
  assert.equal(ds.length, 2);
  assert.deepEqual(ds[0]!.map(([k]) => k), ['Reporting-MTA', 'X-Postfix-Queue-ID', 'X-Postfix-Sender', 'Arrival-Date']);
  assert.deepEqual(ds[1], [
    ['Final-Recipient', 'rfc822; a@example.com'],
    ['Original-Recipient', 'rfc822;a@example.com'],
    ['Action', 'failed'],
    ['Status', '5.1.1'],
    ['Remote-MTA', 'dns; mx.example.com'],
    ['Diagnostic-Code', 'smtp; 550 no such user'],
  ]);
  assert.equal(s.root.parts![2]!.inner_body, 'body line\n');
});

test('bounce: RET=HDRS and bounce_size_limit return the headers only', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), { ...MAIN, bounce_size_limit: '20' });
  t.after(() => ours.close());
  const id = await ours.submit('sender@example.net', ['a@example.com'], LINES);
  const qf = ours.queueFile('incoming', id);
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id, rcptOf(qf, 'a@example.com'), dsnMake('5.0.0', 'nope', { action: 'failed' })), 0);
  assert.equal(await bounceFlush(ours.clientOpts, 0, 'incoming', id, '', 0, 'sender@example.net', 'ENVID1', DSN_RET.FULL), 0);
  const note = ours.notices('sender non-delivery notification')[0]!;
  const s = await dsnStructure(ours.root, 'hdrs', ours.content('incoming', note.id));
  assert.deepEqual(partTypes(s.root), ['multipart/report', 'text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  assert.equal(s.root.parts![2]!.description, 'Undelivered Message Headers');
  assert.ok(s.root.parts![2]!.lines!.includes('Subject: hello'));
  assert.ok(!s.root.parts![2]!.lines!.includes('body line'));
  assert.deepEqual(s.root.parts![1]!.blocks![0]![1], ['Original-Envelope-Id', 'ENVID1']);
});

test('defer: flush bounces the deferred recipients and crosses them off; warn keeps the log', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), { ...MAIN, notify_classes: 'delay', delay_warning_time: '4h', maximal_queue_lifetime: '5d' });
  t.after(() => ours.close());
  const id = await ours.submit('sender@example.net', ['a@example.com', 'b@example.com'], LINES);
  const qf = ours.queueFile('incoming', id);
  const delayed = dsnMake('4.4.1', 'connect to mx.example.com[192.0.2.1]:25: Connection refused', { action: 'delayed' });
  assert.equal(await bounceLogAppend(ours.clientOpts, 'defer', 0, id, rcptOf(qf, 'a@example.com'), delayed), 0);
  assert.equal(await bounceLogAppend(ours.clientOpts, 'defer', 0, id, rcptOf(qf, 'b@example.com', DSN_NOTIFY.FAILURE), delayed), 0);
  assert.equal(await deferWarn(ours.clientOpts, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0), 0);
  const warn = ours.notices('sender delay notification');
  assert.equal(warn.length, 1);
  assert.equal(ours.notices('postmaster delay notification').length, 1, 'notify_classes delay sends a postmaster copy');
  const ws = await dsnStructure(ours.root, 'warn', ours.content('incoming', warn[0]!.id));
  assert.deepEqual(ws.headers.find(([k]) => k === 'Subject'), ['Subject', 'Delayed Mail (still being retried)']);
  const blocks = ws.root.parts![1]!.blocks!;
  assert.equal(blocks.length, 2, 'only the recipient without NOTIFY (or with DELAY) is in the warning');
  assert.deepEqual(blocks[1]!.filter(([k]) => k !== 'Will-Retry-Until').map(([k, v]) => [k, v.replace(/\n\s+/g, ' ')]), [
    ['Final-Recipient', 'rfc822; a@example.com'],
    ['Original-Recipient', 'rfc822;a@example.com'],
    ['Action', 'delayed'],
    ['Status', '4.4.1'],
    ['Diagnostic-Code', 'X-Postfix; connect to mx.example.com[192.0.2.1]:25: Connection refused'],
  ]);
  assert.ok(blocks[1]!.some(([k]) => k === 'Will-Retry-Until'));
  assert.ok(ws.root.parts![0]!.lines!.includes('Your message could not be delivered for more than 4 hour(s).'));
  assert.ok(ws.root.parts![0]!.lines!.includes('It will be retried until it is 5 day(s) old.'));
  assert.equal(ws.root.parts![2]!.content_type, 'text/rfc822-headers');
  const logPath = queuePath(ours.queueDir, 'defer', id, ours.ctx.hash);
  assert.ok(existsSync(logPath), 'a warning keeps the defer log');
  assert.equal(await deferFlush(ours.clientOpts, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0), 0);
  assert.equal(existsSync(logPath), false);
  assert.equal(ours.notices('sender non-delivery notification').length, 1);
  const after = ours.queueFile('incoming', id);
  assert.deepEqual(after.recipients.map((r) => r.done), [true, true], 'DELRCPT crosses the bounced recipients off');
  const expired = ours.content('incoming', ours.notices('sender non-delivery notification')[0]!.id).toString('utf8');
  assert.deepEqual(expired.match(/^Action: .*$/gm), ['Action: failed', 'Action: failed'], 'an expired message reports every deferred recipient as failed');
});

test('trace: NOTIFY=SUCCESS notice lists delivered recipients; no trace log sends nothing', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), MAIN);
  t.after(() => ours.close());
  const id = await ours.submit('sender@example.net', ['a@example.com'], LINES);
  assert.equal(await traceFlush(ours.clientOpts, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0), 0);
  assert.equal(ours.notices('sender delivery status notification').length, 0);
  const qf = ours.queueFile('incoming', id);
  const ok = dsnMake('2.0.0', 'delivered to mailbox', { action: 'delivered' });
  assert.equal(await bounceLogAppend(ours.clientOpts, 'trace', 0, id, rcptOf(qf, 'a@example.com', DSN_NOTIFY.SUCCESS), ok), 0);
  assert.equal(await traceFlush(ours.clientOpts, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0), 0);
  const n = ours.notices('sender delivery status notification');
  assert.equal(n.length, 1);
  const s = await dsnStructure(ours.root, 'success', ours.content('incoming', n[0]!.id));
  assert.deepEqual(s.headers.find(([k]) => k === 'Subject'), ['Subject', 'Successful Mail Delivery Report']);
  assert.deepEqual(s.root.parts![1]!.blocks![1]!.find(([k]) => k === 'Action'), ['Action', 'delivered']);
  assert.equal(s.root.parts![2]!.description, 'Message Headers');
  assert.equal(existsSync(queuePath(ours.queueDir, 'trace', id, ours.ctx.hash)), false);
});

test('double bounce goes to postmaster from double-bounce; a triple bounce is discarded and logged', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), { ...MAIN, notify_classes: '2bounce' });
  t.after(() => ours.close());
  const id = await ours.submit('', ['a@example.com'], LINES);
  const qf = ours.queueFile('incoming', id);
  const fail = dsnMake('5.1.1', 'no such user', { action: 'failed' });
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id, rcptOf(qf, 'a@example.com'), fail), 0);
  assert.equal(await bounceFlush(ours.clientOpts, 0, 'incoming', id, '', 0, '', '', 0), 0);
  const pm = ours.notices('postmaster non-delivery notification');
  assert.equal(pm.length, 1);
  assert.equal(ours.notices('sender non-delivery notification').length, 0);
  const pqf = ours.queueFile('incoming', pm[0]!.id);
  assert.equal(pqf.sender, 'double-bounce@ours.example');
  assert.deepEqual(pqf.recipients.map((r) => r.address), ['postmaster@ours.example']);
  const s = await dsnStructure(ours.root, 'pm', ours.content('incoming', pm[0]!.id));
  assert.deepEqual(s.headers.find(([k]) => k === 'Subject'), ['Subject', 'Postmaster Copy: Undelivered Mail']);
  assert.deepEqual(s.headers.find(([k]) => k === 'Auto-Submitted'), ['Auto-Submitted', 'auto-generated']);
  // The postmaster copy of a double bounce has no boiler-plate text.
  assert.equal(s.root.parts![0]!.lines![0], '');
  assert.equal(s.root.parts![2]!.content_type, 'message/rfc822');

  const id3 = await ours.submit('double-bounce@ours.example', ['a@example.com'], LINES);
  const qf3 = ours.queueFile('incoming', id3);
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id3, rcptOf(qf3, 'a@example.com'), fail), 0);
  assert.equal(await bounceFlush(ours.clientOpts, 0, 'incoming', id3, '', 0, 'double-bounce@ours.example', '', 0), 0);
  assert.ok(ours.logs.includes(`warning: ${id3}: undeliverable postmaster notification discarded`));
  assert.equal(ours.notices('postmaster non-delivery notification').length, 1, 'no notice for a triple bounce');
  assert.equal(existsSync(queuePath(ours.queueDir, 'bounce', id3, ours.ctx.hash)), false);
});

test('bounceOne: one recipient without a log, crossed off with DELRCPT; ONE on the defer service is refused', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), MAIN);
  t.after(() => ours.close());
  const id = await ours.submit('sender@example.net', ['a@example.com', 'b@example.com'], LINES);
  const qf = ours.queueFile('incoming', id);
  const fail = dsnMake('5.7.1', 'rejected by policy', { action: 'failed' });
  assert.equal(await bounceOne(ours.clientOpts, BOUNCE_FLAG.DELRCPT, 'incoming', id, '', 0, 'sender@example.net', '', 0, rcptOf(qf, 'b@example.com'), fail), 0);
  const n = ours.notices('sender non-delivery notification');
  assert.equal(n.length, 1);
  const text = ours.content('incoming', n[0]!.id).toString('utf8');
  assert.match(text, /\n\n<b@example\.com>: rejected by policy\n\n--/);
  assert.equal(text.match(/^Final-Recipient: /gm)?.length, 1);
  assert.deepEqual(ours.queueFile('incoming', id).recipients.map((r) => r.done), [false, true]);
  const bad = { ...ours.clientOpts, serviceNames: { bounce: 'defer' } };
  assert.equal(await bounceOne(bad, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0, rcptOf(qf, 'a@example.com'), fail), -1);
  assert.ok(ours.logs.includes('warning: wrong service name "defer" for one-recipient bouncing'));
});

test('malformed requests get status -1 with Postfix warnings; CLEAN removes the log on failure', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), MAIN);
  t.after(() => ours.close());
  const r: Recipient = { origAddress: '', address: 'a@example.com', offset: 0, dsnOrcpt: '', dsnNotify: 0 };
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, '../x', r, dsnMake('5.0.0', 'x', { action: 'failed' })), -1);
  assert.ok(ours.logs.includes('warning: malformed queue id: ../x'));
  assert.equal(await bounceFlush(ours.clientOpts, 0, 'no/such', 'ABCDEF123', '', 0, 's@x', '', 0), -1);
  assert.ok(ours.logs.includes('warning: malformed queue name: no/such'));
  // A flush whose notification cannot be posted (no cleanup for this client) fails; CLEAN then removes the log.
  const id = 'ABCDEF1234';
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', BOUNCE_FLAG.CLEAN, id, r, dsnMake('5.0.0', 'x', { action: 'failed' })), 0);
  const path = queuePath(ours.queueDir, 'bounce', id, ours.ctx.hash);
  assert.ok(existsSync(path));
  const broken = ours.ctx.cleanupEndpoint;
  ours.ctx.cleanupEndpoint = { label: 'nowhere', connect: () => Promise.reject(new Error('refused')) };
  assert.equal(await bounceFlush(ours.clientOpts, BOUNCE_FLAG.CLEAN, 'incoming', id, '', 0, 's@example.net', '', 0), -1);
  ours.ctx.cleanupEndpoint = broken;
  assert.equal(existsSync(path), false);
  assert.ok(ours.logs.some((l) => l.startsWith('warning: connect to cleanup service:')));
  void REC_TYPE;
});

test('VERP: one notice per recipient to the VERP-encoded sender; bounces of bounces fall back with a warning', async (t) => {
  const ours = makeOurBounce(tempDir(t, 'postern-bounce-'), MAIN);
  t.after(() => ours.close());
  assert.equal(verpSender('+=', 'owner@lists.example', 'user@dom.example'), 'owner+user=dom.example@lists.example');
  assert.equal(verpSender('-=', 'owner', 'user'), 'owner-user');
  const id = await ours.submit('owner@example.net', ['a@example.com', 'b@example.com'], LINES);
  const qf = ours.queueFile('incoming', id);
  const fail = dsnMake('5.1.1', 'no such user', { action: 'failed' });
  for (const a of ['a@example.com', 'b@example.com']) assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id, rcptOf(qf, a), fail), 0);
  assert.equal(await bounceFlushVerp(ours.clientOpts, 0, 'incoming', id, '', 0, 'owner@example.net', '', 0, '+='), 0);
  const n = ours.notices('sender non-delivery notification');
  assert.equal(n.length, 2);
  assert.deepEqual(n.map((x) => ours.queueFile('incoming', x.id).recipients[0]!.address), ['owner+a=example.com@example.net', 'owner+b=example.com@example.net']);
  assert.equal(existsSync(queuePath(ours.queueDir, 'bounce', id, ours.ctx.hash)), false);
  const id2 = await ours.submit('', ['c@example.com'], LINES);
  assert.equal(await bounceLogAppend(ours.clientOpts, 'bounce', 0, id2, rcptOf(ours.queueFile('incoming', id2), 'c@example.com'), fail), 0);
  assert.equal(await bounceFlushVerp(ours.clientOpts, 0, 'incoming', id2, '', 0, '', '', 0, '+='), 0);
  assert.ok(ours.logs.includes('warning: request to send VERP-style notification of bounced mail'));
  assert.equal(await bounceFlushVerp(ours.clientOpts, 0, 'incoming', id2, '', 0, 'x@y', '', 0, '+'), -1);
  assert.ok(ours.logs.includes('warning: malformed verp delimiter string: +'));
});
