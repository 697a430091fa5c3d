/*
 * postsuper_requeue_test - "postsuper -r" hands a message back to pickup, which makes a new queue file
 *
 * What it does: a deferred message written by Postern's cleanup (with a
 * defer logfile) is requeued with Postern's postsuper -r: the file moves
 * to maildrop under the same name with fresh time stamps and the logfile
 * stays (Postfix leaves logfiles to the queue manager); then Postern's
 * pickup (in this process, with Postern's cleanup on public/cleanup)
 * copies it into a new incoming file with the same sender and the
 * recipients that were not yet delivered, and empties maildrop.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { pickupScan } from '../../src/pickup/pickup.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { runCommand } from '../lib/paths.js';
import { makeTestQueue, type TestQueue } from './postqueue_queue_lib.js';

let q: TestQueue;
before(async () => {
  msgSetSinks([{ write: () => undefined }]);
  q = await makeTestQueue({}, 'postern-requeue-');
});
after(async () => {
  msgSetSinks([]);
  await q?.cleanup();
});

it('postsuper -r then pickup: a new queue file with the same envelope', async () => {
  const id = await q.submit({ sender: 'joe@example.org', recipients: ['a@example.com', 'b@example.net'] });
  q.moveTo(id, 'incoming', 'deferred');
  q.writeDeferLog(id, [{ recipient: 'a@example.com', reason: 'try again later' }]);
  q.chownToPostfix();
  const before = Date.now() / 1000 - 1;
  const r = await runCommand('postsuper', ['-c', q.oracle.confDir, '-r', id], { env: q.oracle.env, timeoutMs: 40_000 });
  assert.equal(r.stderr, `postsuper: ${id}: requeued\npostsuper: Requeued: 1 message\n`);
  assert.equal(r.status, 0);
  const dropped = join(q.oracle.queueDir, 'maildrop', id);
  assert.ok(statSync(dropped).mtimeMs / 1000 >= before);
  assert.ok(existsSync(q.path('defer', id)));
  const svc = cleanupService(q.config, { triggerQmgr: false });
  const server = createServer((s) => void svc.serve(s));
  await new Promise<void>((res) => server.listen(join(q.oracle.queueDir, 'public', 'cleanup'), () => res()));
  try {
    assert.equal(await pickupScan(q.config), 1);
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
  }
  assert.deepEqual(readdirSync(join(q.oracle.queueDir, 'maildrop')), []);
  const [fresh] = readdirSync(join(q.oracle.queueDir, 'incoming'));
  assert.ok(fresh && fresh !== id, `new queue file, got ${fresh}`);
  const qf = readQueueFile(join(q.oracle.queueDir, 'incoming', fresh));
  assert.ok(qf.ok, qf.ok ? '' : qf.error.message);
  assert.equal(qf.file.sender, 'joe@example.org');
  assert.deepEqual(qf.file.recipients.filter((x) => !x.done).map((x) => x.address).sort(), ['a@example.com', 'b@example.net']);
});
