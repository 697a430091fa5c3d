/*
 * mail_in_crash_test - kill -9 of every Postern process right after a
 * "250 ... queued as ID", then a restart: every acknowledged message is
 * in incoming, complete and intact, and no message is there twice.
 *
 * Several clients send messages one after another; the moment the
 * KILL_AFTER-th acknowledgement arrives, the test SIGKILLs master and all
 * its descendants (master first, so it cannot start new workers), while
 * the other sessions are in every state of a transaction. Then it starts
 * master again on the same queue and checks the queue and that new mail
 * is taken.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { processAlive, waitFor } from '../lib/proc.js';
import { SmtpTestClient as Client } from '../lib/smtp_client.js';
import { bodyHash, incomingMessages, queuedId, testMessage, startMailIn } from './mail_in_lib.js';

const CLIENTS = 8;
const PER_CLIENT = 40;
/** Acknowledgements before the kill. */
const KILL_AFTER = 60;
const TEST_MS = 120_000;

let inst: PosternInstance;

before(async () => {
  inst = await startMailIn('postern-crash-');
});

after(async () => {
  await inst?.cleanup();
});

test('kill -9 right after 250 loses no acknowledged message and duplicates none', { timeout: TEST_MS }, async () => {
  const acked = new Map<string, { s: number; m: number }>();
  let killed: number[] | null = null;
  const runClient = async (s: number): Promise<void> => {
    const c = await Client.open(inst.ports.smtp);
    try {
      if (!(await c.send(null))?.startsWith('220')) return;
      if (!(await c.send('EHLO crash.example\r\n'))?.startsWith('250')) return;
      for (let m = 0; m < PER_CLIENT && !killed; m++) {
        if (!(await c.send('MAIL FROM:<a@example.com>\r\n'))?.startsWith('250')) return;
        if (!(await c.send('RCPT TO:<b@example.net>\r\n'))?.startsWith('250')) return;
        if (!(await c.send('DATA\r\n'))?.startsWith('354')) return;
        const body = testMessage(s, m).text.replace(/^\./gm, '..');
        const reply = await c.send(`${body}.\r\n`);
        if (!reply?.startsWith('250')) return;
        const id = queuedId(reply);
        assert.ok(id, `queue id in ${reply}`);
        acked.set(id, { s, m });
        if (acked.size === KILL_AFTER && !killed) killed = inst.killAll();
      }
    } finally {
      c.close();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, s) => runClient(s)));
  assert.ok(killed, `the kill happened (acknowledged: ${acked.size})`);
  const victims = killed as number[];
  await waitFor('killed processes to be gone', () => victims.every((p) => !processAlive(p)), 10_000);

  // Restart on the same queue; the old master's lock and sockets must not stop it.
  await inst.start();

  const queued = incomingMessages(inst.queueDir);
  const complete = queued.filter((q) => q.complete);
  const seen = new Map<string, string>();
  for (const q of complete) {
    const key = `${q.subject}`;
    assert.ok(!seen.has(key), `${key} queued twice: ${seen.get(key)} and ${q.queueId}`);
    seen.set(key, q.queueId);
  }
  const byId = new Map(complete.map((q) => [q.queueId, q]));
  for (const [id, { s, m }] of acked) {
    const q = byId.get(id);
    assert.ok(q, `acknowledged message ${id} (s${s}-m${m}) is in incoming and complete`);
    assert.equal(q.subject, `test s${s}-m${m}`);
    assert.equal(q.bodyHash, bodyHash(testMessage(s, m).body), `body of ${id} intact`);
  }

  // The restarted system takes mail again.
  const c = await Client.open(inst.ports.smtp);
  try {
    assert.match((await c.send(null)) ?? '', /^220 /);
    assert.match((await c.send('HELO again.example\r\n')) ?? '', /^250 /);
    assert.match((await c.send('MAIL FROM:<a@example.com>\r\n')) ?? '', /^250 /);
    assert.match((await c.send('RCPT TO:<b@example.net>\r\n')) ?? '', /^250 /);
    assert.match((await c.send('DATA\r\n')) ?? '', /^354 /);
    assert.match((await c.send('Subject: after\r\n\r\nbody\r\n.\r\n')) ?? '', /^250 2\.0\.0 Ok: queued as /);
    assert.match((await c.send('QUIT\r\n')) ?? '', /^221 /);
  } finally {
    c.close();
  }
});
