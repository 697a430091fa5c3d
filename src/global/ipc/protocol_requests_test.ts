/*
 * protocol_requests_test - request-name dispatched protocols
 *
 * What it does: declares a flush-like protocol with per-request layouts,
 * checks its bytes, strict and lenient request decoding, unknown request
 * names, typed calls and per-request handlers over the in-process
 * transport. test/oracle/ipc_flush_test.ts runs the same kind of
 * declaration against the real Postfix postqueue.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Attr0Error, decodeAttr0, encodeAttr0 } from '../../util/attr0.js';
import { attr } from '../../util/attr0_scan.js';
import { type Severity, msgSetSinks } from '../../util/msg.js';
import { FLUSH_REQ, FLUSH_STAT, MAIL_ATTR, MAIL_ATTR_PROTO } from '../mail_proto.js';
import { AttrClient } from './attr_clnt.js';
import { createDuplexPair, inProcessEndpoint } from './attr_inproc.js';
import { serveAttrConnection } from './attr_serv.js';
import { callRequest, defineRequestProtocol, requestHandlers } from './protocol_requests.js';

const STATUS = { [MAIL_ATTR.STATUS]: attr.int() };
const FLUSH = defineRequestProtocol({
  name: MAIL_ATTR_PROTO.FLUSH,
  requests: {
    [FLUSH_REQ.ADD]: { request: { [MAIL_ATTR.SITE]: attr.str(), [MAIL_ATTR.QUEUEID]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.SEND_SITE]: { request: { [MAIL_ATTR.SITE]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.PURGE]: { request: {}, reply: { ...STATUS, [MAIL_ATTR.WHY]: attr.str({ optional: true }) } },
  },
});

const frameOf = (text: string) => decodeAttr0(Buffer.from(text.replace(/\|/g, '\0'))).frames[0]!;

describe('defineRequestProtocol', () => {
  it('puts request=<name> first, then that request fields in order', () => {
    assert.deepEqual(
      FLUSH.encodeRequest({ request: 'add', site: 'example.com', queue_id: 'ABC' }),
      Buffer.from('request\0add\0site\0example.com\0queue_id\0ABC\0\0'),
    );
    assert.deepEqual(FLUSH.encodeRequest({ request: 'purge' }), Buffer.from('request\0purge\0\0'));
    assert.throws(() => FLUSH.encodeRequest({ request: 'nosuch' } as never), Attr0Error);
  });

  it('decodes each request with its own layout', () => {
    const r = FLUSH.decodeRequest(frameOf('request|send_site|site|example.com||'));
    assert.ok(r.ok);
    assert.deepEqual(r.value, { request: 'send_site', site: 'example.com' });
    assert.equal(FLUSH.decodeRequest(frameOf('request|send_site|queue_id|X||')).ok, false, 'another request layout');
    assert.equal(FLUSH.decodeRequest(frameOf('site|example.com|request|send_site||')).ok, false, 'request must come first');
    const unknown = FLUSH.decodeRequest(frameOf('request|rm_rf||'));
    assert.ok(!unknown.ok && /unknown request "rm_rf"/.test(unknown.message));
    assert.equal(FLUSH.decodeRequest(frameOf('request|toString||')).ok, false, 'no prototype names');
    assert.equal(FLUSH.decodeRequest([]).ok, false);
  });

  it('lenient decoding finds request anywhere and skips unknown attributes', () => {
    const lenient = defineRequestProtocol({ name: 'x', requests: FLUSH.requests, strictRequest: false });
    const r = lenient.decodeRequest(frameOf('extra|1|site|example.com|request|send_site||'));
    assert.ok(r.ok);
    assert.deepEqual(r.value, { request: 'send_site', site: 'example.com' });
  });

  it('decodes a reply with the layout of the request it answers', () => {
    const purge = FLUSH.decodeReply(frameOf('status|0|reason|done||'), { request: 'purge' });
    assert.ok(purge.ok);
    assert.deepEqual(purge.value, { status: 0, reason: 'done' });
    assert.equal(FLUSH.decodeReply(frameOf('status|0|reason|done||'), { request: 'send_site', site: 'x' }).ok, false);
  });

  it('types calls and handlers per request over the in-process transport', async () => {
    const seen: string[] = [];
    const handler = requestHandlers(FLUSH, {
      add: (req) => {
        seen.push(`add ${req.site} ${req.queue_id}`);
        return { status: FLUSH_STAT.OK };
      },
      send_site: (req) => {
        seen.push(`send ${req.site}`);
        return { status: req.site === 'example.com' ? FLUSH_STAT.OK : FLUSH_STAT.DENY };
      },
      purge: () => ({ status: FLUSH_STAT.OK, reason: 'purged' }),
    });
    const client = new AttrClient(FLUSH, { endpoint: inProcessEndpoint(FLUSH, handler), timeoutMs: 1000, idleMs: 1000 });
    const a = await callRequest(client, 'add', { site: 'example.com', queue_id: 'Q1' });
    const b = await callRequest(client, 'send_site', { site: 'other.example' });
    const c = await callRequest(client, 'purge', {});
    assert.ok(a.ok && a.reply.status === FLUSH_STAT.OK);
    assert.ok(b.ok && b.reply.status === FLUSH_STAT.DENY);
    assert.ok(c.ok && c.reply.reason === 'purged');
    assert.deepEqual(seen, ['add example.com Q1', 'send other.example']);
    client.close();
  });

  it('a server drops a client that sends an undeclared request, with a warning', async () => {
    const warnings: string[] = [];
    msgSetSinks([{ write: (sev: Severity, text: string) => void (sev === 'warning' && warnings.push(text)) }]);
    try {
      const [c, s] = createDuplexPair();
      c.resume();
      const served = serveAttrConnection(s, FLUSH, () => ({ status: 0 }), { label: 'public/flush' });
      c.write(encodeAttr0([{ name: 'request', value: 'rm_rf' }]));
      assert.equal(await served, 'dropped');
      assert.ok(warnings.some((w) => /public\/flush: malformed request: unknown request "rm_rf"/.test(w)), JSON.stringify(warnings));
    } finally {
      msgSetSinks([]);
    }
  });

  it('describes every request', () => {
    const text = FLUSH.describe();
    assert.match(text, /Request request = add:\n\tsite \(str\)\n\tqueue_id \(str\)\nReply:\n\tstatus \(int\)/);
    assert.match(text, /Request request = purge:\nReply:\n\tstatus \(int\)\n\treason \(str, optional\)/);
  });
});
