/*
 * peers_test - the peer helpers against the real programs: swaks, Python
 * smtplib and smtp-source send to Postfix's smtp-sink on a loopback port,
 * the sink counts and captures every message, and a sink told to reject
 * RCPT makes both clients report the rejection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSmtplib, runSmtpSource, runSwaks, type SmtpSink, startSmtpSink } from './peers.js';
import { processAlive } from './proc.js';

async function withSink(fn: (sink: SmtpSink) => Promise<void>, extraArgs: string[] = []): Promise<void> {
  const sink = await startSmtpSink({ extraArgs, hostname: 'sink.postern.example' });
  try {
    await fn(sink);
  } finally {
    await sink.stop();
  }
  assert.equal(processAlive(sink.process.pid as number), false, 'smtp-sink is still running after stop()');
}

describe('peers: clients to smtp-sink', () => {
  it('swaks delivers one message, which the sink counts and captures', async () => {
    await withSink(async (sink) => {
      const r = await runSwaks({
        server: sink.address,
        from: 'alice@client.example',
        to: 'bob@sink.example',
        ehlo: 'client.example',
        headers: ['X-Postern-Test: swaks'],
        body: 'hello from swaks',
      });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(r.replies[0], '220 sink.postern.example ESMTP');
      assert.ok(r.replies.includes('250 2.0.0 Ok'), r.replies.join('\n'));
      assert.ok(r.sent.includes('MAIL FROM:<alice@client.example>'), r.sent.join('\n'));
      const msgs = await sink.waitForMessages(1, 10_000);
      assert.equal(sink.messageCount(), 1);
      assert.equal(msgs.length, 1);
      assert.equal(msgs[0].helo, 'client.example');
      assert.equal(msgs[0].mailArgs, '<alice@client.example>');
      assert.deepEqual(msgs[0].rcptArgs, ['<bob@sink.example>']);
      assert.match(msgs[0].content, /^X-Postern-Test: swaks$/m);
      assert.match(msgs[0].content, /\n\nhello from swaks\n/);
    });
  });

  it('Python smtplib delivers messages with several recipients, content intact', async () => {
    await withSink(async (sink) => {
      const message = 'From: a@client.example\r\nSubject: smtplib\r\n\r\nline one\r\n.leading dot\r\n';
      for (let i = 0; i < 2; i++) {
        const r = await runSmtplib({ port: sink.port, from: 'a@client.example', to: ['x@sink.example', 'y@sink.example'], message, ehlo: 'py.example' });
        assert.equal(r.ok, true, JSON.stringify(r));
        assert.equal(r.ehloCode, 250);
        assert.ok(r.features.includes('pipelining'), r.features.join(' '));
        assert.deepEqual(r.refused, {});
      }
      const msgs = await sink.waitForMessages(2, 10_000);
      assert.equal(sink.messageCount(), 2);
      assert.equal(msgs.length, 2);
      for (const m of msgs) {
        assert.equal(m.helo, 'py.example');
        assert.deepEqual(m.rcptArgs, ['<x@sink.example>', '<y@sink.example>']);
        assert.equal(m.content, 'From: a@client.example\nSubject: smtplib\n\nline one\n.leading dot\n');
      }
    });
  });

  it('smtp-source sends a batch over parallel sessions, and the sink counts all', async () => {
    await withSink(async (sink) => {
      const r = await runSmtpSource({ server: sink.address, messages: 10, sessions: 3, size: 500, from: 's@client.example', to: 'r@sink.example' });
      assert.equal(r.status, 0, r.stderr);
      await sink.waitForMessages(10, 10_000);
      assert.equal(sink.messageCount(), 10);
      assert.equal(sink.messages().length, 10);
    });
  });

  it('both clients report a rejected recipient, and the sink counts nothing', async () => {
    await withSink(
      async (sink) => {
        const s = await runSwaks({ server: sink.address, from: 'a@client.example', to: 'b@sink.example' });
        assert.notEqual(s.status, 0);
        assert.ok(s.replies.includes('500 5.3.0 Error: command failed'), s.replies.join('\n'));
        const p = await runSmtplib({ port: sink.port, from: 'a@client.example', to: ['b@sink.example'], message: 'Subject: x\r\n\r\nx\r\n' });
        assert.equal(p.ok, false);
        assert.equal(p.error?.type, 'SMTPRecipientsRefused');
        assert.deepEqual(p.refused['b@sink.example'], [500, '5.3.0 Error: command failed']);
        assert.equal(sink.messageCount(), 0);
        assert.deepEqual(sink.messages(), []);
      },
      ['-f', 'RCPT'],
    );
  });
});
