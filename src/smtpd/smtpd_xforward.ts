/*
 * smtpd_xforward - XFORWARD: an upstream MTA or filter passes the original client's attributes
 *
 * What it does: xforwardCmd() accepts XFORWARD from hosts in
 * smtpd_authorized_xforward_hosts (decided at connect) outside a mail
 * transaction. NAME, ADDR, PORT, PROTO, HELO, IDENT and SOURCE
 * (LOCAL/REMOTE) are xtext-decoded, made printable, checked and kept for
 * the next transaction only: they become the log_* attributes and
 * rewrite context that smtpd sends to cleanup, and the orig_client= /
 * orig_queue_id= parts of the "client=" log line. The session's own
 * identity (restrictions, Received: header) does not change.
 *
 * What it does not do: anything after the transaction (mail_reset
 * forgets the attributes, as Postfix does).
 *
 * DIAGNOSTICS
 * Replies: 503, 501 (syntax, bad name or value), 550 5.7.0.
 */
import { validHostname, validMailhostAddr } from '../util/valid_hostname.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import type { SmtpdSession } from './smtpd_session.js';
import { CLIENT_UNKNOWN } from './smtpd_state.js';
import { allDigits, neuter, type SmtpdToken } from './smtpd_token.js';
import { xattr } from './smtpd_xclient.js';

export const XFORWARD_UNAVAILABLE = '[UNAVAILABLE]';
/** Longest PROTO value (Postfix). */
const PROTO_MAX = 64;

/** What XCLIENT and XFORWARD both check first: no transaction, some attributes, an authorized client. */
export async function xcommandAllowed(s: SmtpdSession, args: SmtpdToken[], verb: 'XCLIENT' | 'XFORWARD', allowed: boolean): Promise<boolean> {
  if (s.state.sender !== null) {
    await s.reply('503 5.5.1 Error: MAIL transaction in progress');
    return false;
  }
  if (args.length < 2) {
    await s.reply(`501 5.5.4 Syntax: ${verb} attribute=value...`);
    return false;
  }
  if (!allowed) {
    await s.reply('550 5.7.0 Error: insufficient authorization');
    return false;
  }
  return true;
}

export async function xforwardCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const st = s.state;
  if (!(await xcommandAllowed(s, args, 'XFORWARD', s.xforwardAllowed))) return false;
  const xf = st.xforward;
  if (!st.xforwardUsed) {
    xf.name = CLIENT_UNKNOWN.NAME;
    xf.addr = CLIENT_UNKNOWN.ADDR;
    xf.port = CLIENT_UNKNOWN.PORT;
    xf.namaddr = 'unknown[unknown]';
    xf.rfcAddr = CLIENT_UNKNOWN.ADDR;
    xf.protocol = 'unknown';
  }
  const bad = async (attr: string, value: string): Promise<false> => {
    await s.reply(`501 5.5.4 Bad ${attr} syntax: ${value}`);
    return false;
  };
  let nameOrAddr = false;
  for (const tok of args.slice(1)) {
    const a = xattr(tok, s.server.smtputf8Enable);
    if ('error' in a) {
      await s.reply(a.error);
      return false;
    }
    const name = a.name.toUpperCase();
    let value = a.value;
    const unavailable = value.toUpperCase() === XFORWARD_UNAVAILABLE;
    if (name === 'NAME') {
      if (unavailable) value = CLIENT_UNKNOWN.NAME;
      else {
        value = neuter(value);
        if (!validHostname(value)) return bad(name, value);
      }
      xf.name = value;
      nameOrAddr = true;
    } else if (name === 'ADDR') {
      let bare: string | null;
      if (unavailable) bare = value = CLIENT_UNKNOWN.ADDR;
      else {
        value = neuter(value);
        bare = validMailhostAddr(value);
        if (bare === null) return bad(name, value);
      }
      xf.addr = bare;
      xf.rfcAddr = value;
      nameOrAddr = true;
    } else if (name === 'PORT') {
      if (unavailable) value = CLIENT_UNKNOWN.PORT;
      else if (!allDigits(value) || value.length > 5) return bad(name, value);
      xf.port = value;
    } else if (name === 'HELO') {
      xf.heloName = unavailable ? 'unknown' : neuter(value);
    } else if (name === 'PROTO') {
      if (unavailable) value = 'unknown';
      else {
        if (value.length > PROTO_MAX) return bad(name, value);
        value = neuter(value);
      }
      xf.protocol = value;
    } else if (name === 'IDENT') {
      xf.ident = unavailable ? 'unknown' : neuter(value);
    } else if (name === 'SOURCE') {
      const v = unavailable ? 'LOCAL' : value.toUpperCase();
      if (v !== 'LOCAL' && v !== 'REMOTE') return bad(name, value);
      xf.domain = v === 'LOCAL' ? MAIL_ATTR.RWR_LOCAL : MAIL_ATTR.RWR_REMOTE;
    } else {
      await s.reply(`501 5.5.4 Bad XFORWARD attribute name: ${a.name}`);
      return false;
    }
    st.xforwardUsed = true;
  }
  if (nameOrAddr) {
    xf.namaddr = xf.addr !== CLIENT_UNKNOWN.ADDR ? `${xf.name}[${xf.addr}]` : (xf.name ?? CLIENT_UNKNOWN.NAME);
  }
  await s.reply('250 2.0.0 Ok');
  return true;
}
