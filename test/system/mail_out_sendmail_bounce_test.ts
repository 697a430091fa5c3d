/*
 * mail_out_sendmail_bounce_test - mail from sendmail that cleanup refuses
 * is bounced by cleanup itself (Postfix cleanup_bounce), because no SMTP
 * client is there to hear the refusal.
 *
 * A message submitted with Postern's sendmail matches a header_checks
 * REJECT rule: the maildrop file must go away, cleanup must log the
 * recipient as bounced (relay=none) with the rule's text, and one
 * delivery status notification with the same text must reach the
 * sender through the relay (Postfix's smtp-sink).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { commandPath, runProgram } from '../lib/paths.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { waitFor } from '../lib/proc.js';
import { logLines, queuedCount, startMailOut } from './mail_out_lib.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

let sink: SmtpSink;
let inst: PosternInstance;

before(async () => {
  sink = await startSmtpSink();
  inst = await startMailOut(
    'postern-sendbounce-',
    sink.address,
    { header_checks: 'regexp:${root}/header_checks' },
    { header_checks: '/^Subject: forbidden/ REJECT 5.7.1 no forbidden subjects here\n' },
  );
});

after(async () => {
  await inst?.cleanup();
  await sink?.stop();
});

test('a refused sendmail message bounces to its sender', { timeout: 60_000 }, async () => {
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  const r = await runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, '-f', 'a@example.com', 'b@example.net'], {
    input: 'Subject: forbidden fruit\n\nbody\n',
    env,
    timeoutMs: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  await inst.waitLog(/postfix\/cleanup\[\d+\]: \w+: to=<b@example\.net>, relay=none, delay=[\d.]+, delays=[\d./]+, dsn=5\.7\.1, status=bounced \(no forbidden subjects here\)/, 30_000);
  const got = await sink.waitForMessages(1, 30_000);
  assert.equal(got.length, 1);
  assert.match(got[0].mailArgs, /^<>/);
  assert.deepEqual(got[0].rcptArgs.map((x) => x.replace(/ .*/, '')), ['<a@example.com>']);
  assert.match(got[0].content, /^Final-Recipient: rfc822; b@example\.net$/m);
  assert.match(got[0].content, /^Status: 5\.7\.1$/m);
  assert.match(got[0].content, /no forbidden subjects here/);
  await waitFor('maildrop to be empty', () => readdirSync(join(inst.queueDir, 'maildrop')).length === 0, 10_000);
  await waitFor('the queue to empty', () => queuedCount(inst.queueDir) === 0, 10_000);
  assert.equal(logLines(inst, 'bounce', /sender non-delivery notification: \w+/).length, 1);
});
