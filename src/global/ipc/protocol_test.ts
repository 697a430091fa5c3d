/*
 * protocol_test - defineProtocol: announcement, checks, strictness, in-process pairs
 *
 * What it does: checks the announcement bytes and the client's check of
 * them, strict and lenient reply decoding through a whole client/server
 * exchange over the in-process transport, a protocol without an
 * announcement, the PROTOCOL text, and the duplex pair's stream
 * semantics (end, destroy, backpressure). The announcement bytes are
 * compared with a real Postfix showq in test/oracle/ipc_showq_test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeAttr0 } from '../../util/attr0.js';
import { attr } from '../../util/attr0_scan.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../mail_proto.js';
import { AttrClient, openAttrStream } from './attr_clnt.js';
import { createDuplexPair, inProcessEndpoint } from './attr_inproc.js';
import { defineProtocol } from './protocol.js';

const FLUSHLIKE = defineProtocol({
  name: MAIL_ATTR_PROTO.FLUSH,
  request: { [MAIL_ATTR.REQ]: attr.str(), [MAIL_ATTR.SITE]: attr.str({ optional: true, maxBytes: 255 }) },
  reply: { [MAIL_ATTR.STATUS]: attr.int() },
});

describe('defineProtocol', () => {
  it('announces protocol=<name> as a list of its own', () => {
    assert.deepEqual(FLUSHLIKE.announcement(), Buffer.from('protocol\0queue_flush_protocol\0\0'));
  });

  it('checks the announcement strictly', () => {
    assert.ok(FLUSHLIKE.checkAnnouncement([{ name: 'protocol', value: 'queue_flush_protocol' }]).ok);
    const wrong = FLUSHLIKE.checkAnnouncement([{ name: 'protocol', value: 'anvil_protocol' }]);
    assert.ok(!wrong.ok && /unexpected protocol anvil_protocol \(expected: queue_flush_protocol\)/.test(wrong.message));
    assert.equal(FLUSHLIKE.checkAnnouncement([]).ok, false);
    assert.equal(FLUSHLIKE.checkAnnouncement([{ name: 'status', value: '0' }]).ok, false);
    assert.equal(FLUSHLIKE.checkAnnouncement([{ name: 'protocol', value: 'queue_flush_protocol' }, { name: 'x', value: '' }]).ok, false);
  });

  it('encodes requests in declaration order and leaves out absent optional fields', () => {
    assert.deepEqual(FLUSHLIKE.encodeRequest({ request: 'send_site', site: 'example.com' }), Buffer.from('request\0send_site\0site\0example.com\0\0'));
    assert.deepEqual(FLUSHLIKE.encodeRequest({ request: 'purge' }), Buffer.from('request\0purge\0\0'));
  });

  it('describes itself for a daemon header', () => {
    const text = FLUSHLIKE.describe();
    assert.match(text, /announces: protocol = queue_flush_protocol/);
    assert.match(text, /\tsite \(str, optional, max 255 bytes\)/);
    assert.match(text, /\tstatus \(int\)/);
  });

  it('strict replies reject an extra attribute; lenient ones skip it', async () => {
    const reply = { status: 0 };
    const lenient = defineProtocol({ ...FLUSHLIKE, request: FLUSHLIKE.request, reply: FLUSHLIKE.reply, strictReply: false });
    // A server that adds an attribute the client does not know.
    const chatty = {
      label: 'chatty',
      connect() {
        const [c, s] = createDuplexPair();
        s.write(FLUSHLIKE.announcement());
        s.once('data', () => s.write(encodeAttr0([{ name: 'status', value: '0' }, { name: 'extra', value: 'x' }])));
        return c;
      },
    };
    const strictR = await new AttrClient(FLUSHLIKE, { endpoint: chatty, timeoutMs: 1000 }).request({ request: 'purge' });
    assert.ok(!strictR.ok && strictR.kind === 'reply' && /unexpected attribute extra/.test(strictR.message));
    const lenientR = await new AttrClient(lenient, { endpoint: chatty, timeoutMs: 1000 }).request({ request: 'purge' });
    assert.ok(lenientR.ok);
    assert.deepEqual(lenientR.reply, reply);
  });

  it('carries greeting fields in the announcement list (as cleanup does)', async () => {
    const HELLO = defineProtocol({ name: 'hello_protocol', greeting: { queue_id: attr.str() }, request: { n: attr.int() }, reply: { n: attr.int() } });
    assert.deepEqual(HELLO.announcement({ queue_id: 'ABC' }), Buffer.from('protocol\0hello_protocol\0queue_id\0ABC\0\0'));
    const ok = HELLO.checkAnnouncement([{ name: 'protocol', value: 'hello_protocol' }, { name: 'queue_id', value: 'ABC' }]);
    assert.ok(ok.ok && ok.value.queue_id === 'ABC');
    assert.equal(HELLO.checkAnnouncement([{ name: 'protocol', value: 'hello_protocol' }]).ok, false, 'greeting field missing');
    let next = 0;
    const endpoint = inProcessEndpoint(HELLO, (r) => ({ n: r.n }), { greeting: () => ({ queue_id: `Q${++next}` }) });
    const a = await openAttrStream(HELLO, endpoint, 1000);
    const b = await openAttrStream(HELLO, endpoint, 1000);
    assert.ok(a.ok && b.ok);
    assert.deepEqual([a.greeting?.queue_id, b.greeting?.queue_id], ['Q1', 'Q2']);
    a.io.destroy();
    b.io.destroy();
    const c = new AttrClient(HELLO, { endpoint, timeoutMs: 1000 });
    const r = await c.request({ n: 5 });
    assert.ok(r.ok && r.reply.n === 5, 'a request/reply exchange after a greeting');
  });

  it('works without an announcement when the protocol has none', async () => {
    const quiet = defineProtocol({ name: 'quiet', announce: false, request: { n: attr.int() }, reply: { n: attr.int() } });
    const c = new AttrClient(quiet, { endpoint: inProcessEndpoint(quiet, (r) => ({ n: r.n + 1 })), timeoutMs: 1000 });
    const r = await c.request({ n: 41 });
    assert.ok(r.ok && r.reply.n === 42);
  });

  it('a request that cannot be encoded is a status, not an exception', async () => {
    const c = new AttrClient(FLUSHLIKE, { endpoint: inProcessEndpoint(FLUSHLIKE, () => ({ status: 0 })), timeoutMs: 1000 });
    const r = await c.request({ request: 'bad\0name' });
    assert.ok(!r.ok && r.kind === 'request');
  });
});

describe('in-process duplex pair', () => {
  it('carries bytes both ways and turns end() into end-of-input', async () => {
    const [a, b] = createDuplexPair();
    const got: Buffer[] = [];
    b.on('data', (x: Buffer) => got.push(x));
    const ended = new Promise<void>((r) => b.on('end', () => r()));
    a.write('hello ');
    a.end('world');
    await ended;
    assert.equal(Buffer.concat(got).toString(), 'hello world');
    const back = new Promise<string>((r) => a.once('data', (x: Buffer) => r(x.toString())));
    b.write('reply');
    assert.equal(await back, 'reply');
  });

  it('destroying one end closes the other', async () => {
    const [a, b] = createDuplexPair();
    b.resume();
    const closed = new Promise<void>((r) => b.on('close', () => r()));
    a.destroy();
    await closed;
    assert.ok(b.destroyed);
    const r = await new Promise<boolean>((resolve) => a.write('x', (err) => resolve(!err)));
    assert.equal(r, false);
  });

  it('makes the writer wait while the reader is behind', async () => {
    const [a, b] = createDuplexPair();
    const chunk = Buffer.alloc(16 * 1024);
    let writes = 0;
    while (a.write(chunk) && writes < 1000) writes++;
    assert.ok(writes < 1000, 'write() said stop before the reader read anything');
    const drained = new Promise<void>((r) => a.once('drain', () => r()));
    b.resume();
    await drained;
    a.destroy();
  });
});
