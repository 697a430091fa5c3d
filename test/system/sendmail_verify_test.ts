/*
 * sendmail_verify_test - sendmail -bv: a delivery report, no delivery
 *
 * What it does: under the real Postern master with qmgr, local(8) and the
 * bounce/trace services, `sendmail -bv team@local.test` (an alias of a
 * mailbox user) makes local(8) log "status=deliverable (delivers to
 * mailbox)" instead of delivering, and the sender's mailbox receives
 * Postfix's "Mail Delivery Status Report" naming the final address and
 * the expansion; the probe itself is never written to the mailbox. A
 * recipient with no mailbox gets the report's failure text.
 *
 * What it does not do: compare the report with Postfix's byte for byte
 * (bounce_test and the DSN oracle tests cover the report formats).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { commandPath, runProgram } from '../lib/paths.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { waitFor } from '../lib/proc.js';
import { createLocalAliasInstance } from './mail_out_lib.js';

let sink: SmtpSink;
let inst: PosternInstance;

function sendmail(args: string[]): ReturnType<typeof runProgram> {
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  return runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, ...args], { env, timeoutMs: 20_000 });
}

before(async () => {
  sink = await startSmtpSink();
  inst = await createLocalAliasInstance('postern-sendmail-bv-', sink.address, 'team: nobody\n');
  const r = await sendmail(['-bi']);
  assert.equal(r.status, 0, r.stderr);
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
  await sink?.stop();
});

test('sendmail -bv reports what local(8) would do and delivers nothing', { timeout: 90_000 }, async () => {
  const r = await sendmail(['-f', 'nobody@local.test', '-bv', 'team@local.test', 'nosuchuser@local.test']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'Mail Delivery Status Report will be mailed to <nobody@local.test>.\n');
  await inst.waitLog(/postfix\/local\[\d+\]: \w+: to=<nobody@[^>]+>, orig_to=<team@local\.test>, relay=local, .*status=deliverable \(delivers to mailbox\)/, 30_000);
  const mbox = join(inst.root, 'spool', 'nobody');
  const text = await waitFor('the report in the sender\'s mailbox', () => (existsSync(mbox) && /Mail Delivery Status Report/.test(readFileSync(mbox, 'latin1')) ? readFileSync(mbox, 'latin1') : null), 30_000);
  assert.match(text, /^Subject: Mail Delivery Status Report$/m);
  assert.match(text, /<nobody@[^>]+> \(expanded from <team@local\.test>\): delivery via local:\s+delivers to mailbox/);
  assert.match(text, /<nosuchuser@local\.test>: delivery via local: unknown user: "nosuchuser"/);
  assert.match(text, /^Action: deliverable$/m);
  assert.match(text, /^Action: undeliverable$/m);
  // Only the report arrived: the probe was not delivered.
  assert.equal(text.match(/^From /gm)?.length, 1, text);
});
