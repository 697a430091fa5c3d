/*
 * mail_out_retry_test - deferral, backoff and expiry end to end.
 *
 * First the far end (Postfix's smtp-sink) answers RCPT with 4xx: the
 * message must be deferred (status=deferred), sit in the deferred queue
 * with its next attempt time as the file's mtime (minimal_backoff_time
 * after the attempt, as Postfix's qmgr sets it), and be delivered once a
 * healthy sink takes over the same address. Then a message to a
 * destination that never answers, with a short maximal_queue_lifetime,
 * must bounce: exactly one delivery status notification (null sender,
 * multipart/report) reaches the original sender.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { runSmtplib, startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { freePort, waitFor } from '../lib/proc.js';
import { logLines, queueFiles, queuedCount, startMailOut } from './mail_out_lib.js';

/** minimal_backoff_time in the instance, seconds. */
const MIN_BACKOFF_S = 2;
const MAX_BACKOFF_S = 4;
const LIFETIME_S = 6;

let sink: SmtpSink;
let inst: PosternInstance;
let deadPort: number;

before(async () => {
  sink = await startSmtpSink({ extraArgs: ['-r', 'RCPT'] });
  deadPort = await freePort(); // nothing listens there: connections are refused
  inst = await startMailOut('postern-retry-', sink.address, {
    minimal_backoff_time: `${MIN_BACKOFF_S}s`,
    maximal_backoff_time: `${MAX_BACKOFF_S}s`,
    maximal_queue_lifetime: `${LIFETIME_S}s`,
    transport_maps: `inline:{ dead.example=smtp:[127.0.0.1]:${deadPort} }`,
  });
});

after(async () => {
  await inst?.cleanup();
  await sink?.stop();
});

async function send(to: string, subject: string): Promise<void> {
  const r = await runSmtplib({ port: inst.ports.smtp, from: 'a@example.com', to: [to], message: `Subject: ${subject}\r\nMessage-ID: <${subject}@test.example>\r\n\r\nbody\r\n` });
  assert.equal(r.ok, true, JSON.stringify(r));
}

test('a 4xx answer defers with backoff, and a later attempt delivers', { timeout: 60_000 }, async () => {
  await send('b@example.net', 'retry1');
  await inst.waitLog(/postfix\/smtp\[\d+\]: \w+: to=<b@example\.net>, .*dsn=4\.\d\.\d+, status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 4\d\d /, 20_000);
  const deferred = await waitFor('the message in the deferred queue', () => queueFiles(inst.queueDir).deferred[0], 10_000);
  const observed = Date.now() / 1000;
  const next = statSync(deferred).mtimeMs / 1000;
  assert.ok(next > observed - 1 && next <= observed + MAX_BACKOFF_S + 1, `next attempt ${next - observed}s from now`);

  // A healthy sink takes the same address; the next queue run delivers.
  const port = sink.port;
  await sink.stop();
  sink = await startSmtpSink({ port });
  const got = await sink.waitForMessages(1, 30_000);
  assert.match(got[0].content, /^Subject: retry1$/m);
  await waitFor('the queue to empty', () => queuedCount(inst.queueDir) === 0, 10_000);
  const deferredLines = logLines(inst, 'smtp', /to=<b@example\.net>.*status=deferred/);
  const sentLines = logLines(inst, 'smtp', /to=<b@example\.net>.*status=sent/);
  assert.ok(deferredLines.length >= 1);
  assert.equal(sentLines.length, 1);
});

test('an expired message bounces with one DSN to the sender', { timeout: 60_000 }, async () => {
  const before = sink.messageCount();
  await send('x@dead.example', 'dead1');
  await inst.waitLog(/postfix\/smtp\[\d+\]: \w+: to=<x@dead\.example>, relay=none, .*status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection refused\)/, 20_000);
  await inst.waitLog(/postfix\/bounce\[\d+\]: \w+: sender non-delivery notification: \w+/, (LIFETIME_S + 3 * MAX_BACKOFF_S + 10) * 1000);
  const got = await sink.waitForMessages(before + 1, 30_000);
  const dsns = got.filter((m) => /^<>/.test(m.mailArgs));
  assert.equal(dsns.length, 1, 'one DSN');
  const dsn = dsns[0];
  assert.deepEqual(dsn.rcptArgs.map((r) => r.replace(/ .*/, '')), ['<a@example.com>']);
  assert.match(dsn.content, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(dsn.content, /^Final-Recipient: rfc822; x@dead\.example$/m);
  assert.match(dsn.content, /^Action: failed$/m);
  assert.match(dsn.content, /^Subject: dead1$/m, 'the original message is attached');
  assert.equal(logLines(inst, 'qmgr', /: from=<a@example\.com>, status=expired, returned to sender$/).length, 1);
  await waitFor('the queue to empty', () => queuedCount(inst.queueDir) === 0, 15_000);
});
