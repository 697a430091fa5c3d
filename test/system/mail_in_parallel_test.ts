/*
 * mail_in_parallel_test - 50 parallel SMTP sessions × 20 messages each,
 * from Python's smtplib into a Postern instance under master, arrive
 * intact: every message gets "250 2.0.0 Ok: queued as ID", the file
 * incoming/ID exists and is complete, its envelope and Subject are the
 * message's own, its body hash equals what was sent, and no message is
 * in the queue twice. One smtpd process serves many of the sessions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { runSmtplibBatch } from '../lib/peers.js';
import { bodyHash, incomingMessages, queuedId, testMessage, startMailIn } from './mail_in_lib.js';

const SESSIONS = 50;
const PER_SESSION = 20;
/** Bound on the whole batch. */
const BATCH_MS = 120_000;

let inst: PosternInstance;

before(async () => {
  inst = await startMailIn('postern-mailin-');
});

after(async () => {
  await inst?.cleanup();
});

test(`${SESSIONS} parallel sessions × ${PER_SESSION} messages arrive intact`, { timeout: BATCH_MS + 30_000 }, async () => {
  const results = await runSmtplibBatch({
    port: inst.ports.smtp,
    sessions: SESSIONS,
    perSession: PER_SESSION,
    from: 'a@example.com',
    to: 'b@example.net',
    message: (s, m) => testMessage(s, m).text,
    timeoutMs: BATCH_MS,
  });
  const failed = results.filter((r) => r.code !== 250);
  assert.deepEqual(failed, [], 'every message accepted');
  assert.equal(results.length, SESSIONS * PER_SESSION);

  const queued = incomingMessages(inst.queueDir);
  const byId = new Map(queued.map((q) => [q.queueId, q]));
  assert.equal(byId.size, queued.length, 'queue ids unique');
  assert.equal(queued.length, SESSIONS * PER_SESSION, 'one queue file per message');
  for (const r of results) {
    const id = queuedId(r.reply);
    assert.ok(id, `queue id in "${r.reply}"`);
    const q = byId.get(id);
    assert.ok(q, `incoming/${id} exists`);
    assert.ok(q.complete, `incoming/${id} is complete`);
    assert.equal(q.sender, 'a@example.com');
    assert.deepEqual(q.recipients, ['b@example.net']);
    assert.equal(q.subject, `test s${r.session}-m${r.index}`);
    assert.equal(q.bodyHash, bodyHash(testMessage(r.session, r.index).body), `body of ${id} intact`);
  }
  // One process serves many sessions: far fewer smtpd processes than sessions were logged.
  const pids = new Set([...inst.log().matchAll(/postfix\/smtpd\[(\d+)\]: connect from/g)].map((m) => m[1]));
  assert.ok(pids.size >= 1 && pids.size < SESSIONS / 2, `smtpd processes: ${pids.size}`);
});
