/*
 * lmtp_dovecot_test - lmtp(8) delivering to a real Dovecot LMTP server over a UNIX socket and over TCP
 *
 * What it does: starts Dovecot (dovecot -F -c <temp config>, its own
 * base_dir, an LMTP listener on a UNIX socket and on a loopback port,
 * Maildirs under a temp dir, a passwd-file userdb where bob has a tiny
 * quota) and delivers one message to alice, bob and an unknown user:
 * the unknown user is refused at RCPT TO (bounced, "in reply to RCPT TO
 * command"), bob's quota failure comes as his own reply after DATA
 * (bounced "in reply to end of DATA command"), alice's Maildir holds the
 * message. Over TCP (next-hop inet:127.0.0.1:port) alice gets a second
 * message. Log lines show relay=myhostname[/path] and
 * relay=127.0.0.1[127.0.0.1]:port as Postfix's lmtp.
 *
 * What it does not do: Dovecot's own delivery features (sieve, detail
 * mailboxes).
 *
 * DIAGNOSTICS
 * Fails with Dovecot's log when it does not start or a check fails.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BOUNCE_CMD } from '../../src/global/bounce_clnt.js';
import { DEL_REQ_FLAG, DEL_STAT } from '../../src/global/deliver_request.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { freePort, portAccepts, waitFor } from '../lib/proc.js';
import { makeSmtpHarness, type SmtpHarness } from './smtp_harness.js';

const DOVECOT = '/usr/sbin/dovecot';

function dovecotConf(d: string, port: number): string {
  return `base_dir = ${d}/run
state_dir = ${d}/state
log_path = ${d}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:${d}/mail/%n/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 0
mail_plugins = quota
plugin {
  quota = maildir:User quota
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n ${d}/users
}
userdb {
  driver = passwd-file
  args = username_format=%n ${d}/users
  default_fields = uid=nobody gid=nogroup home=${d}/mail/%n
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
}
`;
}

function maildirNew(d: string, user: string): string[] {
  const dir = join(d, 'mail', user, 'Maildir', 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(join(dir, f), 'latin1')) : [];
}

describe('lmtp to Dovecot', () => {
  let h: SmtpHarness;
  let dovecot: ChildProcess;
  let exited: Promise<void>;
  let d: string;
  let port: number;
  before(async () => {
    h = makeSmtpHarness({ lmtp_connect_timeout: '5s' });
    d = join(h.dir, 'dovecot');
    for (const sub of ['run', 'state', 'mail']) mkdirSync(join(d, sub), { recursive: true });
    chmodSync(h.dir, 0o755);
    chmodSync(d, 0o755);
    chmodSync(join(d, 'mail'), 0o777);
    writeFileSync(join(d, 'users'), 'alice:{PLAIN}x::::::\nbob:{PLAIN}x::::::userdb_quota_rule=*:storage=10B\n');
    port = await freePort();
    writeFileSync(join(d, 'dovecot.conf'), dovecotConf(d, port));
    dovecot = spawn(DOVECOT, ['-F', '-c', join(d, 'dovecot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    dovecot.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    exited = new Promise<void>((r) => dovecot.once('exit', () => r()));
    await waitFor('dovecot lmtp', async () => dovecot.exitCode === null && existsSync(join(d, 'run', 'lmtp')) && (await portAccepts(port)), 15_000).catch((err: Error) => {
      dovecot.kill('SIGKILL');
      const log = existsSync(join(d, 'dovecot.log')) ? readFileSync(join(d, 'dovecot.log'), 'utf8') : '';
      throw new Error(`${err.message}: ${stderr} ${log}`);
    });
  });
  after(async () => {
    if (dovecot.exitCode === null && dovecot.signalCode === null) {
      dovecot.kill('SIGTERM');
      const t = setTimeout(() => dovecot.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    h.close();
  });

  test('unix socket: per-recipient results at RCPT and after DATA, Maildir written', async () => {
    const sock = join(d, 'run', 'lmtp');
    const { req, path } = await h.queue(
      {
        sender: 'sender@postern.test',
        recipients: [{ address: 'alice@example.test' }, { address: 'bob@example.test' }, { address: 'nosuch@example.test' }],
        lines: ['Subject: lmtp test', 'Message-ID: <lmtp1@postern.test>', '', 'hello alice', '.dot line'],
      },
      `unix:${sock}`,
    );
    const reply = await h.deliver(SMTP_MODE.LMTP, req);
    assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
    assert.equal(reply.hop, null);
    const alice = maildirNew(d, 'alice');
    assert.equal(alice.length, 1);
    assert.match(alice[0]!, /^Return-Path: <sender@postern\.test>\n/);
    assert.match(alice[0]!, /\nSubject: lmtp test\nMessage-ID: <lmtp1@postern\.test>\n\nhello alice\n\.dot line\n$/);
    assert.equal(maildirNew(d, 'bob').length, 0);
    const bounced = h.statusLog
      .filter((s) => s.service === 'bounce' && s.req.command === BOUNCE_CMD.APPEND)
      .map((s) => s.req as { rcpt: { address: string }; dsn: { status: string; reason: string } });
    const relay = `client.postern.test[${sock}]`;
    assert.deepEqual(
      bounced.map((b) => [b.rcpt.address, b.dsn.status]),
      [
        ['nosuch@example.test', '5.1.1'],
        ['bob@example.test', '5.2.2'],
      ],
    );
    assert.match(bounced[0]!.dsn.reason, /^host client\.postern\.test\[.*\/run\/lmtp\] said: 550 5\.1\.1 <nosuch@example\.test> User doesn't exist: nosuch@example\.test \(in reply to RCPT TO command\)$/);
    assert.match(bounced[1]!.dsn.reason, /said: 552 5\.2\.2 <bob@example\.test> Quota exceeded \(mailbox for user is full\) \(in reply to end of DATA command\)$/);
    assert.ok(h.logs.some((l) => l.startsWith(`${req.queueId}: to=<alice@example.test>, relay=${relay}, `) && /status=sent \(250 2\.0\.0 <alice@example\.test> \S+ Saved\)$/.test(l)), h.logs.join('\n'));
    assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [true, true, true]);
  });

  test('inet:127.0.0.1:port', async () => {
    const { req } = await h.queue({ sender: 'sender@postern.test', recipients: [{ address: 'alice@example.test' }], lines: ['Subject: over tcp', '', 'second'] }, `inet:127.0.0.1:${port}`);
    const reply = await h.deliver(SMTP_MODE.LMTP, req);
    assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
    assert.ok(h.logs.some((l) => l.includes(`relay=127.0.0.1[127.0.0.1]:${port},`) && l.includes('status=sent')), h.logs.join('\n'));
    assert.equal(maildirNew(d, 'alice').length, 2);
  });
  test('cached LMTP session over the unix socket: the second request reuses it (conn_use=2)', async () => {
    const sock = join(d, 'run', 'lmtp');
    const before = maildirNew(d, 'alice').length;
    const lines: string[] = [];
    for (const n of [1, 2]) {
      const { req } = await h.queue({ sender: 'sender@postern.test', recipients: [{ address: 'alice@example.test' }], lines: ['Subject: cached', '', `number ${n}`] }, `unix:${sock}`);
      req.flags |= DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
      assert.equal((await h.deliver(SMTP_MODE.LMTP, req)).status, DEL_STAT.OK, h.logs.join('\n'));
      lines.push(h.logs.find((l) => l.startsWith(`${req.queueId}: to=<alice@example.test>`)) ?? '');
    }
    assert.doesNotMatch(lines[0]!, /conn_use=/);
    assert.match(lines[1]!, /, conn_use=2, .*status=sent \(250 2\.0\.0 <alice@example\.test> \S+ Saved\)$/);
    assert.equal(maildirNew(d, 'alice').length, before + 2);
    assert.equal(h.sessionCache(SMTP_MODE.LMTP).size, 1);
  });
});
