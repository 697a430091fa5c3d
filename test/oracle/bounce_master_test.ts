/*
 * bounce_master_test - bounce(8) running under Postern's master as the bounce, defer and trace services
 *
 * What it does: starts a Postern instance whose master.cf has cleanup,
 * trivial-rewrite, postlogd and the three services "bounce", "defer" and
 * "trace" (program bounce, as Postfix's master.cf), submits a message to
 * cleanup over its socket, and drives the services over their sockets
 * with bounce_clnt: an APPEND to each service lands in
 * queue/<service>/<id>; FLUSH on bounce posts a notification and logs
 * "postfix/bounce[pid]: ID: sender non-delivery notification: NEWID";
 * TRACE posts the success notice and logs "sender delivery status
 * notification"; the logs are removed; the notifications are in
 * incoming from <>. All three log as postfix/bounce, as Postfix's do.
 *
 * What it does not do: run qmgr or deliver the notifications.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bounceFlush, bounceLogAppend, traceFlush } from '../../src/global/bounce_clnt.js';
import { cleanupOpen } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_FLAG } from '../../src/global/cleanup_user.js';
import { DSN_NOTIFY, dsnMake } from '../../src/global/dsn.js';
import { mailDate } from '../../src/global/mail_date.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { PosternInstance } from '../lib/instance.js';

let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-bounce-master-',
    main: { myhostname: 'master.example', mydestination: '', notify_classes: 'resource, software' },
    masterLines: [
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
      'bounce unix - - n - 0 bounce',
      'defer unix - - n - 0 bounce',
      'trace unix - - n - 0 bounce',
    ],
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

async function submit(rcpts: string[]): Promise<string> {
  const r = await cleanupOpen({ queueDir: inst.queueDir, flags: CLEANUP_FLAG.MASK_EXTERNAL, timeoutMs: 10_000 });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  const s = r.session;
  s.record(REC_TYPE.TIME, `${Math.floor(Date.now() / 1000)} 0`);
  s.record(REC_TYPE.FROM, 'sender@example.net');
  for (const rc of rcpts) s.record(REC_TYPE.RCPT, rc);
  s.record(REC_TYPE.MESG, '');
  for (const l of ['Received: by master.example (Postern, from userid 0)', `\tid ${s.queueId}; ${mailDate(Math.floor(Date.now() / 1000))}`, 'Subject: hi', '', 'body']) s.record(REC_TYPE.NORM, l);
  s.record(REC_TYPE.XTRA, '');
  const reply = await s.end();
  assert.equal(reply.status, 0, reply.reason);
  return s.queueId;
}

test('the bounce, defer and trace services append, notify and log as Postfix under master', { timeout: 50_000 }, async () => {
  const opts = { queueDir: inst.queueDir, timeoutMs: 30_000 };
  const id = await submit(['a@example.com', 'b@example.com']);
  const rcpt = (address: string, dsnNotify = 0) => ({ origAddress: address, address, offset: 0, dsnOrcpt: '', dsnNotify });
  assert.equal(await bounceLogAppend(opts, 'bounce', 0, id, rcpt('a@example.com'), dsnMake('5.1.1', 'no such user', { action: 'failed' })), 0, inst.log());
  assert.equal(await bounceLogAppend(opts, 'defer', 0, id, rcpt('b@example.com'), dsnMake('4.4.1', 'connection refused', { action: 'delayed' })), 0);
  assert.equal(await bounceLogAppend(opts, 'trace', 0, id, rcpt('b@example.com', DSN_NOTIFY.SUCCESS), dsnMake('2.0.0', 'delivered', { action: 'delivered' })), 0);
  assert.ok(existsSync(join(inst.queueDir, 'bounce', id)));
  assert.ok(existsSync(join(inst.queueDir, 'defer', id[0]!, id)), 'defer logs are hashed (hash_queue_names)');

  assert.equal(await bounceFlush(opts, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0), 0);
  const line = await inst.waitLog(new RegExp(`postfix/bounce\\[\\d+\\]: ${id}: sender non-delivery notification: (\\w+)`));
  const newId = new RegExp(`${id}: sender non-delivery notification: (\\w+)`).exec(line)![1]!;
  assert.equal(existsSync(join(inst.queueDir, 'bounce', id)), false);
  const r = readQueueFile(join(inst.queueDir, 'incoming', newId));
  assert.ok(r.ok);
  assert.equal(r.file.sender, '');
  assert.deepEqual(r.file.recipients.map((x) => x.address), ['sender@example.net']);

  assert.equal(await traceFlush(opts, 0, 'incoming', id, '', 0, 'sender@example.net', '', 0), 0);
  await inst.waitLog(new RegExp(`postfix/bounce\\[\\d+\\]: ${id}: sender delivery status notification: \\w+`));
  assert.equal(existsSync(join(inst.queueDir, 'trace', id)), false);
});
