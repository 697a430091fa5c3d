/*
 * local_forward - resubmit mail for forwarded recipients (Postfix local/forward.c, local/indirect.c)
 *
 * What it does: deliverIndirect() queues a recipient that must be
 * forwarded (a non-local address from an alias or .forward, or a local
 * one under an owner or from an :include: file) into the pending forwards
 * of the current top-level recipient, keyed by Delivered-To address and
 * envelope sender (the owner- alias may have changed the sender).
 * forwardFinish() then submits one new message per key through cleanup
 * (CLEANUP_FLAG BOUNCE | MASK_INTERNAL, as Postfix): arrival time, sender,
 * DSN envelope attributes, client attributes, the recipients, and the
 * content with "Received: by myhostname (mail_name)" "id QUEUEID; date"
 * and "Delivered-To: ADDR" (with "forward" in prepend_delivered_header)
 * in front of the original content records. Success is reported for the
 * top-level recipient: "forwarded as NEWID" (relayed).
 *
 * What it does not do: loop detection (local_recipient.ts checks
 * Delivered-To: before it gets here).
 *
 * DIAGNOSTICS
 * A cleanup that cannot be reached or refuses the message defers the
 * recipient ("unable to forward message" / the cleanup reason, 4.3.0).
 */
import { openSync, closeSync } from 'node:fs';
import { cleanupOpen } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, cleanupStrerror } from '../global/cleanup_user.js';
import { contentRecords } from '../global/mail_copy.js';
import { dsnMake } from '../global/dsn.js';
import { delReqTraceOnly } from '../global/deliver_request.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { mailDate } from '../global/mail_date.js';
import { REC_TYPE } from '../global/rec_type.js';
import { msgWarn } from '../util/msg.js';
import type { Recipient } from '../global/recipient_list.js';
import { DELIVER_HDR } from './local_params.js';
import { type LocalEnv, type LocalState, reportDefer, reportSent } from './local_state.js';
import { notifyWithoutSuccess } from './local_alias.js';

/** Bound on one cleanup exchange while forwarding. */
export const FORWARD_TIMEOUT_MS = 300 * 1000;

export async function deliverIndirect(env: LocalEnv, s: LocalState): Promise<number> {
  if (delReqTraceOnly(env.req.flags)) return reportSent(env, s, '2.0.0', `forwards to ${s.msg.rcpt.address}`);
  const delivered = (s.msg.delivered ?? s.msg.rcpt.address).toLowerCase();
  let bySender = env.forwards.get(delivered);
  if (!bySender) env.forwards.set(delivered, (bySender = new Map()));
  let list = bySender.get(s.msg.sender);
  if (!list) bySender.set(s.msg.sender, (list = []));
  list.push({ ...s.msg.rcpt });
  return 0;
}

/** Sends the pending forwards of one top-level recipient; cancel (non-zero) drops them. */
export async function forwardFinish(env: LocalEnv, top: LocalState, cancel: number): Promise<number> {
  let status = cancel;
  const pending = env.forwards;
  env.forwards = new Map();
  for (const [delivered, bySender] of pending) {
    for (const [sender, rcpts] of bySender) {
      if (status !== 0) continue;
      status |= await forwardSend(env, top, delivered, sender, rcpts);
    }
  }
  return status;
}

async function forwardSend(env: LocalEnv, top: LocalState, delivered: string, sender: string, rcpts: Recipient[]): Promise<number> {
  const req = env.req;
  const p = env.params;
  const opened = await cleanupOpen({
    queueDir: p.queueDirectory,
    flags: CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG.MASK_INTERNAL,
    service: p.cleanupService,
    timeoutMs: FORWARD_TIMEOUT_MS,
    ...(env.cleanupEndpoint ? { endpoint: env.cleanupEndpoint } : {}),
  });
  if (!opened.ok) {
    msgWarn(`${req.queueId}: ${opened.reason}`);
    return reportDefer(env, top, dsnMake('4.3.0', 'unable to forward message'));
  }
  const c = opened.session;
  const now = Date.now();
  c.record(REC_TYPE.TIME, `${Math.floor(now / 1000)} ${(now % 1000) * 1000}`);
  c.record(REC_TYPE.FROM, sender);
  if (top.msg.dsnRet) c.attr(MAIL_ATTR.DSN_RET, String(top.msg.dsnRet));
  if (top.msg.dsnEnvid) c.attr(MAIL_ATTR.DSN_ENVID, top.msg.dsnEnvid);
  const pass: Array<[string, string]> = [
    [MAIL_ATTR.LOG_CLIENT_NAME, req.clientName],
    [MAIL_ATTR.LOG_CLIENT_ADDR, req.clientAddr],
    [MAIL_ATTR.LOG_PROTO_NAME, req.clientProto],
    [MAIL_ATTR.LOG_HELO_NAME, req.clientHelo],
    [MAIL_ATTR.SASL_METHOD, req.saslMethod],
    [MAIL_ATTR.SASL_USERNAME, req.saslUsername],
    [MAIL_ATTR.SASL_SENDER, req.saslSender],
    [MAIL_ATTR.LOG_IDENT, req.logIdent],
    [MAIL_ATTR.RWR_CONTEXT, req.rewriteContext],
  ];
  for (const [k, v] of pass) if (v) c.attr(k, v);
  for (const r of rcpts) {
    if (r.dsnOrcpt) c.attr(MAIL_ATTR.DSN_ORCPT, r.dsnOrcpt);
    if (r.dsnNotify) c.attr(MAIL_ATTR.DSN_NOTIFY, String(r.dsnNotify));
    if (r.origAddress) c.record(REC_TYPE.ORCP, r.origAddress);
    c.record(REC_TYPE.RCPT, r.address);
  }
  c.record(REC_TYPE.MESG, '');
  c.record(REC_TYPE.NORM, `Received: by ${p.myhostname} (${p.mailName})`);
  c.record(REC_TYPE.NORM, `\tid ${c.queueId}; ${mailDate(Math.floor(now / 1000))}`);
  if (p.deliverHdrMask & DELIVER_HDR.FWD) c.record(REC_TYPE.NORM, `Delivered-To: ${delivered}`);
  let corrupt: string | null = null;
  let fd = -1;
  try {
    fd = openSync(env.queueFilePath, 'r');
    for (const r of contentRecords(fd, env.queueFilePath, req.dataOffset)) {
      if (r.kind === 'error') {
        corrupt = r.message;
        break;
      }
      if (r.kind === 'end') break;
      c.record(r.type, r.data);
      await c.drain();
    }
  } catch (e) {
    corrupt = String((e as Error).message);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (corrupt !== null) {
    msgWarn(`${c.queueId}: ${corrupt}`);
    c.abort();
    return -1;
  }
  c.record(REC_TYPE.XTRA, '');
  const reply = await c.end();
  if (reply.status !== 0) {
    msgWarn(`${req.queueId}: forward via cleanup: ${reply.reason || cleanupStrerror(reply.status)}`);
    return reportDefer(env, top, dsnMake('4.3.0', 'unable to forward message'));
  }
  const rcpt = { ...top.msg.rcpt, dsnNotify: notifyWithoutSuccess(top.msg.rcpt.dsnNotify) };
  return env.report.sent(req, rcpt, env.service, dsnMake('2.0.0', `forwarded as ${c.queueId}`, { action: 'relayed' }));
}
