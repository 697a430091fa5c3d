/*
 * mail_out_relay_test - end to end: Python smtplib → Postern smtpd →
 * cleanup → qmgr → smtp → Postfix's smtp-sink, then the maillog through
 * pflogsumm.
 *
 * Several sessions send distinct messages; every one must arrive at the
 * sink exactly once with its body intact, the queues must end empty, the
 * maillog must carry Postfix's delivery lines (from=, to= ... status=sent,
 * removed), and pflogsumm (the Debian package, unchanged) must count the
 * received and delivered messages and the rejected recipient.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { runProgram } from '../lib/paths.js';
import { runSmtplib, runSmtplibBatch, startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { waitFor } from '../lib/proc.js';
import { bodyHash, testMessage } from './mail_in_lib.js';
import { logLines, queuedCount, sinkByMessageId, startMailOut } from './mail_out_lib.js';

const SESSIONS = 5;
const PER_SESSION = 10;
const TOTAL = SESSIONS * PER_SESSION;
const DELIVERY_MS = 60_000;

let sink: SmtpSink;
let inst: PosternInstance;

before(async () => {
  sink = await startSmtpSink();
  inst = await startMailOut('postern-relay-', sink.address, {
    smtpd_recipient_restrictions: 'check_recipient_access inline:{ refused.example=REJECT }, permit',
  });
});

after(async () => {
  await inst?.cleanup();
  await sink?.stop();
});

test('every accepted message reaches the sink once, intact, and the queue empties', { timeout: 120_000 }, async () => {
  const results = await runSmtplibBatch({
    port: inst.ports.smtp,
    sessions: SESSIONS,
    perSession: PER_SESSION,
    from: 'a@example.com',
    to: 'b@example.net',
    message: (s, m) => testMessage(s, m).text,
  });
  assert.equal(results.filter((r) => r.code === 250).length, TOTAL, JSON.stringify(results.filter((r) => r.code !== 250)));

  const refused = await runSmtplib({ port: inst.ports.smtp, from: 'a@example.com', to: ['x@refused.example'], message: 'Subject: no\r\n\r\nno\r\n' });
  assert.equal(refused.ok, false);

  const got = await sink.waitForMessages(TOTAL, DELIVERY_MS);
  const byId = sinkByMessageId(got);
  for (let s = 0; s < SESSIONS; s++) {
    for (let m = 0; m < PER_SESSION; m++) {
      const copies = byId.get(`<s${s}-m${m}@test.example>`) ?? [];
      assert.equal(copies.length, 1, `s${s}-m${m} arrived ${copies.length} times`);
      // The sink's dump is read as latin1: hash the bytes as they came.
      const c = copies[0].content;
      assert.equal(bodyHash(Buffer.from(c.slice(c.indexOf('\n\n') + 2), 'latin1')), bodyHash(testMessage(s, m).body), `body of s${s}-m${m}`);
      assert.match(copies[0].mailArgs, /^<a@example\.com>/);
      assert.deepEqual(copies[0].rcptArgs.map((r) => r.replace(/ .*/, '')), ['<b@example.net>']);
    }
  }
  await waitFor('the queue to empty', () => queuedCount(inst.queueDir) === 0, 15_000);
  await waitFor('every removal logged', () => logLines(inst, 'qmgr', /: removed$/).length === TOTAL, 10_000);

  assert.equal(logLines(inst, 'qmgr', /: from=<a@example\.com>, size=\d+, nrcpt=1 \(queue active\)$/).length, TOTAL);
  const sent = logLines(inst, 'smtp', /: to=<b@example\.net>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, (?:conn_use=\d+, )?delay=[\d.]+, delays=[\d.]+\/[\d.]+\/[\d.]+\/[\d.]+, dsn=2\.0\.0, status=sent \(250 /);
  assert.equal(sent.length, TOTAL, inst.log());
  // Back-to-back deliveries to one destination: qmgr asks for connection caching and smtp(8) reuses sessions.
  assert.ok(sent.some((l) => /, conn_use=\d+, /.test(l)), inst.log());
});

test('pflogsumm counts what Postern logged', { timeout: 60_000 }, async () => {
  const r = await runProgram('/usr/sbin/pflogsumm', ['--smtpd_stats', inst.logFile], { timeoutMs: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const count = (label: string): number => {
    const m = new RegExp(`^\\s*(\\d+)\\s+${label}\\s*$`, 'm').exec(r.stdout);
    assert.ok(m, `pflogsumm reports "${label}":\n${r.stdout}`);
    return Number(m[1]);
  };
  assert.equal(count('received'), TOTAL);
  assert.equal(count('delivered'), TOTAL);
  assert.equal(count('deferred'), 0);
  assert.equal(count('bounced'), 0);
  assert.equal(count('rejected \\(\\d+%\\)'), 1);
});
