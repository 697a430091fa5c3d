/*
 * pickup_master_test - local submission and QMQP under a real Postern master
 *
 * What it does: runs a Postern instance (master with pickup, cleanup,
 * trivial-rewrite, postlogd and qmqpd on a loopback port) and checks
 * the whole paths: sendmail -> postdrop -> maildrop -> the pickup wakeup
 * -> pickup (as a trigger server under master) -> cleanup -> incoming,
 * with pickup's log line; and a QMQP client (netstrings written here)
 * -> qmqpd (a single server under master) -> cleanup -> incoming, with
 * the 'K' reply naming the queue file.
 *
 * What it does not do: compare with Postfix (test/oracle/pickup_* and
 * qmqpd_* do) or deliver (no qmgr).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commandPath, runProgram } from '../lib/paths.js';
import { PosternInstance } from '../lib/instance.js';
import { waitUntil } from '../lib/temp_dir.js';

const WAIT_MS = 15_000;
let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-pickup-master-',
    ports: ['qmqp'],
    masterLines: [
      '127.0.0.1:${port:qmqp} inet n - n - - qmqpd',
      'pickup unix n - n 60 1 pickup',
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
    main: { myhostname: 'pickup.example', mydestination: '', qmqpd_authorized_clients: '127.0.0.1', qmqpd_error_delay: '0s' },
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

test('sendmail -> postdrop -> pickup -> cleanup under master', async () => {
  const env = { ...process.env };
  delete env.MAIL_CONFIG;
  const r = await runProgram(process.execPath, [commandPath('sendmail'), '-C', inst.confDir, '-f', 'local@pickup.example', 'rcpt@example.com'], {
    input: 'Subject: from sendmail\n\nbody\n',
    env,
    timeoutMs: WAIT_MS,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'postdrop reached pickup without complaint');
  await inst.waitLog(/postfix\/pickup\[\d+\]: [0-9A-F]+: uid=\d+ from=<local@pickup\.example>/);
  // pickup removes the maildrop file only after cleanup said the queue file is safe.
  assert.ok(await waitUntil(() => readdirSync(join(inst.queueDir, 'maildrop')).length === 0, WAIT_MS), 'maildrop file removed');
  const incoming = readdirSync(join(inst.queueDir, 'incoming'));
  assert.equal(incoming.length, 1);
  assert.equal(statSync(join(inst.queueDir, 'incoming', incoming[0]!)).mode & 0o777, 0o700);
});

function ns(data: string): Buffer {
  const b = Buffer.from(data, 'latin1');
  return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from(',')]);
}

test('QMQP -> qmqpd -> cleanup under master', async () => {
  const request = ns(Buffer.concat([ns('Subject: by qmqp\n\nbody\n'), ns('q@x.example'), ns('r@y.example')]).toString('latin1'));
  const [host, port] = inst.address('qmqp').split(':');
  const reply = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(Number(port), host, () => s.write(request));
    s.setTimeout(WAIT_MS, () => s.destroy(new Error('reply timeout')));
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
  const m = /^\d+:KOk: queued as ([0-9A-F]+),$/.exec(reply);
  assert.ok(m, reply);
  assert.ok(await waitUntil(() => existsSync(join(inst.queueDir, 'incoming', m[1]!)), WAIT_MS));
  await inst.waitLog(new RegExp(`postfix/qmqpd\\[\\d+\\]: ${m[1]}: client=localhost\\[127\\.0\\.0\\.1\\]`));
});
