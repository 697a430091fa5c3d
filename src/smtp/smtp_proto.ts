/*
 * smtp_proto - the SMTP/LMTP conversation for one delivery request (Postfix smtp_proto.c, smtp_rcpt.c)
 *
 * What it does: smtpHelo() reads the greeting (a 5xx counts as 4xx when
 * smtp_skip_5xx_greeting is on), says EHLO (or LHLO, or HELO when
 * smtp_never_send_ehlo is set, the greeting lacks "ESMTP" and
 * smtp_always_send_ehlo is off, or EHLO is refused) and records the
 * server's PIPELINING, SIZE, 8BITMIME, SMTPUTF8 and DSN keywords.
 * smtpXfer() sends MAIL FROM (SIZE=, BODY=8BITMIME/7BIT, SMTPUTF8, ENVID=,
 * RET=), one RCPT TO per recipient (NOTIFY=, ORCPT=), DATA, the content
 * (downgraded to quoted-printable when the server lacks 8BITMIME) and
 * ".", pipelined when the server announced PIPELINING; it reads the
 * replies in order and reports each recipient: SMTP's single end-of-data
 * reply, or LMTP's one reply per accepted recipient. smtpQuit() says
 * QUIT (waiting for the reply only when smtp_skip_quit_response = no).
 * An address probe (sendmail -bv, address verification: a trace-only
 * request) reports each accepted RCPT TO and ends with RSET, no DATA.
 * Failures go through smtp_trouble.ts with Postfix's reasons: "host
 * X[addr] said: 550 ... (in reply to RCPT TO command)", "host X[addr]
 * refused to talk to me: ...", "message size N exceeds size limit M of
 * server X[addr]", "SMTPUTF8 is required, but was not offered by host
 * X[addr]".
 *
 * smtpXfer() tells how it left the session (between transactions, maybe
 * inside one, or dead) so that a cached session can be ended with
 * smtpRset() ("final RSET") before its next use.
 *
 * What it does not do: connect, choose servers or cache sessions
 * (smtp_connect.ts), STARTTLS, AUTH, XFORWARD, or the 452 "too many
 * recipients" retry in a second transaction.
 *
 * DIAGNOSTICS
 * Everything is reported per recipient or per session through
 * smtp_trouble.ts; a broken connection is a SmtpStreamError handled there.
 */
import { delReqTraceOnly } from '../global/deliver_request.js';
import { DSN_NOTIFY, DSN_RET } from '../global/dsn.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { quote821Local } from '../global/quote_821_local.js';
import type { Recipient } from '../global/recipient_list.js';
import { type SmtpChat, SmtpStreamError, type SmtpResp } from './smtp_chat.js';
import { type ContentRecord, sendContent } from './smtp_content.js';
import type { CachedSession } from './smtp_session_cache.js';
import { SMTP_MODE } from './smtp_params.js';
import { type SessionInfo, type SmtpState, RCPT_MARK, unmarked, whySimple } from './smtp_state.js';
import { mesgFail, oneLine, rcptFail, sessFail, siteFail, streamExcept } from './smtp_trouble.js';
import { reportSent } from './smtp_status.js';

/** Server features from the EHLO/LHLO reply (Postfix SMTP_FEATURE_*). */
export interface SmtpFeatures {
  esmtp: boolean;
  pipelining: boolean;
  /** SIZE: 0 when announced without a limit, -1 when not announced. */
  size: number;
  eightBitMime: boolean;
  smtputf8: boolean;
  dsn: boolean;
}

/** SMTPUTF8 bits of a request (Postfix smtputf8.h). */
export const SMTPUTF8_FLAG = { REQUESTED: 1 << 0, HEADER: 1 << 1, SENDER: 1 << 2, RECIPIENT: 1 << 3 } as const;

/** A session after its handshake; between transactions it may wait in the session cache. */
export interface SmtpSession extends CachedSession {
  info: SessionInfo;
  chat: SmtpChat;
  features: SmtpFeatures;
  /**
   * Until when the connection may be reused (connect time plus
   * smtp_connection_reuse_time_limit), ms; 0: it is not to be cached
   * (Postfix expire_time).
   */
  expireAt: number;
  /** Times it was taken from the cache (Postfix reuse_count). */
  reuseCount: number;
}

/**
 * How a transaction left the session: 'idle' between transactions, 'open'
 * when a transaction may still be open (RSET before reuse), 'dead' after a
 * timeout or a lost connection.
 */
export type XferEnd = 'idle' | 'open' | 'dead';

