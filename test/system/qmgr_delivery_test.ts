/*
 * qmgr_delivery_test - qmgr(8) under a real Postern master with the discard, error, retry and bounce services
 *
 * What it does: runs a whole Postern system (MAIL_OUT_SERVICES) whose
 * transport_maps send discard.test to discard(8), error.test to error(8)
 * and defer.test to the retry service, submits mail with sendmail, and
 * checks qmgr's behaviour from the log and the queue: a discarded message
 * is logged "from=<...>, size=N, nrcpt=N (queue active)" and "removed";
 * a bounced one gets a non-delivery notification from bounce(8) and is
 * removed; a deferred one sits in the deferred queue with its next
 * attempt time minimal_backoff_time ahead; and a file left in the active
 * queue by a dead qmgr is moved back and delivered after a restart.
 *
 * What it does not do: compare with Postfix's own qmgr (the log texts
 * asserted are Postfix's, checked against qmgr_active.c / opened.c), or
 * test concurrency scheduling (the scheduler core's tests do).
 */
import assert from 'node:assert/strict';
import { chownSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commandPath, runProgram } from '../lib/paths.js';
import { MAIL_OUT_SERVICES, PosternInstance } from '../lib/instance.js';
import { waitUntil } from '../lib/temp_dir.js';
import { writeQueueFile } from '../../src/global/queue_file_write.js';

const WAIT_MS = 15_000;
const MIN_BACKOFF = 600;
let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-qmgr-',
    ports: ['smtp'],
    masterLines: [...MAIL_OUT_SERVICES],
    main: {
      myhostname: 'qmgr.example',
      mydestination: '',
      transport_maps: 'texthash:${root}/transport',
      minimal_backoff_time: `${MIN_BACKOFF}s`,
      maximal_backoff_time: '4000s',
      queue_run_delay: '300s',
    },
    files: {
      transport: 'discard.test discard:\nerror.test error:5.1.1 no such test user\ndefer.test retry:4.4.1 test destination is down\n',
    },
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

async function sendmail(sender: string, rcpt: string): Promise<string> {
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  const r = await runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, '-f', sender, rcpt], {
    input: `Subject: qmgr test to ${rcpt}\n\nbody\n`,
    env,
    timeoutMs: WAIT_MS,
  });
  assert.equal(r.status, 0, r.stderr);
  // The queue ID of the newest message from this sender: pickup logs "ID: uid=N from=<sender>".
  const re = new RegExp(`postfix/pickup\\[\\d+\\]: ([0-9A-Za-z]+): uid=\\d+ from=<${sender.replace(/[.]/g, '\\.')}>`);
  const picked = await inst.waitLog(re, WAIT_MS);
  return re.exec(picked)![1]!;
}

function queueFiles(queue: string): string[] {
  return (readdirSync(join(inst.queueDir, queue), { recursive: true }) as string[]).filter((p) => /[0-9A-Za-z]{6,}$/.test(p) && statSync(join(inst.queueDir, queue, p)).isFile());
}

test('mail to a discard: transport is delivered and removed with Postfix log lines', async () => {
  const id = await sendmail('one@qmgr.example', 'user@discard.test');
  await inst.waitLog(new RegExp(`postfix/qmgr\\[\\d+\\]: ${id}: from=<one@qmgr\\.example>, size=\\d+, nrcpt=1 \\(queue active\\)$`), WAIT_MS);
  await inst.waitLog(new RegExp(`postfix/discard\\[\\d+\\]: ${id}: to=<user@discard\\.test>, relay=none, .*status=sent`), WAIT_MS);
  await inst.waitLog(new RegExp(`postfix/qmgr\\[\\d+\\]: ${id}: removed$`), WAIT_MS);
  assert.ok(!queueFiles('active').some((p) => p.endsWith(id)));
});

test('mail to error: bounces; the sender gets a notification and the message is removed', async () => {
  const id = await sendmail('two@discard.test', 'user@error.test');
  await inst.waitLog(new RegExp(`postfix/error\\[\\d+\\]: ${id}: to=<user@error\\.test>, relay=none, .*dsn=5\\.1\\.1, status=bounced \\(no such test user\\)`), WAIT_MS);
  await inst.waitLog(new RegExp(`postfix/bounce\\[\\d+\\]: ${id}: sender non-delivery notification: [0-9A-Za-z]+$`), WAIT_MS);
  await inst.waitLog(new RegExp(`postfix/qmgr\\[\\d+\\]: ${id}: removed$`), WAIT_MS);
});

test('a deferred message waits in the deferred queue until minimal_backoff_time has passed', async () => {
  const t0 = Math.floor(Date.now() / 1000);
  const id = await sendmail('three@qmgr.example', 'user@defer.test');
  await inst.waitLog(new RegExp(`postfix/error\\[\\d+\\]: ${id}: to=<user@defer\\.test>, relay=none, .*dsn=4\\.4\\.1, status=deferred \\(test destination is down\\)`), WAIT_MS);
  assert.ok(await waitUntil(() => queueFiles('deferred').some((p) => p.endsWith(id)), WAIT_MS), 'moved to deferred');
  const t1 = Math.ceil(Date.now() / 1000);
  const rel = queueFiles('deferred').find((p) => p.endsWith(id))!;
  const mtime = Math.floor(statSync(join(inst.queueDir, 'deferred', rel)).mtimeMs / 1000);
  assert.ok(mtime >= t0 + MIN_BACKOFF && mtime <= t1 + MIN_BACKOFF, `next attempt ${mtime - t0}s after submission`);
  assert.ok(queueFiles('defer').some((p) => p.endsWith(id)), 'defer log written');
  assert.equal(inst.countLog(new RegExp(`${id}: removed`)), 0);
});

test('a file left in the active queue is moved back and delivered after a restart', async () => {
  await inst.stop();
  const activeDir = join(inst.queueDir, 'active');
  const owner = statSync(activeDir);
  const hash = { hashDepth: 1, hashQueues: ['deferred', 'defer'] };
  const { queueId, path } = await writeQueueFile(
    { queueDir: inst.queueDir, queueName: 'active', longQueueIds: false, ...hash },
    { sender: 'four@qmgr.example', recipients: [{ address: 'left@discard.test' }], lines: ['Subject: left over', '', 'body'] },
  );
  chownSync(path, owner.uid, owner.gid);
  await inst.start();
  await inst.waitLog(new RegExp(`postfix/qmgr\\[\\d+\\]: ${queueId}: from=<four@qmgr\\.example>, size=\\d+, nrcpt=1 \\(queue active\\)$`), WAIT_MS);
  await inst.waitLog(new RegExp(`postfix/qmgr\\[\\d+\\]: ${queueId}: removed$`), WAIT_MS);
  // The deferred message of the previous test is still waiting for its time.
  assert.equal(queueFiles('deferred').length, 1);
});
