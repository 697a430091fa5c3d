/*
 * smtpd_xclient - XCLIENT: a trusted proxy hands over the real client's identity
 *
 * What it does: xclientCmd() accepts XCLIENT from hosts in
 * smtpd_authorized_xclient_hosts (checked against the real client at
 * connect, and against the new identity after each XCLIENT) outside a
 * mail transaction. Each NAME, REVERSE_NAME, ADDR, PORT, HELO, PROTO,
 * LOGIN, DESTADDR, DESTPORT attribute is xtext-decoded, made printable,
 * checked as Postfix does ("[UNAVAILABLE]" and "[TEMPUNAVAIL]" mean
 * unknown) and replaces that part of the session's identity; then the
 * session starts over as if the client had just connected (HELO and
 * protocol forgotten unless given), so the caller sends a new greeting.
 *
 * What it does not do: SASL (LOGIN only records the name and method
 * "XCLIENT", as Postfix does without a SASL server).
 *
 * DIAGNOSTICS
 * Replies: 503 (transaction in progress), 501 (syntax, bad attribute
 * name or value), 550 5.7.0 (not authorized).
 */
import { validHostname, validMailhostAddr } from '../util/valid_hostname.js';
import { updateNamaddr } from './smtpd_peer.js';
import type { SmtpdSession } from './smtpd_session.js';
import { CLIENT_UNKNOWN, SMTPD_PEER_CODE, type SmtpdPeerCode } from './smtpd_state.js';
import { xtextUnquote } from './smtpd_dsn.js';
import { allDigits, neuter, printableText, type SmtpdToken } from './smtpd_token.js';
import { xcommandAllowed } from './smtpd_xforward.js';

export const XCLIENT_UNAVAILABLE = '[UNAVAILABLE]';
export const XCLIENT_TEMPORARY = '[TEMPUNAVAIL]';
/** Longest attribute value accepted (Postfix). */
export const XCLIENT_VALUE_MAX = 255;
/** Longest HELO value (Postfix VALID_HOSTNAME_LEN). */
const HELO_MAX = 255;

/** Splits "name=value" (value xtext-decoded, printable); an error reply text when malformed. */
export function xattr(tok: SmtpdToken, utf8: boolean): { name: string; value: string } | { error: string } {
  const eq = tok.text.indexOf('=');
  if (eq < 0 || eq === tok.text.length - 1) return { error: '501 5.5.4 Error: attribute=value expected' };
  const raw = tok.text.slice(eq + 1);
  if (raw.length > XCLIENT_VALUE_MAX) return { error: '501 5.5.4 Error: attribute value too long' };
  const decoded = xtextUnquote(raw) ?? raw;
  return { name: tok.text.slice(0, eq), value: printableText(decoded, utf8) };
}

function nameCode(value: string): SmtpdPeerCode {
  if (value.toUpperCase() === XCLIENT_UNAVAILABLE) return SMTPD_PEER_CODE.PERM;
  if (value.toUpperCase() === XCLIENT_TEMPORARY) return SMTPD_PEER_CODE.TEMP;
  return SMTPD_PEER_CODE.OK;
}

/** Returns 'restart' on success (the caller greets again), false after an error reply. */
export async function xclientCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean | 'restart'> {
  const st = s.state;
  if (!(await xcommandAllowed(s, args, 'XCLIENT', s.xclientAllowed))) return false;
  const bad = async (attr: string, value: string): Promise<false> => {
    await s.reply(`501 5.5.4 Bad ${attr} syntax: ${value}`);
    return false;
  };
  let gotHelo = false;
  let gotProto = false;
  let gotLogin = false;
  for (const tok of args.slice(1)) {
    const a = xattr(tok, s.server.smtputf8Enable);
    if ('error' in a) {
      await s.reply(a.error);
      return false;
    }
    const name = a.name.toUpperCase();
    let value = a.value;
    if (name === 'NAME' || name === 'REVERSE_NAME') {
      const code = nameCode(value);
      if (code !== SMTPD_PEER_CODE.OK) value = CLIENT_UNKNOWN.NAME;
      else if (!validHostname(value)) return bad(name, value);
      if (name === 'NAME') {
        st.nameStatus = code;
        st.name = value;
        if (code === SMTPD_PEER_CODE.OK) {
          st.reverseName = value;
          st.reverseNameStatus = code;
        }
      } else {
        st.reverseNameStatus = code;
        st.reverseName = value;
      }
    } else if (name === 'ADDR') {
      let bare: string | null;
      if (value.toUpperCase() === XCLIENT_UNAVAILABLE) {
        value = CLIENT_UNKNOWN.ADDR;
        bare = value;
      } else {
        bare = validMailhostAddr(value);
        if (bare === null) return bad(name, value);
      }
      st.addr = bare;
      st.rfcAddr = value;
      st.addrFamily = value.slice(0, 5).toLowerCase() === 'ipv6:' ? 6 : 4;
    } else if (name === 'PORT') {
      if (value.toUpperCase() === XCLIENT_UNAVAILABLE) value = CLIENT_UNKNOWN.PORT;
      else if (!allDigits(value) || value.length > 5) return bad(name, value);
      st.port = value;
    } else if (name === 'HELO') {
      if (value.toUpperCase() === XCLIENT_UNAVAILABLE) value = 'unknown';
      else if (value.length > HELO_MAX) return bad(name, value);
      else value = neuter(value);
      st.heloName = value;
      gotHelo = true;
    } else if (name === 'PROTO') {
      const p = value.toUpperCase();
      if (p !== 'SMTP' && p !== 'ESMTP') return bad(name, value);
      st.protocol = p;
      gotProto = true;
    } else if (name === 'LOGIN') {
      if (value.toUpperCase() !== XCLIENT_UNAVAILABLE) {
        st.saslUsername = value;
        st.saslMethod = 'XCLIENT';
        gotLogin = true;
      }
    } else if (name === 'DESTADDR') {
      if (value.toUpperCase() === XCLIENT_UNAVAILABLE) value = CLIENT_UNKNOWN.ADDR;
      else if (validMailhostAddr(value) === null) return bad(name, value);
      st.destAddr = validMailhostAddr(value) ?? value;
    } else if (name === 'DESTPORT') {
      if (value.toUpperCase() === XCLIENT_UNAVAILABLE) value = CLIENT_UNKNOWN.PORT;
      else if (!allDigits(value) || value.length > 5) return bad(name, value);
      st.destPort = value;
    } else {
      await s.reply(`501 5.5.4 Bad XCLIENT attribute name: ${a.name}`);
      return false;
    }
  }
  updateNamaddr(st, s.server);
  st.xclientUsed = true;
  s.xclientAllowed = await s.server.xclientHosts.matchAsync(st.name, st.addr);
  if (!gotHelo) s.heloReset();
  if (!gotProto) st.protocol = 'SMTP';
  if (!gotLogin) {
    st.saslUsername = null;
    st.saslMethod = null;
  }
  s.mailReset();
  s.rcptReset();
  return 'restart';
}