export function parseEhloReply(resp: SmtpResp): SmtpFeatures {
  const f: SmtpFeatures = { esmtp: true, pipelining: false, size: -1, eightBitMime: false, smtputf8: false, dsn: false };
  for (const line of resp.lines.slice(1)) {
    const words = line.trim().split(/\s+/);
    const kw = (words[0] ?? '').toUpperCase();
    if (kw === 'PIPELINING') f.pipelining = true;
    else if (kw === '8BITMIME') f.eightBitMime = true;
    else if (kw === 'SMTPUTF8') f.smtputf8 = true;
    else if (kw === 'DSN') f.dsn = true;
    else if (kw === 'SIZE') f.size = words[1] && /^\d+$/.test(words[1]) ? Number(words[1]) : 0;
  }
  return f;
}

/** RFC 3461 xtext. */
export function xtext(text: string): string {
  let out = '';
  for (const ch of Buffer.from(text, 'utf8')) {
    out += ch < 33 || ch > 126 || ch === 0x2b || ch === 0x3d ? `+${ch.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(ch);
  }
  return out;
}

/** No CR, LF or NUL can reach the wire inside a command. */
function safe(text: string): string {
  return text.replace(/[\r\n\0]/g, '?');
}

const said = (s: SessionInfo, r: SmtpResp, cmd: string): string => `host ${s.namaddr} said: ${oneLine(r.str)} (in reply to ${cmd} command)`;

/** Greeting and EHLO/LHLO/HELO. Returns the features, or null after reporting trouble. */
export async function smtpHelo(state: SmtpState, chat: SmtpChat, info: SessionInfo): Promise<SmtpFeatures | null> {
  const p = state.params;
  const lmtp = p.mode === SMTP_MODE.LMTP;
  let stage = 'receiving the initial server greeting';
  try {
    const greet = await chat.reply(p.heloTimeoutMs, stage);
    if (Math.floor(greet.code / 100) !== 2) {
      if (p.skip5xxGreeting && Math.floor(greet.code / 100) === 5) greet.dsn = `4${greet.dsn.slice(1)}`;
      await siteFail(state, info.host, greet, `host ${info.namaddr} refused to talk to me: ${oneLine(greet.str)}`);
      return null;
    }
    const ehloOk = lmtp || (!p.neverSendEhlo && (p.alwaysSendEhlo || /\bESMTP\b/i.test(greet.str)));
    if (ehloOk) {
      const verb = lmtp ? 'LHLO' : 'EHLO';
      stage = `performing the ${verb} handshake`;
      chat.command(safe(`${verb} ${p.heloName}`));
      const r = await chat.reply(p.heloTimeoutMs, stage);
      if (Math.floor(r.code / 100) === 2) {
        if (!lmtp && info.port === 25 && (r.lines[0] ?? '').split(/\s+/)[0]?.toLowerCase() === p.myhostname.toLowerCase()) {
          await sessFail(state, whySimple('5.4.6', `mail for ${state.req.nexthop} loops back to myself`));
          return null;
        }
        return parseEhloReply(r);
      }
      if (r.code === 421 || lmtp) {
        await siteFail(state, info.host, r, `host ${info.namaddr} refused to talk to me: ${oneLine(r.str)}`);
        return null;
      }
    }
    stage = 'performing the HELO handshake';
    chat.command(safe(`HELO ${p.heloName}`));
    const r = await chat.reply(p.heloTimeoutMs, stage);
    if (Math.floor(r.code / 100) !== 2) {
      await siteFail(state, info.host, r, `host ${info.namaddr} refused to talk to me: ${oneLine(r.str)}`);
      return null;
    }
    return { esmtp: false, pipelining: false, size: -1, eightBitMime: false, smtputf8: false, dsn: false };
  } catch (err) {
    if (err instanceof SmtpStreamError) {
      await streamExcept(state, err.kind, stage);
      return null;
    }
    throw err;
  }
}

function mailFromCommand(state: SmtpState, f: SmtpFeatures): string {
  const req = state.req;
  const q = (a: string): string => (a === '' ? '' : state.params.quoteRfc821Envelope ? quote821Local(a) : a);
  let cmd = `MAIL FROM:<${q(req.sender)}>`;
  if (f.size >= 0 && req.dataSize > 0) cmd += ` SIZE=${req.dataSize}`;
  if (f.eightBitMime) {
    if (req.encoding === MAIL_ATTR.ENC_8BIT) cmd += ' BODY=8BITMIME';
    else if (req.encoding === MAIL_ATTR.ENC_7BIT) cmd += ' BODY=7BIT';
  }
  if ((req.smtputf8 & SMTPUTF8_FLAG.REQUESTED) !== 0 && f.smtputf8) cmd += ' SMTPUTF8';
  if (f.dsn) {
    if (req.dsnEnvid !== '') cmd += ` ENVID=${xtext(req.dsnEnvid)}`;
    if (req.dsnRet & DSN_RET.FULL) cmd += ' RET=FULL';
    else if (req.dsnRet & DSN_RET.HDRS) cmd += ' RET=HDRS';
  }
  return safe(cmd);
}

function rcptToCommand(state: SmtpState, f: SmtpFeatures, r: Recipient): string {
  const addr = state.params.quoteRfc821Envelope ? quote821Local(r.address) : r.address;
  let cmd = `RCPT TO:<${addr}>`;
  if (f.dsn) {
    // ORCPT first, then NOTIFY, as Postfix's smtp sends them.
    const semi = r.dsnOrcpt.indexOf(';');
    if (r.dsnOrcpt !== '' && semi > 0) cmd += ` ORCPT=${r.dsnOrcpt.slice(0, semi)};${xtext(r.dsnOrcpt.slice(semi + 1))}`;
    else if (r.origAddress !== '') cmd += ` ORCPT=rfc822;${xtext(quote821Local(r.origAddress))}`;
    if (r.dsnNotify !== 0) {
      if (r.dsnNotify & DSN_NOTIFY.NEVER) cmd += ' NOTIFY=NEVER';
      else {
        const words: string[] = [];
        if (r.dsnNotify & DSN_NOTIFY.SUCCESS) words.push('SUCCESS');
        if (r.dsnNotify & DSN_NOTIFY.FAILURE) words.push('FAILURE');
        if (r.dsnNotify & DSN_NOTIFY.DELAY) words.push('DELAY');
        cmd += ` NOTIFY=${words.join(',')}`;
      }
    }
  }
  return safe(cmd);
}

async function rcptDone(state: SmtpState, s: SmtpSession, r: Recipient, resp: SmtpResp): Promise<void> {
  const lmtp = state.params.mode === SMTP_MODE.LMTP;
  const action = !lmtp && !s.features.dsn && r.dsnNotify & DSN_NOTIFY.SUCCESS ? 'relayed' : '';
  state.req.msgStats.deliverDone = Date.now();
  const dsn = { status: resp.dsn, action, reason: oneLine(resp.str), dtype: 'smtp', dtext: resp.str, mtype: 'dns', mname: s.info.host };
  state.status |= await reportSent(state.report, r, s.info.namaddrport, dsn);
  state.marks.set(r, RCPT_MARK.DROP);
}

/** One mail transaction over an established session. */
export async function smtpXfer(state: SmtpState, s: SmtpSession, content: ContentRecord[], limits: { nestingLimit: number; headerLimit: number }): Promise<XferEnd> {
  const p = state.params;
  const req = state.req;
  const f = s.features;
  const info = s.info;
  const chat = s.chat;
  const lmtp = p.mode === SMTP_MODE.LMTP;
  if (f.size > 0 && req.dataSize > f.size) {
    await mesgFail(state, null, { code: 552, dsn: '5.3.4', str: '', lines: [] }, `message size ${req.dataSize} exceeds size limit ${f.size} of server ${info.namaddr}`);
    return 'idle';
  }
  if ((req.smtputf8 & SMTPUTF8_FLAG.REQUESTED) !== 0 && !f.smtputf8 && (req.smtputf8 & ~SMTPUTF8_FLAG.REQUESTED) !== 0) {
    await mesgFail(state, null, { code: 554, dsn: '5.6.7', str: '', lines: [] }, `SMTPUTF8 is required, but was not offered by host ${info.namaddr}`);
    return 'idle';
  }
  const downgrade = !p.disableMimeOutputConversion && !f.eightBitMime && req.encoding !== MAIL_ATTR.ENC_7BIT;
  const rcpts = unmarked(state);
  const accepted: Recipient[] = [];
  let stage = 'sending MAIL FROM';
  let mailOk = true;
  try {
    // Commands and how to read their replies, in order.
    // An address probe (trace-only request) ends with RSET instead of DATA, as Postfix.
    const traceOnly = delReqTraceOnly(req.flags) !== 0;
    type Step = { kind: 'mail' } | { kind: 'rcpt'; r: Recipient } | { kind: 'data' } | { kind: 'rset' };
    const steps: Step[] = [{ kind: 'mail' }, ...rcpts.map((r) => ({ kind: 'rcpt' as const, r })), traceOnly ? { kind: 'rset' } : { kind: 'data' }];
    const cmdOf = (st: Step): string => (st.kind === 'mail' ? mailFromCommand(state, f) : st.kind === 'rcpt' ? rcptToCommand(state, f, st.r) : st.kind === 'rset' ? 'RSET' : 'DATA');
    const timeoutOf = (st: Step): number =>
      st.kind === 'mail' ? p.mailTimeoutMs : st.kind === 'rcpt' ? p.rcptTimeoutMs : st.kind === 'rset' ? p.rsetTimeoutMs : p.dataInitTimeoutMs;
    const stageOf = (st: Step): string =>
      st.kind === 'mail' ? 'sending MAIL FROM' : st.kind === 'rcpt' ? 'sending RCPT TO' : st.kind === 'rset' ? 'sending RSET' : 'sending DATA command';
    if (f.pipelining) for (const st of steps) chat.command(cmdOf(st));
    let dataResp: SmtpResp | null = null;
    let rsetOk = false;
    for (const st of steps) {
      stage = stageOf(st);
      if (!f.pipelining) {
        // Without pipelining, stop early as Postfix does.
        if (!mailOk || (st.kind !== 'mail' && st.kind !== 'rcpt' && accepted.length === 0)) break;
        chat.command(cmdOf(st));
      }
      const resp = await chat.reply(timeoutOf(st), stage);
      if (st.kind === 'mail') {
        if (Math.floor(resp.code / 100) !== 2) {
          mailOk = false;
          await mesgFail(state, info.host, resp, said(info, resp, 'MAIL FROM'));
        }
      } else if (st.kind === 'rcpt') {
        if (!mailOk || state.marks.has(st.r)) continue;
        if (Math.floor(resp.code / 100) === 2) {
          accepted.push(st.r);
          if (traceOnly) await rcptDone(state, s, st.r, resp);
        } else await rcptFail(state, st.r, info.host, resp, said(info, resp, 'RCPT TO'));
      } else if (st.kind === 'data') {
        dataResp = resp;
      } else {
        rsetOk = Math.floor(resp.code / 100) === 2;
      }
    }
    if (dataResp === null) return rsetOk ? 'idle' : 'open';
    if (Math.floor(dataResp.code / 100) !== 3) {
      if (mailOk && accepted.length > 0) await mesgFail(state, info.host, dataResp, said(info, dataResp, 'DATA'));
      return 'open';
    }
    if (!mailOk || accepted.length === 0) {
      // The server wants content nobody will get: end it empty.
      stage = 'sending end of data -- message may be sent more than once';
      chat.command('.');
      await chat.reply(p.dataDoneTimeoutMs, stage);
      return 'idle';
    }
    stage = 'sending message body';
    await sendContent(content, { lineLimit: p.lineLengthLimit, downgrade, ...limits }, async (chunk) => {
      chat.raw(chunk);
      await chat.flush(p.dataXferTimeoutMs, 'sending message body');
    });
    stage = 'sending end of data -- message may be sent more than once';
    chat.command('.');
    if (!lmtp) {
      const resp = await chat.reply(p.dataDoneTimeoutMs, stage);
      if (Math.floor(resp.code / 100) !== 2) {
        await mesgFail(state, info.host, resp, said(info, resp, 'end of DATA'));
        return 'idle';
      }
      for (const r of accepted) await rcptDone(state, s, r, resp);
      return 'idle';
    }
    for (const r of accepted) {
      const resp = await chat.reply(p.dataDoneTimeoutMs, stage);
      if (Math.floor(resp.code / 100) === 2) await rcptDone(state, s, r, resp);
      else await rcptFail(state, r, info.host, resp, said(info, resp, 'end of DATA'));
    }
    return 'idle';
  } catch (err) {
    if (err instanceof SmtpStreamError) {
      await streamExcept(state, err.kind, stage);
      return 'dead';
    }
    throw err;
  }
}

/**
 * RSET after a transaction that did not finish, so that a session can be
 * cached (Postfix's "final RSET"). False when the server does not take it;
 * the recipients are already reported, so nothing else is.
 */
export async function smtpRset(state: SmtpState, chat: SmtpChat): Promise<boolean> {
  try {
    chat.command('RSET');
    const resp = await chat.reply(state.params.rsetTimeoutMs, 'sending final RSET');
    return Math.floor(resp.code / 100) === 2;
  } catch {
    return false;
  }
}

/** QUIT, best effort: errors after the transaction change nothing. */
export async function smtpQuit(state: SmtpState, chat: SmtpChat): Promise<void> {
  if (chat.broken) return;
  try {
    chat.command('QUIT');
    if (state.params.skipQuitResponse) await chat.flush(state.params.quitTimeoutMs, 'sending QUIT');
    else await chat.reply(state.params.quitTimeoutMs, 'sending QUIT');
  } catch {
    /* the mail is already reported */
  }
}
