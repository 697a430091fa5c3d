/*
 * tables_aliases_test - an indexed alias table under master: built by newaliases, rebuilt while running
 *
 * A whole Postern instance whose main.cf names its aliases the way
 * existing Postfix installations do (alias_maps = alias_database =
 * hash:ROOT/aliases; Postern stores hash: tables as lmdb:). Postern's
 * `sendmail -bi` (newaliases) builds the table before master starts;
 * local(8) delivers an alias through it; the aliases file is edited and
 * the table rebuilt with newaliases while the mail system runs, and the
 * next message follows the new entry without a restart or reload (as
 * Postfix daemons notice a rebuilt table).
 *
 * What it does not do: compare the table with Postfix's (the postalias
 * and lmdb oracle tests do).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PosternInstance } from '../lib/instance.js';
import { commandPath, runProgram } from '../lib/paths.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { waitFor } from '../lib/proc.js';
import { createLocalAliasInstance, queuedCount } from './mail_out_lib.js';

let sink: SmtpSink;
let inst: PosternInstance;

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  return env;
}

async function newaliases(): Promise<void> {
  const r = await runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, '-bi'], { env: cleanEnv(), timeoutMs: 20_000 });
  assert.equal(r.status, 0, `newaliases: ${r.stderr}`);
}

async function send(subject: string, rcpt: string): Promise<void> {
  const r = await runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, '-f', 'a@example.com', rcpt], {
    input: `Subject: ${subject}\n\nbody\n`,
    env: cleanEnv(),
    timeoutMs: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
}

before(async () => {
  sink = await startSmtpSink();
  inst = await createLocalAliasInstance('postern-tables-aliases-', sink.address, '# test aliases\nteam: nobody\n');
  await newaliases();
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
  await sink?.stop();
});

test('newaliases builds the hash: (lmdb) table; local follows a rebuild without a restart', { timeout: 90_000 }, async () => {
  await send('first', 'team@local.test');
  await inst.waitLog(/postfix\/local\[\d+\]: \w+: to=<nobody@[^>]+>, orig_to=<team@local\.test>, relay=local, .*status=sent \(delivered to mailbox\)/, 30_000);

  writeFileSync(join(inst.root, 'aliases'), '# test aliases, edited\nteam: nosuch-after-rebuild\n');
  await newaliases();
  await send('second', 'team@local.test');
  await inst.waitLog(/postfix\/local\[\d+\]: \w+: to=<nosuch-after-rebuild@[^>]+>, orig_to=<team@local\.test>, relay=local, .*status=bounced \(unknown user: "nosuch-after-rebuild"\)/, 30_000);
  await waitFor('the queue to empty', () => queuedCount(inst.queueDir) === 0, 20_000);
  // The compatibility warning for hash: appears, and no table error does.
  assert.match(inst.log(), /warning: hash:.*aliases/);
  assert.doesNotMatch(inst.log(), /is unavailable|lookup error/);
});
