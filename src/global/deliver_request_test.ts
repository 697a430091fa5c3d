/*
 * deliver_request_test - the delivery request protocol, byte for byte as Postfix 3.7
 *
 * The fixtures under testdata/deliver_request_*.bin were captured from a
 * throwaway real Postfix 3.7.11 instance: its qmgr delivered to a
 * transport whose socket was a recording proxy in front of the real
 * discard(8) or smtp(8) (qmgr_*: what qmgr sent; agent_*: what the agent
 * answered, announcement first). Byte-level comparisons decode them and
 * encode the result again; a live differential test against the real
 * agents is test/system/discard_postfix_test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { srcPath } from '../../test/lib/paths.js';
import { decodeAttr0 } from '../util/attr0.js';
import {
  DEL_REQ_FLAG,
  DEL_REQ_FLAG_DEFLT,
  DEL_STAT,
  MSG_STATS_WIRE_SIZE,
  decodeDeliverReply,
  decodeDeliverRequest,
  decodeMsgStats,
  deliverRequestCall,
  emptyDeliverRequest,
  encodeDeliverAnnouncement,
  encodeDeliverReply,
  encodeDeliverRequest,
  encodeMsgStats,
} from './deliver_request.js';
import { dsnMake } from './dsn.js';

const TESTDATA = srcPath('src', 'global', 'testdata');
const fixture = (name: string): Buffer => readFileSync(join(TESTDATA, `deliver_request_${name}.bin`));

function frames(buf: Buffer) {
  const r = decodeAttr0(buf);
  assert.equal(r.failure, null);
  assert.equal(r.rest, false, 'no partial list at the end');
  return r.frames;
}

test('what the real qmgr sends decodes to the expected request and encodes back to the same bytes', () => {
  const bytes = fixture('qmgr_discard');
  const r = decodeDeliverRequest(frames(bytes));
  assert.ok(r.ok, r.ok ? '' : r.message);
  const req = r.value;
  assert.equal(req.flags, DEL_REQ_FLAG_DEFLT);
  assert.equal(req.queueName, 'active');
  assert.equal(req.queueId, '571F320E0E8');
  assert.equal(req.dataOffset, 340);
  assert.equal(req.dataSize, 265);
  assert.equal(req.nexthop, 'example.com');
  assert.equal(req.sender, 'alice@example.org');
  assert.equal(req.rewriteContext, 'local');
  assert.deepEqual(req.recipients, [
    { origAddress: 'Bob@example.com', address: 'Bob@example.com', offset: 243, dsnOrcpt: 'rfc822;Bob@example.com', dsnNotify: 0 },
    { origAddress: 'carol@example.com', address: 'carol@example.com', offset: 319, dsnOrcpt: 'rfc822;carol@example.com', dsnNotify: 0 },
  ]);
  // qmgr stamps incoming and active arrival; the agent stamps the rest.
  // The real discard logged delays=0.16/... for this request: 157.752 ms.
  assert.equal(Math.round((req.msgStats.activeArrival - req.msgStats.incomingArrival) * 1000), 157752);
  assert.equal(req.msgStats.agentHandoff, 0);
  assert.equal(req.msgStats.reuseCount, 0);
  assert.deepEqual(encodeDeliverRequest(req), bytes);
  const smtp = decodeDeliverRequest(frames(fixture('qmgr_smtp')));
  assert.ok(smtp.ok);
  assert.equal(smtp.value.nexthop, '[127.0.0.1]:1');
  assert.deepEqual(encodeDeliverRequest(smtp.value), fixture('qmgr_smtp'));
});

test('agent replies: announcement, final status and hop DSN as the real discard and smtp send them', () => {
  const cases: Array<[string, number, string | null]> = [
    ['agent_discard', DEL_STAT.OK, null],
    ['agent_smtp', DEL_STAT.DEFER, 'connect to 127.0.0.1[127.0.0.1]:1: Connection refused'],
    ['agent_softbounce', DEL_STAT.DEFER, null],
  ];
  for (const [name, status, hopReason] of cases) {
    const bytes = fixture(name);
    const announce = encodeDeliverAnnouncement();
    assert.deepEqual(bytes.subarray(0, announce.length), announce, name);
    const fs = frames(bytes.subarray(announce.length));
    assert.equal(fs.length, 1, name);
    const r = decodeDeliverReply(fs[0]!);
    assert.ok(r.ok, name);
    assert.equal(r.value.status, status, name);
    assert.equal(r.value.hop?.reason ?? null, hopReason, name);
    assert.deepEqual(encodeDeliverReply(r.value), bytes.subarray(announce.length), name);
  }
  // The hop status of smtp's "Connection refused" (4.4.1, no action).
  const smtp = decodeDeliverReply(frames(fixture('agent_smtp').subarray(encodeDeliverAnnouncement().length))[0]!);
  assert.ok(smtp.ok);
  assert.deepEqual(smtp.value.hop, dsnMake('4.4.1', 'connect to 127.0.0.1[127.0.0.1]:1: Connection refused'));
});

test('DEFER goes on the wire as Postfix -1; any non-zero status reads as DEFER', () => {
  const wire = encodeDeliverReply({ status: DEL_STAT.DEFER, hop: null }).toString('latin1');
  assert.match(wire, /status\x004294967295\x00\x00$/);
  const f = frames(Buffer.from(wire.replace('4294967295', '7'), 'latin1'));
  const r = decodeDeliverReply(f[0]!);
  assert.ok(r.ok);
  assert.equal(r.value.status, DEL_STAT.DEFER);
  const bad = decodeDeliverReply(frames(Buffer.from('status\0\0status\0x\0\0', 'latin1'))[0]!);
  assert.equal(bad.ok, false);
});

test('msg_stats: 88 bytes of five struct timeval and an int, microseconds kept', () => {
  const s = { incomingArrival: 1700000000123.456, activeArrival: 1700000001000, agentHandoff: 1700000001000.001, connSetupDone: 0, deliverDone: 1700000009999.999, reuseCount: 3 };
  const b = encodeMsgStats(s);
  assert.equal(b.length, MSG_STATS_WIRE_SIZE);
  assert.equal(b.readBigInt64LE(0), 1700000000n);
  assert.equal(b.readBigInt64LE(8), 123456n);
  assert.equal(b.readBigInt64LE(32), 1700000001n);
  assert.equal(b.readBigInt64LE(40), 1n);
  assert.equal(b.readInt32LE(80), 3);
  const d = decodeMsgStats(b);
  assert.ok(d.ok);
  for (const k of Object.keys(s) as Array<keyof typeof s>) assert.ok(Math.abs(d.value[k] - s[k]) < 0.0005, k);
  assert.equal(decodeMsgStats(Buffer.alloc(87)).ok, false);
});

test('round trip with every field set, 8-bit addresses and NOTIFY bits', () => {
  const req = emptyDeliverRequest({
    flags: DEL_REQ_FLAG.SUCCESS | DEL_REQ_FLAG.RECORD | DEL_REQ_FLAG.CONN_LOAD,
    queueName: 'active',
    queueId: '4Xyz1234Qabcdefgh',
    dataOffset: 812,
    dataSize: 123456,
    nexthop: '[mx.example]:2525',
    encoding: '8bit',
    smtputf8: 1,
    sender: 'j\u00f6rg@example.org',
    dsnEnvid: 'env-1',
    dsnRet: 2,
    clientName: 'client.example',
    clientAddr: '192.0.2.1',
    clientPort: '4567',
    clientProto: 'ESMTP',
    clientHelo: 'helo.example',
    saslMethod: 'PLAIN',
    saslUsername: 'u',
    saslSender: 's@example.org',
    logIdent: 'ABC',
    rewriteContext: 'remote',
    recipients: [
      { origAddress: '', address: 'x@example.com', offset: 100, dsnOrcpt: '', dsnNotify: 2 | 4 },
      { origAddress: 'Y@Example.com', address: 'y@example.com', offset: 200, dsnOrcpt: 'utf-8;y@example.com', dsnNotify: 1 },
    ],
  });
  req.msgStats.incomingArrival = 1700000000000.5;
  const r = decodeDeliverRequest(frames(encodeDeliverRequest(req)));
  assert.ok(r.ok);
  assert.deepEqual(r.value, req);
  // A list too many or too few is refused.
  const fs = frames(encodeDeliverRequest(req));
  assert.equal(decodeDeliverRequest(fs.slice(0, 2)).ok, false);
  assert.equal(decodeDeliverRequest([...fs, fs[1]!]).ok, false);
});

test('deliverRequestCall over a UNIX socket: onReady after the announcement, reply with hop DSN', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'deliver-request-'));
  const path = join(dir, 'agent');
  let got: Buffer[] = [];
  const server: Server = createServer((sock: Socket) => {
    sock.write(encodeDeliverAnnouncement());
    sock.on('data', (d) => {
      got.push(d);
      const all = Buffer.concat(got);
      const r = decodeAttr0(all);
      if (r.frames.length === 3 && !r.rest) sock.write(encodeDeliverReply({ status: DEL_STAT.DEFER, hop: dsnMake('4.4.2', 'lost connection') }));
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const req = emptyDeliverRequest({
      queueId: 'ABC123',
      nexthop: 'example.com',
      recipients: [
        { origAddress: 'a@example.com', address: 'a@example.com', offset: 10, dsnOrcpt: '', dsnNotify: 0 },
        { origAddress: 'b@example.com', address: 'b@example.com', offset: 20, dsnOrcpt: '', dsnNotify: 0 },
      ],
    });
    let ready = 0;
    const r = await deliverRequestCall(path, req, { timeoutMs: 5000, onReady: () => ready++ });
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(ready, 1);
    assert.equal(r.reply.status, DEL_STAT.DEFER);
    assert.deepEqual(r.reply.hop, dsnMake('4.4.2', 'lost connection'));
    assert.deepEqual(Buffer.concat(got), encodeDeliverRequest(req));
    // No agent there: a connect failure, never a throw.
    const none = await deliverRequestCall(join(dir, 'nothing'), req, { timeoutMs: 1000 });
    assert.equal(none.ok, false);
    assert.equal(none.ok ? '' : none.kind, 'connect');
    // An agent that never answers: bounded by the timeout.
    const mute = createServer(() => undefined);
    const mutePath = join(dir, 'mute');
    await new Promise<void>((r) => mute.listen(mutePath, r));
    const t = await deliverRequestCall(mutePath, req, { timeoutMs: 200 });
    assert.equal(t.ok ? '' : t.kind, 'timeout');
    mute.close();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
