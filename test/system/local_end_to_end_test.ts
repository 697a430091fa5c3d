/*
 * local_end_to_end_test - sendmail -> pickup -> cleanup -> qmgr -> local(8) under master
 *
 * A whole Postern instance (MAIL_OUT_SERVICES, local as "local unix - n
 * n - - local") delivers a message for an alias of the "nobody" account
 * to its mbox in the instance's mail spool and bounces an unknown user:
 * Postfix's log lines from postfix/local, the mbox read by Python's
 * mailbox module, and the non-delivery notification at the relay sink.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { commandPath, runProgram, srcPath } from '../lib/paths.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { waitFor } from '../lib/proc.js';
import { queuedCount, startMailOut } from './mail_out_lib.js';

let sink: SmtpSink;
let inst: PosternInstance;

before(async () => {
  sink = await startSmtpSink();
  inst = await startMailOut(
    'postern-local-e2e-',
    sink.address,
    {
      // As in Postfix, an alias value without a domain gets $myorigin (= $myhostname): it must be local too.
      mydestination: '$myhostname, local.test',
      alias_maps: 'texthash:${root}/aliases',
      mail_spool_directory: '${root}/spool',
      mailbox_delivery_lock: 'dotlock',
      local_recipient_maps: '',
    },
    { aliases: 'team nobody\n' },
  );
  // Deliveries run as nobody: the spool must be reachable and world-writable (sticky), as /var/mail-style spools are.
  chmodSync(inst.root, 0o755);
  mkdirSync(join(inst.root, 'spool'));
  chmodSync(join(inst.root, 'spool'), 0o1777);
});

after(async () => {
  await inst?.cleanup();
  await sink?.stop();
});

test('an alias is delivered to an mbox, an unknown user bounces', { timeout: 60_000 }, async () => {
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  const r = await runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, '-f', 'a@example.com', 'team@local.test', 'nosuch@local.test'], {
    input: 'Subject: local e2e\n\nFrom the body\n',
    env,
    timeoutMs: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  await inst.waitLog(/postfix\/local\[\d+\]: \w+: to=<nobody@[^>]+>, orig_to=<team@local\.test>, relay=local, delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, status=sent \(delivered to mailbox\)/, 30_000);
  await inst.waitLog(/postfix\/local\[\d+\]: \w+: to=<nosuch@local\.test>, relay=local, delay=[\d.]+, delays=[\d./]+, dsn=5\.1\.1, status=bounced \(unknown user: "nosuch"\)/, 30_000);
  const out = execFileSync('/usr/bin/python3', [srcPath('src', 'local', 'testdata', 'read_mailbox.py'), 'mbox', join(inst.root, 'spool', 'nobody')], { encoding: 'utf8' });
  const msgs = JSON.parse(out) as Array<{ return_path: string; x_original_to: string; delivered_to: string[]; subject: string; body: string }>;
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.return_path, '<a@example.com>');
  assert.equal(msgs[0]!.x_original_to, 'team@local.test');
  assert.deepEqual(msgs[0]!.delivered_to, ['team@local.test']);
  assert.equal(msgs[0]!.subject, 'local e2e');
  assert.equal(msgs[0]!.body, '>From the body\n');
  const got = await sink.waitForMessages(1, 30_000);
  assert.match(got[0]!.content, /^Final-Recipient: rfc822; nosuch@local\.test$/m);
  assert.match(got[0]!.content, /unknown user: "nosuch"/);
  await waitFor('the queue to empty', () => queuedCount(inst.queueDir) === 0, 15_000);
});
