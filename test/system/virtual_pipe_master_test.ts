/*
 * virtual_pipe_master_test - virtual(8) and pipe(8) as master runs them
 *
 * A Postern instance runs postlogd, virtual and a pipe transport whose
 * master.cf entry uses `{ ... }` grouping for a program text with
 * spaces (no qmgr: this test plays qmgr). For queue files Postern wrote
 * in active/, deliverRequestCall() hands each agent a request over its
 * private/<service> socket: the agents must start under master through
 * deliveryAgentMain(), read their master.cf arguments and main.cf, run
 * the command as user= / store the Maildir as the mapped uid, log
 * Postfix's lines to the maillog and cross the recipients off.
 */
import assert from 'node:assert/strict';
import { chownSync, chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PosternInstance } from '../lib/instance.js';
import { DEL_STAT, deliverRequestCall, emptyDeliverRequest } from '../../src/global/deliver_request.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { writeQueueFile } from '../../src/global/queue_file_write.js';
import { getpwnam } from '../../src/util/pwd_lookup.js';

const NOBODY = getpwnam('nobody');
const RECORD = 'import sys, os, json; data = sys.stdin.read(); open(sys.argv[1], "w").write(json.dumps({"argv": sys.argv[2:], "uid": os.getuid(), "stdin": data}))';

let inst: PosternInstance;

before(async () => {
  assert.ok(NOBODY, 'the nobody account must exist');
  inst = await PosternInstance.create({
    prefix: 'virtual-pipe-master-',
    masterLines: [
      'postlog unix-dgram n - n - 1 postlogd',
      'virtual unix - n n - - virtual',
      `mypipe unix - n n - - pipe flags=R user=nobody argv=/usr/bin/python3 -c { ${RECORD} } \${root}/out/rec.json -- \${recipient}`,
    ],
    main: {
      virtual_mailbox_base: '${root}/vmail',
      virtual_mailbox_maps: 'inline:{ box@vdom.test=box/ }',
      virtual_uid_maps: `static:${NOBODY.uid}`,
      virtual_gid_maps: `static:${NOBODY.gid}`,
    },
  });
  for (const d of ['vmail', 'out']) {
    mkdirSync(join(inst.root, d));
    chmodSync(join(inst.root, d), 0o755);
    chownSync(join(inst.root, d), NOBODY.uid, NOBODY.gid);
  }
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

async function deliver(service: string, addresses: string[]) {
  mkdirSync(join(inst.queueDir, 'active'), { recursive: true });
  const { path, queueId } = await writeQueueFile(
    { queueDir: inst.queueDir, queueName: 'active', longQueueIds: false, hashDepth: 1, hashQueues: ['deferred', 'defer'] },
    { sender: 'sender@example.org', recipients: addresses.map((address) => ({ address })), lines: ['Subject: under master', '', 'body'] },
  );
  const qf = readQueueFile(path);
  assert.ok(qf.ok);
  const req = emptyDeliverRequest({
    queueName: 'active',
    queueId,
    dataOffset: qf.file.contentOffset,
    dataSize: qf.file.size?.contentSize ?? 0,
    nexthop: 'vdom.test',
    sender: 'sender@example.org',
    recipients: qf.file.recipients.map((r) => ({ origAddress: r.address, address: r.address, offset: r.offset, dsnOrcpt: '', dsnNotify: 0 })),
  });
  req.msgStats.incomingArrival = Date.now() - 1000;
  req.msgStats.activeArrival = Date.now() - 500;
  const r = await deliverRequestCall(join(inst.queueDir, 'private', service), req, { timeoutMs: 20_000 });
  assert.ok(r.ok, r.ok ? '' : `${r.message}\n${inst.log()}`);
  return { reply: r.reply, queueId, path };
}

test('virtual under master: Maildir owned by the mapped uid, logged, crossed off', async () => {
  const { reply, queueId, path } = await deliver('virtual', ['box@vdom.test']);
  assert.deepEqual(reply, { status: DEL_STAT.OK, hop: null });
  await inst.waitLog(new RegExp(`postfix/virtual\\[\\d+\\]: ${queueId}: to=<box@vdom\\.test>, relay=virtual, delay=[\\d.]+, delays=[\\d./]+, dsn=2\\.0\\.0, status=sent \\(delivered to maildir\\)`));
  const newDir = join(inst.root, 'vmail', 'box', 'new');
  const files = readdirSync(newDir);
  assert.equal(files.length, 1);
  assert.equal(statSync(join(newDir, files[0]!)).uid, NOBODY!.uid);
  assert.match(readFileSync(join(newDir, files[0]!), 'utf8'), /^Return-Path: <sender@example\.org>\nX-Original-To: box@vdom\.test\nDelivered-To: box@vdom\.test\nSubject: under master\n\nbody\n$/);
  const r = readQueueFile(path);
  assert.ok(r.ok);
  assert.deepEqual(r.file.recipients.map((x) => x.done), [true]);
});

test('pipe under master: braced argv, hostile recipients verbatim, runs as user=, crossed off', async () => {
  const pwned = join(inst.root, 'pwned');
  const rcpts = ['-rf@vdom.test', `$(touch ${pwned})@vdom.test`];
  const { reply, queueId, path } = await deliver('mypipe', rcpts);
  assert.deepEqual(reply, { status: DEL_STAT.OK, hop: null });
  await inst.waitLog(new RegExp(`postfix/pipe\\[\\d+\\]: ${queueId}: to=<"\\$\\(touch [^)]+\\)"@vdom\\.test>, relay=mypipe, .*status=sent \\(delivered via mypipe service\\)`));
  assert.equal(existsSync(pwned), false, 'nothing in an address is ever run');
  const rec = JSON.parse(readFileSync(join(inst.root, 'out', 'rec.json'), 'utf8')) as { argv: string[]; uid: number; stdin: string };
  assert.deepEqual(rec.argv, ['--', ...rcpts]);
  assert.equal(rec.uid, NOBODY!.uid);
  assert.equal(rec.stdin, 'Return-Path: <sender@example.org>\nSubject: under master\n\nbody\n');
  const r = readQueueFile(path);
  assert.ok(r.ok);
  assert.deepEqual(r.file.recipients.map((x) => x.done), [true, true]);
});
