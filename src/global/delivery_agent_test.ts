/*
 * delivery_agent_test - the agent skeleton: one request per connection, failures become DEFER replies
 *
 * Driven over UNIX sockets as qmgr drives an agent (deliverRequestCall,
 * or raw attr0 bytes for a malformed request).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeAttr0, encodeAttr0 } from '../util/attr0.js';
import { BOUNCE_CMD } from './bounce_clnt.js';
import { DEL_REQ_FLAG, DEL_STAT, type DeliverRequest, decodeDeliverReply, encodeDeliverAnnouncement } from './deliver_request.js';
import { AGENT_FAILURE_REASON, type DeliveryContext } from './delivery_agent.js';
import { FIXED_STATS_DELAYS, fixedStats, startAgentBench } from './delivery_agent_test_lib.js';
import { dsnMake } from './dsn.js';
import { sent } from './sent.js';

test('a deliver() that throws: DEFER with a 4.3.0 hop DSN, a warning, nothing crossed off, the server goes on', async () => {
  let calls = 0;
  const b = await startAgentBench({
    service: 'boom',
    programName: 'boom',
    deliver: async (req: DeliverRequest) => {
      calls++;
      if (calls === 1) throw new Error('disk on fire');
      return { status: DEL_STAT.OK, hop: null };
    },
  });
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }]);
    const r = await b.call(b.request(qf, 'example.com', fixedStats()));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(r.reply, { status: DEL_STAT.DEFER, hop: dsnMake('4.3.0', AGENT_FAILURE_REASON) });
    assert.deepEqual(b.log, [`warning: ${qf.queueId}: delivery agent failure: disk on fire`]);
    assert.deepEqual(b.done(qf.path), [false]);
    const again = await b.call(b.request(qf, 'example.com', fixedStats()));
    assert.ok(again.ok && again.reply.status === DEL_STAT.OK);
  } finally {
    await b.close();
  }
});

test('a queue file that is gone: a silent DEFER without hop status, as Postfix; deliver() is not called', async () => {
  let calls = 0;
  const b = await startAgentBench({ service: 'x', programName: 'x', deliver: async () => (calls++, { status: DEL_STAT.OK, hop: null }) });
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }]);
    const req = b.request(qf, 'example.com', fixedStats());
    req.queueId = 'ABCDEF12345';
    const r = await b.call(req);
    assert.ok(r.ok);
    assert.deepEqual(r.reply, { status: DEL_STAT.DEFER, hop: null });
    assert.deepEqual(b.log, []);
    assert.equal(calls, 0);
  } finally {
    await b.close();
  }
});

test('agentHandoff is stamped when qmgr left it 0 and kept otherwise; the context names the queue file', async () => {
  const seen: Array<[number, string]> = [];
  const b = await startAgentBench({
    service: 'x',
    programName: 'x',
    deliver: async (req: DeliverRequest, ctx: DeliveryContext) => {
      seen.push([req.msgStats.agentHandoff, ctx.queueFilePath(req)]);
      return { status: DEL_STAT.OK, hop: null };
    },
  });
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }]);
    const before = Date.now();
    const stats = { ...fixedStats(), agentHandoff: 0 };
    assert.ok((await b.call(b.request(qf, 'example.com', stats))).ok);
    assert.ok((await b.call(b.request(qf, 'example.com', fixedStats()))).ok);
    assert.ok(seen[0]![0] >= before && seen[0]![0] <= Date.now());
    assert.equal(seen[1]![0], fixedStats().agentHandoff);
    assert.equal(seen[0]![1], qf.path);
  } finally {
    await b.close();
  }
});

/** Talks raw bytes to the agent: reads the announcement, sends `send`, returns what came back. */
function raw(path: string, send: Buffer | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect(path);
    let sent = false;
    s.on('data', (d) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (!sent && all.length >= encodeDeliverAnnouncement().length) {
        sent = true;
        if (send) s.write(send);
        else s.end();
      }
      const r = decodeAttr0(all);
      if (r.frames.length >= 2) s.end();
    });
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    setTimeout(() => {
      s.destroy();
      reject(new Error('raw exchange timed out'));
    }, 5000).unref();
  });
}

test('a malformed request gets DEFER (Postfix -1) and a warning; a client that hangs up gets nothing', async () => {
  const b = await startAgentBench({ service: 'x', programName: 'x', deliver: async () => ({ status: DEL_STAT.OK, hop: null }) });
  try {
    const path = join(b.queueDir, 'private', 'x');
    const got = await raw(path, encodeAttr0([{ name: 'flags', value: 'x' }]));
    const frames = decodeAttr0(got).frames;
    assert.equal(frames.length, 2);
    const reply = decodeDeliverReply(frames[1]!);
    assert.ok(reply.ok);
    assert.deepEqual(reply.value, { status: DEL_STAT.DEFER, hop: null });
    assert.match(got.toString('latin1'), /status\x004294967295\x00\x00$/);
    assert.equal(b.log.length, 1);
    assert.match(b.log[0]!, /^warning: deliver_request_get: error receiving common attributes: /);
    const hung = await raw(path, null);
    assert.deepEqual(hung, encodeDeliverAnnouncement());
    assert.equal(b.log.length, 1);
  } finally {
    await b.close();
  }
});

test('sendmail -v (DEL_REQ_FLAG_RECORD): sent() records "delivery via RELAY: reason" with the trace service, then logs', async () => {
  const b = await startAgentBench({
    service: 'x',
    programName: 'x',
    deliver: async (req: DeliverRequest, ctx: DeliveryContext) => {
      for (const rcpt of req.recipients) {
        const st = await sent(ctx.status, req, rcpt, 'mx.example[192.0.2.1]:25', dsnMake('2.0.0', '250 2.0.0 Ok: queued'));
        if (st === 0) await ctx.completed(req, rcpt);
      }
      return { status: DEL_STAT.OK, hop: null };
    },
  });
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }]);
    const req = b.request(qf, 'example.com', fixedStats());
    req.flags |= DEL_REQ_FLAG.RECORD;
    assert.ok((await b.call(req)).ok);
    const t = b.received.trace[0];
    assert.ok(t && t.command === BOUNCE_CMD.APPEND);
    assert.equal(t.flags, DEL_REQ_FLAG.RECORD);
    assert.deepEqual([t.dsn.action, t.dsn.reason], ['delivered', 'delivery via mx.example[192.0.2.1]:25: 250 2.0.0 Ok: queued']);
    assert.deepEqual(b.log, [`${qf.queueId}: to=<a@example.com>, relay=mx.example[192.0.2.1]:25, ${FIXED_STATS_DELAYS}, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)`]);
    assert.deepEqual(b.done(qf.path), [true]);
  } finally {
    await b.close();
  }
});
