/*
 * smtpd_cleanup - the record stream smtpd sends to cleanup(8)
 *
 * What it does: mailOpenStream() is Postfix's mail_open_stream(): it
 * connects to the cleanup service (cleanup_clnt.ts) with the processing
 * flags (MASK_EXTERNAL without milters, minus receive_override_options,
 * plus SMTP_REPLY and SMTPUTF8 when asked), learns the queue id, writes
 * the envelope head exactly as Postfix 3.7's smtpd does (arrival time,
 * content_filter, log_ident, rewrite_context, SASL, DSN envid/ret,
 * sender, encoding, the log_* client attributes (XFORWARD values when
 * given) and the actual client_* attributes) and logs
 * "QUEUEID: client=name[addr]". rcptRecords() writes one recipient with
 * its DSN attributes (notify_flags, dsn_orig_rcpt). messageStart()
 * writes the end of the envelope (flags from access actions), the
 * PREPEND headers and the Received: header; contentRecord() one piece
 * of content; finishMessage() the extracted segment (FILTER, REDIRECT,
 * BCC from access actions) and END, and returns cleanup's verdict.
 *
 * A stand-alone session (sendmail -bs) writes the same records to
 * postdrop(1) instead (smtpd_postdrop.ts), without the client attributes.
 *
 * What it does not do: read the client (smtpd_data.ts / smtpd_bdat.ts)
 * or map cleanup's status to a reply (smtpdFinishReply does that).
 *
 * DIAGNOSTICS
 * A cleanup service that cannot be reached: warning and
 * "451 4.3.0 Error: queue file write error".
 */
import { msgInfo, msgWarn } from '../util/msg.js';
import { CLEANUP_CLNT_BUFFER, cleanupOpen } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT, cleanupStatDetail } from '../global/cleanup_user.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { REC_TYPE } from '../global/rec_type.js';
import { DSN_NOTIFY } from './smtpd_dsn.js';
import { postdropOpen } from './smtpd_postdrop.js';
import { receivedHeader } from './smtpd_received.js';
import type { SmtpdSession } from './smtpd_session.js';

/** The forwarded (XFORWARD) value when the client sent any XFORWARD, else the real one. */
function fwd<T>(s: SmtpdSession, forwarded: T, real: T): T {
  return s.state.xforwardUsed ? forwarded : real;
}

/** Connects to cleanup and writes the envelope head; false after an error reply. */
export async function mailOpenStream(s: SmtpdSession): Promise<boolean> {
  const st = s.state;
  const srv = s.server;
  const flags = srv.cleanupFlags | (st.smtputf8 ? CLEANUP_FLAG.SMTPUTF8 : 0);
  const r = st.standAlone
    ? await postdropOpen(srv.config)
    : await cleanupOpen({ queueDir: srv.queueDir, service: srv.cleanupService, flags, ...(srv.cleanupEndpoint ? { endpoint: srv.cleanupEndpoint } : {}) });
  if (!r.ok) {
    msgWarn(st.standAlone ? `unable to execute postdrop: ${r.reason}` : `unable to connect to the public ${srv.cleanupService} service: ${r.reason}`);
    const d = cleanupStatDetail(CLEANUP_STAT.WRITE);
    await s.reply(`${d.smtp} ${d.dsn} Error: ${d.text}`);
    return false;
  }
  const c = r.session;
  s.cleanup = c;
  st.queueId = c.queueId;
  const xf = st.xforward;
  if (!st.standAlone) {
    c.record(REC_TYPE.TIME, `${s.arrival.sec} ${s.arrival.usec}`);
    if (srv.contentFilter) c.record(REC_TYPE.FILT, srv.contentFilter);
    c.attr(MAIL_ATTR.LOG_IDENT, xf.ident ?? c.queueId);
    c.attr(MAIL_ATTR.RWR_CONTEXT, xf.domain ?? st.rewriteContext);
    if (st.saslMethod) c.attr(MAIL_ATTR.SASL_METHOD, st.saslMethod);
    if (st.saslUsername) c.attr(MAIL_ATTR.SASL_USERNAME, st.saslUsername);
    if (st.saslSender) c.attr(MAIL_ATTR.SASL_SENDER, st.saslSender);
    if (st.dsnEnvid !== null) c.attr(MAIL_ATTR.DSN_ENVID, st.dsnEnvid);
    if (st.dsnRet) c.attr(MAIL_ATTR.DSN_RET, String(st.dsnRet));
  }
  c.record(REC_TYPE.FROM, st.sender ?? '');
  if (st.encoding !== null) c.attr(MAIL_ATTR.ENCODING, st.encoding);
  if (!st.standAlone) {
    c.attr(MAIL_ATTR.LOG_CLIENT_NAME, fwd(s, xf.name ?? 'unknown', st.name));
    c.attr(MAIL_ATTR.LOG_CLIENT_ADDR, fwd(s, xf.rfcAddr ?? 'unknown', st.rfcAddr));
    c.attr(MAIL_ATTR.LOG_CLIENT_PORT, fwd(s, xf.port ?? 'unknown', st.port));
    c.attr(MAIL_ATTR.LOG_ORIGIN, fwd(s, xf.namaddr ?? 'unknown[unknown]', st.namaddr));
    const helo = fwd(s, xf.heloName, st.heloName);
    if (helo !== null) c.attr(MAIL_ATTR.LOG_HELO_NAME, helo);
    c.attr(MAIL_ATTR.LOG_PROTO_NAME, fwd(s, xf.protocol ?? 'unknown', st.protocol));
    c.attr(MAIL_ATTR.ACT_CLIENT_NAME, st.name);
    c.attr(MAIL_ATTR.ACT_REVERSE_CLIENT_NAME, st.reverseName);
    c.attr(MAIL_ATTR.ACT_CLIENT_ADDR, st.addr);
    c.attr(MAIL_ATTR.ACT_CLIENT_PORT, st.port);
    if (st.destAddr) c.attr(MAIL_ATTR.ACT_SERVER_ADDR, st.destAddr);
    if (st.destPort) c.attr(MAIL_ATTR.ACT_SERVER_PORT, st.destPort);
    if (st.heloName !== null) c.attr(MAIL_ATTR.ACT_HELO_NAME, st.heloName);
    c.attr(MAIL_ATTR.ACT_PROTO_NAME, st.protocol);
    c.attr(MAIL_ATTR.ACT_CLIENT_AF, String(st.addrFamily === 6 ? 10 : st.addrFamily === 4 ? 2 : 0));
  }
  if (st.verpDelims) c.record(REC_TYPE.VERP, st.verpDelims);
  let log = `${c.queueId}: client=${st.namaddr}`;
  if (st.saslUsername) {
    log += `, sasl_method=${st.saslMethod ?? ''}, sasl_username=${st.saslUsername}`;
    if (st.saslSender) log += `, sasl_sender=${st.saslSender}`;
  }
  if (xf.ident !== null) log += `, orig_queue_id=${xf.ident}`;
  if (s.state.xforwardUsed && (xf.name !== null || xf.addr !== null || xf.port !== null || xf.protocol !== null || xf.heloName !== null)) {
    log += `, orig_client=${xf.namaddr ?? 'unknown[unknown]'}`;
  }
  msgInfo(log);
  return true;
}

