/*
 * smtpd_master_test - Postern's smtpd under master with the real cleanup, against real clients
 *
 * What it does: starts a Postern instance (master, smtpd on a picked
 * loopback port, cleanup, trivial-rewrite, postlogd; no qmgr, so mail
 * stays in the incoming queue) and a throwaway real Postfix with the same
 * main.cf settings. Then:
 *  - swaks sends one message to each (pipelined);
 *    both accept it with "250 2.0.0 Ok: queued as ID", the queue file
 *    exists, and the real postcat shows the same envelope attributes
 *    smtpd sent and the same Received: header on both (up to queue ids,
 *    ports and times);
 *  - Python smtplib sends a message with two recipients; both answer the
 *    same, and the Received: header has the several-recipients form;
 *  - the log has Postfix's "connect from", "ID: client=" and
 *    "disconnect from ... ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5".
 *
 * What it does not do: delivery, or the 50x20 and kill -9 tests (the
 * lead's test/system/mail_in_*).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PosternInstance } from '../lib/instance.js';
import { runSmtplib, runSwaks } from '../lib/peers.js';
import { makeOracleConfig, ORACLE_SMTPD_BASE, POSTFIX_PROGRAMS, type OracleConfig } from '../lib/postfix_oracle.js';
import { runProgram } from '../lib/paths.js';
import { freePort } from '../lib/proc.js';

const MAIN: Record<string, string> = {
  ...ORACLE_SMTPD_BASE,
  smtpd_peername_lookup: 'no',
};

let inst: PosternInstance;
let oracle: OracleConfig;
let oraclePort = 0;

before(async () => {
  oraclePort = await freePort();
  inst = await PosternInstance.create({
    prefix: 'postern-smtpd-sys-',
    main: MAIN,
    ports: ['smtp'],
    masterLines: [
      '127.0.0.1:${port:smtp} inet n - n - - smtpd',
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  oracle = makeOracleConfig({
    prefix: 'postern-smtpd-sys-oracle-',
    ownedDirs: ['data'],
    main: MAIN,
    master: [
      `127.0.0.1:${oraclePort} inet n - n - - smtpd`,
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'anvil unix - - n - 1 anvil',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  await Promise.all([inst.start(), oracle.start()]);
});

after(async () => {
  await inst?.cleanup();
  await oracle?.cleanup();
});

/** The real postcat of incoming/ID under a queue directory. */
async function postcat(queueDir: string, id: string): Promise<string> {
  const file = join(queueDir, 'incoming', id);
  assert.ok(existsSync(file), `no queue file ${file}`);
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', oracle.confDir, '-v', file]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** postcat output with queue ids, ports, times and sizes made comparable. */
function normalize(text: string, id: string): string[] {
  return text
    .split('\n')
    .filter((l) => !/^(\*\*\*|message_size|message_arrival_time|create_time|postcat: )/.test(l) && !/^named_attribute: (log_ident)=/.test(l))
    .map((l) =>
      l
        .replaceAll(id, 'QUEUEID')
        .replace(/(client_port|server_port)=\d+/, '$1=N')
        .replace(/\d\d? \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/, 'DATE')
        .replace(/^(regular_text: Message-Id: <)\d+\./, '$1TIME.'),
    );
}

function queuedId(replies: string[]): string {
  const last = replies.find((l) => /^250 2\.0\.0 Ok: queued as /.test(l));
  assert.ok(last, replies.join('\n'));
  return last.replace(/^250 2\.0\.0 Ok: queued as /, '').trim();
}

const ENVELOPE = /^(sender|recipient|original_recipient|named_attribute: (rewrite_context|envelope_id|ret_flags|log_client_name|log_client_address|log_message_origin|log_helo_name|log_protocol_name|client_name|reverse_client_name|client_address|helo_name|protocol_name|client_address_type|notify_flags|dsn_orig_rcpt|encoding))/;

describe('smtpd under master with the real cleanup', () => {
  it('takes a pipelined swaks message into the incoming queue like Postfix', async () => {
    const opts = {
      from: 'sender@example.com',
      to: 'rcpt@example.net',
      ehlo: 'client.example',
      pipeline: true,
      data: 'Subject: swaks test\r\nMessage-Id: <fixed@example.com>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nFrom: sender@example.com\r\nTo: rcpt@example.net\r\n\r\nhello\r\n.\r\n',
    };
    const [ours, real] = await Promise.all([runSwaks({ ...opts, server: inst.address('smtp') }), runSwaks({ ...opts, server: `127.0.0.1:${oraclePort}` })]);
    assert.equal(ours.status, 0, ours.stdout + ours.stderr + inst.log());
    assert.equal(real.status, 0, real.stdout + real.stderr);
    assert.deepEqual(
      ours.replies.map((l) => l.replace(/queued as \w+/, 'queued as ID')),
      real.replies.map((l) => l.replace(/queued as \w+/, 'queued as ID')),
    );
    const oid = queuedId(ours.replies);
    const rid = queuedId(real.replies);
    const a = normalize(await postcat(inst.queueDir, oid), oid);
    const b = normalize(await postcat(oracle.queueDir, rid), rid);
    assert.deepEqual(a.filter((l) => ENVELOPE.test(l)), b.filter((l) => ENVELOPE.test(l)));
    const received = (lines: string[]): string[] => lines.filter((l) => /^regular_text: (Received:|\t)/.test(l)).slice(0, 3);
    assert.deepEqual(received(a), received(b));
    assert.match(received(a)[1]!, /^regular_text: \tby oracle\.example \(Postfix\) with ESMTP id QUEUEID$/);
    await inst.waitLog(new RegExp(`postfix/smtpd\\[\\d+\\]: ${oid}: client=unknown\\[127\\.0\\.0\\.1\\]`));
    await inst.waitLog(/postfix\/smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5$/m);
  });

  it('answers Python smtplib like Postfix, with the several-recipients Received: form', async () => {
    const msg = 'Subject: smtplib\r\nFrom: a@example.com\r\n\r\nline 1\r\n.dot line\r\n';
    const opts = { from: 'a@example.com', to: ['b@example.net', 'c@example.net'], message: msg, ehlo: 'py.example' };
    const [ours, real] = await Promise.all([runSmtplib({ ...opts, port: inst.ports.smtp! }), runSmtplib({ ...opts, port: oraclePort })]);
    assert.equal(ours.ok, true, JSON.stringify(ours) + inst.log());
    assert.deepEqual({ ...ours }, { ...real });
    await inst.waitLog(/disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6/);
    const log = inst.log();
    const ids = [...log.matchAll(/postfix\/smtpd\[\d+\]: (\w+): client=/g)].map((m) => m[1]!);
    const id = ids[ids.length - 1]!;
    const a = normalize(await postcat(inst.queueDir, id), id);
    const rec = a.filter((l) => /^regular_text: (Received:|\t)/.test(l)).slice(0, 3);
    assert.deepEqual(rec, [
      'regular_text: Received: from py.example (unknown [127.0.0.1])',
      'regular_text: \tby oracle.example (Postfix) with ESMTP id QUEUEID;',
      'regular_text: \tSat, DATE'.replace('Sat', rec[2]?.slice(15, 18) ?? ''),
    ]);
    assert.ok(a.includes('regular_text: .dot line'), a.join('\n'));
  });
});
