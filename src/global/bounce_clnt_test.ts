/*
 * bounce_clnt_test - the delivery status protocol's bytes and the client's behaviour
 *
 * What it does: checks that each request is encoded with Postfix 3.7's
 * attribute names in Postfix's order (bounce.c, defer.c, trace.c,
 * rcpt_print.c, dsn_print.c: checked against those files and, for
 * APPEND, against the real bounce daemon in test/oracle/bounce_dsn_test),
 * that the server side decodes every command back to the same request,
 * that deferFlush adds BOUNCE_FLAG_DELRCPT, that a status other than 0,
 * a wrong announcement or a missing server is -1, and that bounceFlush
 * logs Postfix's "status=deferred (bounce failed)" line unless
 * BOUNCE_FLAG_CLEAN is set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAttr0 } from '../util/attr0.js';
import { msgSetSinks } from '../util/msg.js';
import {
  BOUNCE_CMD, BOUNCE_FLAG, BOUNCE_PROTOCOL, type BounceRequest, bounceFlush, bounceLogAppend, bounceOne, deferFlush, deferWarn, traceFlush,
} from './bounce_clnt.js';
import { dsnMake } from './dsn.js';
import { inProcessEndpoint } from './ipc/attr_inproc.js';
import type { Recipient } from './recipient_list.js';

const RCPT: Recipient = { origAddress: 'orig@example.net', address: 'to@example.com', offset: 4321, dsnOrcpt: 'rfc822;orig@example.net', dsnNotify: 6 };
const DSN = dsnMake('5.1.1', 'host said: 550 no', { action: 'failed', dtype: 'smtp', dtext: '550 no', mtype: 'dns', mname: 'mx.example.com' });

const wire = (pairs: Array<[string, string]>): Buffer => Buffer.from(pairs.map(([k, v]) => `${k}\0${v}\0`).join('') + '\0', 'latin1');

test('APPEND is nrequest, flags, queue_id, the recipient (rcpt_print order) and the DSN (dsn_print order)', () => {
  const bytes = BOUNCE_PROTOCOL.encodeRequest({ command: BOUNCE_CMD.APPEND, flags: 1, queueId: 'ABC123', rcpt: RCPT, dsn: DSN });
  assert.deepEqual(bytes, wire([
    ['nrequest', '0'], ['flags', '1'], ['queue_id', 'ABC123'],
    ['original_recipient', 'orig@example.net'], ['recipient', 'to@example.com'], ['offset', '4321'], ['dsn_orig_rcpt', 'rfc822;orig@example.net'], ['notify_flags', '6'],
    ['status', '5.1.1'], ['diag_type', 'smtp'], ['diag_text', '550 no'], ['mta_type', 'dns'], ['mta_mname', 'mx.example.com'], ['action', 'failed'], ['reason', 'host said: 550 no'],
  ]));
});

test('FLUSH/WARN/TRACE carry flags, queue_name, queue_id, encoding, smtputf8, sender, envelope_id, ret_flags; VERP and ONE add theirs', () => {
  const notify = { flags: 0, queueName: 'active', queueId: 'ABC123', encoding: '8bit', smtputf8: 0, sender: 's@example.net', dsnEnvid: 'E1', dsnRet: 2 };
  const head: Array<[string, string]> = [['flags', '0'], ['queue_name', 'active'], ['queue_id', 'ABC123'], ['encoding', '8bit'], ['smtputf8', '0'], ['sender', 's@example.net'], ['envelope_id', 'E1'], ['ret_flags', '2']];
  for (const command of [BOUNCE_CMD.FLUSH, BOUNCE_CMD.WARN, BOUNCE_CMD.TRACE] as const) {
    assert.deepEqual(BOUNCE_PROTOCOL.encodeRequest({ command, ...notify }), wire([['nrequest', String(command)], ...head]));
  }
  assert.deepEqual(BOUNCE_PROTOCOL.encodeRequest({ command: BOUNCE_CMD.VERP, ...notify, verpDelims: '+=' }), wire([['nrequest', '3'], ...head, ['verp_delimiters', '+=']]));
  const one = BOUNCE_PROTOCOL.encodeRequest({ command: BOUNCE_CMD.ONE, ...notify, rcpt: RCPT, dsn: DSN });
  const frame = decodeAttr0(one).frames[0]!;
  assert.deepEqual(frame.slice(0, 9).map((e) => ('name' in e ? e.name : '')), ['nrequest', ...head.map(([k]) => k)]);
  assert.equal(frame.length, 1 + 8 + 5 + 7);
  assert.deepEqual(BOUNCE_PROTOCOL.encodeReply({ status: -1 }, { command: BOUNCE_CMD.FLUSH, ...notify }), wire([['status', '4294967295']]));
});

test('every command decodes back to the request that was sent', () => {
  const notify = { flags: 3, queueName: 'deferred', queueId: 'XYZ', encoding: '', smtputf8: 1, sender: '', dsnEnvid: '', dsnRet: 0 };
  const reqs: BounceRequest[] = [
    { command: BOUNCE_CMD.APPEND, flags: 0, queueId: 'XYZ', rcpt: RCPT, dsn: DSN },
    { command: BOUNCE_CMD.FLUSH, ...notify },
    { command: BOUNCE_CMD.WARN, ...notify },
    { command: BOUNCE_CMD.TRACE, ...notify },
    { command: BOUNCE_CMD.VERP, ...notify, verpDelims: '+=' },
    { command: BOUNCE_CMD.ONE, ...notify, rcpt: RCPT, dsn: DSN },
  ];
  for (const r of reqs) {
    const d = BOUNCE_PROTOCOL.decodeRequest(decodeAttr0(BOUNCE_PROTOCOL.encodeRequest(r)).frames[0]!);
    assert.ok(d.ok);
    assert.deepEqual(d.value, r);
  }
  const bad = BOUNCE_PROTOCOL.decodeRequest(decodeAttr0(wire([['nrequest', '9'], ['flags', '0']])).frames[0]!);
  assert.deepEqual(bad, { ok: false, message: 'unknown command: 9' });
  const missing = BOUNCE_PROTOCOL.decodeRequest(decodeAttr0(wire([['nrequest', '1'], ['flags', '0']])).frames[0]!);
  assert.equal(missing.ok, false);
});

test('client: each call goes to its service with its command; status 0 is 0, anything else -1', async () => {
  const seen: Array<{ service: string; req: BounceRequest }> = [];
  let answer = 0;
  const endpoint = (service: string) => inProcessEndpoint(BOUNCE_PROTOCOL, (req) => {
    seen.push({ service, req });
    return { status: answer };
  });
  const opts = { queueDir: '/nonexistent', endpoint, timeoutMs: 5000 };
  assert.equal(await bounceLogAppend(opts, 'trace', 0, 'Q1', RCPT, DSN), 0);
  assert.equal(await bounceFlush(opts, 0, 'active', 'Q1', '', 0, 's@x', '', 0), 0);
  assert.equal(await deferFlush(opts, 0, 'active', 'Q1', '', 0, 's@x', '', 0), 0);
  assert.equal(await deferWarn(opts, 0, 'active', 'Q1', '', 0, 's@x', '', 0), 0);
  assert.equal(await traceFlush(opts, 0, 'active', 'Q1', '', 0, 's@x', '', 0), 0);
  assert.equal(await bounceOne(opts, 0, 'active', 'Q1', '', 0, 's@x', '', 0, RCPT, DSN), 0);
  assert.deepEqual(seen.map((s) => [s.service, s.req.command, s.req.flags]), [
    ['trace', BOUNCE_CMD.APPEND, 0], ['bounce', BOUNCE_CMD.FLUSH, 0], ['defer', BOUNCE_CMD.FLUSH, BOUNCE_FLAG.DELRCPT],
    ['defer', BOUNCE_CMD.WARN, 0], ['trace', BOUNCE_CMD.TRACE, 0], ['bounce', BOUNCE_CMD.ONE, 0],
  ]);
  answer = 1;
  const logs: string[] = [];
  msgSetSinks([{ write: (_s: string, text: string) => void logs.push(text) }]);
  try {
    assert.equal(await bounceFlush(opts, 0, 'active', 'Q2', '', 0, 's@x', '', 0), -1);
    assert.equal(await bounceFlush(opts, BOUNCE_FLAG.CLEAN, 'active', 'Q3', '', 0, 's@x', '', 0), -1);
    assert.deepEqual(logs, ['Q2: status=deferred (bounce failed)']);
  } finally {
    msgSetSinks([]);
  }
  assert.equal(await bounceLogAppend({ queueDir: '/nonexistent/queue', timeoutMs: 2000 }, 'bounce', 0, 'Q1', RCPT, DSN), -1, 'no server: -1');
});
