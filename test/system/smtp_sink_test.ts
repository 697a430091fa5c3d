/*
 * smtp_sink_test - smtp(8) delivering to Postfix's smtp-sink: success, rejects, greetings, pipelining
 *
 * What it does: queues messages with queue_file_write.ts, hands them to
 * the smtp agent through a real delivery request (smtp_harness.ts) and
 * checks what smtp-sink received, the agent's reply to qmgr (status, hop
 * DSN), the per-recipient status records sent to the bounce/defer
 * services, the queue file's crossed-off recipients and the log lines
 * (relay=host[addr]:port, "host X said: ... (in reply to RCPT TO
 * command)", "refused to talk to me").
 *
 * What it does not do: DNS (smtp_mx_test.ts), MIME downgrade
 * (smtp_8bitmime_test.ts), LMTP (lmtp_*_test.ts).
 *
 * DIAGNOSTICS
 * Assertion failures show the captured log lines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BOUNCE_CMD } from '../../src/global/bounce_clnt.js';
import { DEL_STAT } from '../../src/global/deliver_request.js';
import { DSN_NOTIFY, DSN_RET } from '../../src/global/dsn.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { makeSmtpHarness, type SmtpHarness } from './smtp_harness.js';

const BODY = ['Subject: test', 'Message-ID: <t1@postern.test>', '', 'line one', '.leading dot', '..two dots', 'last'];

function appends(h: SmtpHarness, service: string): Array<{ rcpt: string; status: string; reason: string; action: string }> {
  return h.statusLog
    .filter((s) => s.service === service && s.req.command === BOUNCE_CMD.APPEND)
    .map((s) => {
      const r = s.req as { rcpt: { address: string }; dsn: { status: string; reason: string; action: string } };
      return { rcpt: r.rcpt.address, status: r.dsn.status, reason: r.dsn.reason, action: r.dsn.action };
    });
}

describe('smtp to smtp-sink', () => {
  let sink: SmtpSink;
  let h: SmtpHarness;
  before(async () => {
    sink = await startSmtpSink({ hostname: 'sink.postern.test' });
    h = makeSmtpHarness();
  });
  after(async () => {
    h.close();
    await sink.stop();
  });

  test('two recipients in one transaction, dot-stuffing, DSN parameters, crossed off', async () => {
    const { req, path } = await h.queue(
      {
        sender: 'alice@postern.test',
        recipients: [{ address: 'bob@remote.test', dsnNotify: DSN_NOTIFY.SUCCESS | DSN_NOTIFY.FAILURE, dsnOrcpt: 'rfc822;Bob@remote.test' }, { address: 'carol@remote.test' }],
        lines: BODY,
        dsnEnvid: 'env+id=1',
        dsnRet: DSN_RET.HDRS,
      },
      `[127.0.0.1]:${sink.port}`,
    );
    const reply = await h.deliver(SMTP_MODE.SMTP, req);
    assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
    assert.equal(reply.hop, null);
    const msgs = await sink.waitForMessages(1);
    assert.equal(msgs.length, 1);
    const m = msgs[0]!;
    assert.equal(m.helo, 'client.postern.test');
    // smtp-sink announces no SIZE (the SIZE= parameter is covered by smtp_proto_test).
    assert.equal(m.mailArgs, '<alice@postern.test> ENVID=env+2Bid+3D1 RET=HDRS');
    assert.deepEqual(m.rcptArgs, ['<bob@remote.test> ORCPT=rfc822;Bob@remote.test NOTIFY=SUCCESS,FAILURE', '<carol@remote.test> ORCPT=rfc822;carol@remote.test']);
    assert.equal(m.content, `${BODY.join('\n')}\n`);
    const qf = h.reread(path);
    assert.deepEqual(qf.recipients.map((r) => r.done), [true, true]);
    const sentLines = h.logs.filter((l) => l.includes(`${req.queueId}: to=<`));
    assert.equal(sentLines.length, 2, h.logs.join('\n'));
    for (const l of sentLines) {
      assert.match(l, new RegExp(`relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sink.port}, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok`));
    }
  });
});

describe('smtp-sink rejecting', () => {
  test('RCPT 5xx bounces each recipient with the reply and crosses it off; no DATA', async () => {
    const sink = await startSmtpSink({ extraArgs: ['-f', 'RCPT'] });
    const h = makeSmtpHarness();
    try {
      const { req, path } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'x@remote.test' }, { address: 'y@remote.test' }], lines: BODY }, `[127.0.0.1]:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
      assert.equal(reply.hop, null);
      const b = appends(h, 'bounce');
      assert.deepEqual(
        b.map((x) => [x.rcpt, x.status, x.action]),
        [
          ['x@remote.test', '5.3.0', 'failed'],
          ['y@remote.test', '5.3.0', 'failed'],
        ],
      );
      assert.equal(b[0]!.reason, `host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to RCPT TO command)`);
      assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [true, true]);
      assert.equal(sink.messageCount(), 0);
      assert.ok(h.logs.some((l) => l.includes(`relay=127.0.0.1[127.0.0.1]:${sink.port},`) && l.includes('status=bounced (host 127.0.0.1[127.0.0.1] said: 500 5.3.0 Error: command failed (in reply to RCPT TO command))')), h.logs.join('\n'));
    } finally {
      h.close();
      await sink.stop();
    }
  });

  test('RCPT 4xx defers each recipient, keeps it in the queue file, no hop status', async () => {
    const sink = await startSmtpSink({ extraArgs: ['-r', 'RCPT'] });
    const h = makeSmtpHarness();
    try {
      const { req, path } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'x@remote.test' }], lines: BODY }, `[127.0.0.1]:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.status, DEL_STAT.DEFER);
      assert.equal(reply.hop, null);
      const d = appends(h, 'defer');
      assert.equal(d.length, 1);
      assert.equal(d[0]!.status, '4.3.0');
      assert.equal(d[0]!.reason, 'host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to RCPT TO command)');
      assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [false]);
    } finally {
      h.close();
      await sink.stop();
    }
  });

  test('MAIL 5xx bounces every recipient "in reply to MAIL FROM command"', async () => {
    const sink = await startSmtpSink({ extraArgs: ['-f', 'MAIL'] });
    const h = makeSmtpHarness();
    try {
      const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'x@remote.test' }, { address: 'y@remote.test' }], lines: BODY }, `[127.0.0.1]:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.hop, null);
      const b = appends(h, 'bounce');
      assert.equal(b.length, 2);
      assert.match(b[0]!.reason, /said: 500 5\.3\.0 Error: command failed \(in reply to MAIL FROM command\)$/);
    } finally {
      h.close();
      await sink.stop();
    }
  });

  test('5xx greeting with smtp_skip_5xx_greeting = yes defers and throttles (hop status)', async () => {
    const sink = await startSmtpSink({ extraArgs: ['-f', 'CONNECT'] });
    const h = makeSmtpHarness();
    try {
      const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'x@remote.test' }], lines: BODY }, `[127.0.0.1]:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.status, DEL_STAT.DEFER);
      assert.ok(reply.hop, 'hop status set');
      assert.equal(reply.hop!.status, '4.3.0');
      assert.match(reply.hop!.reason, /^host 127\.0\.0\.1\[127\.0\.0\.1\] refused to talk to me: 500 5\.3\.0 Error: command failed$/);
      assert.equal(appends(h, 'defer').length, 1);
    } finally {
      h.close();
      await sink.stop();
    }
  });

  test('5xx greeting with smtp_skip_5xx_greeting = no bounces', async () => {
    const sink = await startSmtpSink({ extraArgs: ['-f', 'CONNECT'] });
    const h = makeSmtpHarness({ smtp_skip_5xx_greeting: 'no' });
    try {
      const { req, path } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'x@remote.test' }], lines: BODY }, `[127.0.0.1]:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.hop, null);
      assert.equal(appends(h, 'bounce').length, 1);
      assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [true]);
    } finally {
      h.close();
      await sink.stop();
    }
  });

  test('connection refused: "connect to" log line, deferred with relay=none and hop status', async () => {
    const sink = await startSmtpSink();
    const port = sink.port;
    await sink.stop();
    const h = makeSmtpHarness();
    try {
      const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'x@remote.test' }], lines: BODY }, `[127.0.0.1]:${port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.status, DEL_STAT.DEFER);
      assert.equal(reply.hop?.status, '4.4.1');
      assert.equal(reply.hop?.reason, `connect to 127.0.0.1[127.0.0.1]:${port}: Connection refused`);
      assert.ok(h.logs.includes(`connect to 127.0.0.1[127.0.0.1]:${port}: Connection refused`), h.logs.join('\n'));
      assert.ok(h.logs.some((l) => l.includes('relay=none,') && l.includes(`status=deferred (connect to 127.0.0.1[127.0.0.1]:${port}: Connection refused)`)), h.logs.join('\n'));
    } finally {
      h.close();
    }
  });
});
