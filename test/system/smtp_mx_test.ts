/*
 * smtp_mx_test - smtp(8) server selection over DNS: MX order, A fallback, NXDOMAIN, null MX, fallback relay
 *
 * What it does: starts a dnsmasq on a loopback port with MX and A
 * records, points the agent at it, and delivers to smtp-sink (listening
 * on 127.0.0.1 only, so an MX host at 127.0.0.2 refuses the connection):
 * the first MX refuses and the second one gets the mail, with Postfix's
 * "connect to mx1[127.0.0.2]:port: Connection refused" line; a domain
 * without MX is delivered to its A record; an unknown domain bounces with
 * "Host or domain name not found"; a null MX bounces; an unreachable
 * next-hop falls back to smtp_fallback_relay.
 *
 * What it does not do: IPv6 (the records are IPv4; inet_protocols=ipv4).
 *
 * DIAGNOSTICS
 * Assertion failures show the captured log lines.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BOUNCE_CMD } from '../../src/global/bounce_clnt.js';
import { DEL_STAT } from '../../src/global/deliver_request.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { type Dnsmasq, makeSmtpHarness, type SmtpHarness, startDnsmasq } from './smtp_harness.js';

const RECORDS = [
  '--mx-host=two.test,mx1.two.test,10',
  '--mx-host=two.test,mx2.two.test,20',
  '--host-record=mx1.two.test,127.0.0.2',
  '--host-record=mx2.two.test,127.0.0.1',
  '--host-record=plain.test,127.0.0.1',
  '--mx-host=nullmx.test,.,0',
  '--mx-host=noaddr.test,gone.noaddr.test,10',
];

const BODY = ['Subject: mx', '', 'body'];

function bounceReasons(h: SmtpHarness): string[] {
  return h.statusLog.filter((s) => s.service === 'bounce' && s.req.command === BOUNCE_CMD.APPEND).map((s) => (s.req as { dsn: { status: string; reason: string } }).dsn.status + ' ' + (s.req as { dsn: { reason: string } }).dsn.reason);
}

describe('smtp MX and address lookup', () => {
  let sink: SmtpSink;
  let h: SmtpHarness;
  let dns: Dnsmasq;
  before(async () => {
    sink = await startSmtpSink();
    h = makeSmtpHarness({ inet_protocols: 'ipv4', smtp_fallback_relay: '' });
    dns = await startDnsmasq(h.dir, RECORDS, 'two.test');
  });
  after(async () => {
    await dns.stop();
    await sink.stop();
    h.close();
  });

  test('first MX refuses, second MX gets the mail', async () => {
    const { req, path } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@two.test' }], lines: BODY }, `two.test:${sink.port}`);
    const reply = await h.deliver(SMTP_MODE.SMTP, req, dns.dns);
    assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
    assert.ok(h.logs.includes(`connect to mx1.two.test[127.0.0.2]:${sink.port}: Connection refused`), h.logs.join('\n'));
    assert.ok(h.logs.some((l) => l.startsWith(`${req.queueId}: to=<u@two.test>, relay=mx2.two.test[127.0.0.1]:${sink.port}, `) && l.includes('status=sent')), h.logs.join('\n'));
    assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [true]);
    const msgs = await sink.waitForMessages(1);
    assert.deepEqual(msgs[msgs.length - 1]!.rcptArgs, ['<u@two.test> ORCPT=rfc822;u@two.test']);
  });

  test('first MX answers 421 at the greeting: skipped with an info line, second MX gets the mail', async () => {
    const busy = createServer((sock) => {
      sock.on('error', () => undefined);
      sock.resume();
      sock.end('421 4.3.2 mx1 busy\r\n');
    });
    await new Promise<void>((r) => busy.listen(sink.port, '127.0.0.2', () => r()));
    try {
      const before = sink.messageCount();
      const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'v@two.test' }], lines: BODY }, `two.test:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req, dns.dns);
      assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
      assert.equal(reply.hop, null);
      assert.ok(h.logs.includes(`${req.queueId}: host mx1.two.test[127.0.0.2] refused to talk to me: 421 4.3.2 mx1 busy`), h.logs.join('\n'));
      assert.ok(h.logs.some((l) => l.startsWith(`${req.queueId}: to=<v@two.test>, relay=mx2.two.test[127.0.0.1]:${sink.port}, `)), h.logs.join('\n'));
      await sink.waitForMessages(before + 1);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  test('smtp_host_lookup = native finds [localhost] through the system resolver', async () => {
    const hn = makeSmtpHarness({ inet_protocols: 'ipv4', smtp_host_lookup: 'native' });
    try {
      const { req } = await hn.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@remote.test' }], lines: BODY }, `[localhost]:${sink.port}`);
      const reply = await hn.deliver(SMTP_MODE.SMTP, req, dns.dns);
      assert.equal(reply.status, DEL_STAT.OK, hn.logs.join('\n'));
      assert.ok(hn.logs.some((l) => l.includes(`relay=localhost[127.0.0.1]:${sink.port},`)), hn.logs.join('\n'));
    } finally {
      hn.close();
    }
  });

  test('a domain without MX records is delivered to its A record', async () => {
    const before = sink.messageCount();
    const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@plain.test' }], lines: BODY }, `plain.test:${sink.port}`);
    const reply = await h.deliver(SMTP_MODE.SMTP, req, dns.dns);
    assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
    await sink.waitForMessages(before + 1);
    assert.ok(h.logs.some((l) => l.includes(`relay=plain.test[127.0.0.1]:${sink.port},`)), h.logs.join('\n'));
  });

  test('an unknown domain bounces with Postfix\'s name service error', async () => {
    h.statusLog.length = 0;
    const { req, path } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@nx.test' }], lines: BODY }, 'nx.test');
    const reply = await h.deliver(SMTP_MODE.SMTP, req, dns.dns);
    assert.equal(reply.hop, null);
    assert.deepEqual(bounceReasons(h), ['5.4.4 Host or domain name not found. Name service error for name=nx.test type=A: Host not found']);
    assert.ok(h.logs.some((l) => l.startsWith(`${req.queueId}: to=<u@nx.test>, relay=none, `) && l.includes('status=bounced (Host or domain name not found.')), h.logs.join('\n'));
    assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [true]);
  });

  test('a null MX bounces', async () => {
    h.statusLog.length = 0;
    const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@nullmx.test' }], lines: BODY }, 'nullmx.test');
    await h.deliver(SMTP_MODE.SMTP, req, dns.dns);
    assert.deepEqual(bounceReasons(h), ['5.1.0 Domain nullmx.test does not accept mail (nullMX)']);
  });

  test('an MX host without address: bounced with the host\'s lookup error', async () => {
    h.statusLog.length = 0;
    const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@noaddr.test' }], lines: BODY }, 'noaddr.test');
    await h.deliver(SMTP_MODE.SMTP, req, dns.dns);
    assert.deepEqual(bounceReasons(h), ['5.4.4 Host or domain name not found. Name service error for name=gone.noaddr.test type=A: Host not found']);
  });
});

describe('smtp_fallback_relay', () => {
  test('an unreachable next-hop falls back to the fallback relay', async () => {
    const sink = await startSmtpSink();
    const h = makeSmtpHarness({ smtp_fallback_relay: `[127.0.0.1]:${sink.port}` });
    try {
      const { req } = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@remote.test' }], lines: BODY }, `[127.0.0.2]:${sink.port}`);
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
      assert.ok(h.logs.includes(`connect to 127.0.0.2[127.0.0.2]:${sink.port}: Connection refused`), h.logs.join('\n'));
      assert.ok(h.logs.some((l) => l.includes(`relay=127.0.0.1[127.0.0.1]:${sink.port},`) && l.includes('status=sent')), h.logs.join('\n'));
      await sink.waitForMessages(1);
    } finally {
      h.close();
      await sink.stop();
    }
  });
});