/** One accepted recipient with its DSN attributes. */
export async function rcptRecords(s: SmtpdSession, rcpt: string, notify: number, orcptType: string, orcptAddr: string): Promise<void> {
  const c = s.cleanup;
  if (!c) return;
  if (notify) c.attr(MAIL_ATTR.DSN_NOTIFY, String(notify));
  c.attr(MAIL_ATTR.DSN_ORCPT, `${orcptType};${orcptAddr}`);
  c.record(REC_TYPE.RCPT, rcpt);
  // Records go out with the content; only a long recipient list is sent ahead (one write fewer per message).
  if (c.buffered >= CLEANUP_CLNT_BUFFER) await c.drain();
}

/** End of envelope, PREPEND headers, Received: header. */
export function messageStart(s: SmtpdSession): void {
  const c = s.cleanup;
  const st = s.state;
  if (!c) return;
  if (!st.standAlone && st.savedFlags) c.record(REC_TYPE.FLGS, String(st.savedFlags));
  c.record(REC_TYPE.MESG, '');
  for (const h of st.prependHeaders) c.record(REC_TYPE.NORM, h);
  const lines = receivedHeader({
    heloName: st.heloName,
    name: st.name,
    rfcAddr: st.rfcAddr,
    myhostname: s.server.myhostname,
    mailName: s.server.mailName,
    protocol: st.protocol,
    smtputf8: st.smtputf8,
    authenticated: st.saslUsername !== null,
    tls: st.tlsActive,
    queueId: st.queueId,
    rcptCount: st.rcptCount,
    recipient: st.recipient,
    arrivalSec: s.arrival.sec,
  });
  for (const l of lines) c.record(REC_TYPE.NORM, l);
}

/** Extracted segment and END; returns cleanup's status and reason (or the local error). */
export async function finishMessage(s: SmtpdSession): Promise<{ status: number; reason: string }> {
  const c = s.cleanup;
  const st = s.state;
  s.cleanup = null;
  if (!c) return { status: s.err || CLEANUP_STAT.WRITE, reason: '' };
  if (s.err !== CLEANUP_STAT.OK) {
    c.abort();
    return { status: s.err, reason: '' };
  }
  c.record(REC_TYPE.XTRA, '');
  if (st.savedFilter) c.record(REC_TYPE.FILT, st.savedFilter);
  if (st.savedRedirect) c.record(REC_TYPE.RDR, st.savedRedirect);
  for (const b of st.savedBcc) {
    c.record(REC_TYPE.RCPT, b);
    c.attr(MAIL_ATTR.DSN_NOTIFY, String(DSN_NOTIFY.NEVER));
  }
  if (st.savedFlags) c.record(REC_TYPE.FLGS, String(st.savedFlags));
  const r = await c.end();
  if (r.status !== CLEANUP_STAT.OK && c.error) msgWarn(`${c.queueId}: ${c.error}`);
  return r;
}
