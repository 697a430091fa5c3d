/*
 * cleanup_master_test - cleanup(8) as master runs it: "cleanup unix n - n - 0 cleanup"
 *
 * A Postern instance under master with cleanup, trivial-rewrite and
 * postlogd only (no smtpd, no qmgr). Clients connect to
 * queue_directory/public/cleanup with cleanup_clnt.ts, several at once:
 * each gets its own queue id, status 0, a complete file in incoming,
 * and the maillog has cleanup's "QUEUEID: message-id=<...>" line under
 * the program name postfix/cleanup. A rejected message (no recipients)
 * gets CLEANUP_STAT.RCPT and leaves no file.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cleanupOpen } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../src/global/cleanup_user.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { PosternInstance } from '../lib/instance.js';

let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-cleanup-master-',
    masterLines: ['cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', 'postlog unix-dgram n - n - 1 postlogd'],
    main: { myhostname: 'cleanup.example' },
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

async function submit(n: number, withRecipient: boolean) {
  const r = await cleanupOpen({ queueDir: inst.queueDir, flags: CLEANUP_FLAG.MASK_EXTERNAL, timeoutMs: 10_000 });
  if (!r.ok) assert.fail(r.reason);
  const s = r.session;
  s.record(REC_TYPE.TIME, `${Math.floor(Date.now() / 1000)} 0`);
  s.attr('rewrite_context', 'remote');
  s.record(REC_TYPE.FROM, 'sender@example.org');
  if (withRecipient) s.record(REC_TYPE.RCPT, `rcpt${n}@example.com`);
  s.record(REC_TYPE.MESG, '');
  for (const l of ['Received: by test', `Message-ID: <m${n}@example.org>`, 'Subject: hello', '', `body ${n}`]) s.record(REC_TYPE.NORM, l);
  s.record(REC_TYPE.XTRA, '');
  return { queueId: s.queueId, ...(await s.end()) };
}

test('several clients at once, each message complete in incoming and logged', async () => {
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(i, true)));
  assert.equal(new Set(results.map((r) => r.queueId)).size, results.length);
  for (const [i, r] of results.entries()) {
    assert.deepEqual({ status: r.status, reason: r.reason }, { status: 0, reason: '' });
    const path = join(inst.queueDir, 'incoming', r.queueId);
    assert.equal(statSync(path).mode & 0o777, 0o700, path);
    await inst.waitLog(new RegExp(`postfix/cleanup\\[\\d+\\]: ${r.queueId}: message-id=<m${i}@example\\.org>`));
  }
});

test('a message without recipients is refused and leaves no file', async () => {
  const r = await submit(99, false);
  assert.equal(r.status, CLEANUP_STAT.RCPT);
  assert.equal(existsSync(join(inst.queueDir, 'incoming', r.queueId)), false);
});
