/*
 * smtpd_mail - MAIL FROM and RCPT TO (Postfix smtpd.c mail_cmd/rcpt_cmd/extract_addr)
 *
 * What it does: mailCmd() checks order and syntax, extracts the sender
 * from "rubble" the way Postfix does (strip <>, drop a source route,
 * parse with tok822, at most one address, strict_rfc821_envelopes),
 * parses the ESMTP parameters (BODY=7BIT/8BITMIME, SIZE, SMTPUTF8,
 * RET, ENVID; AUTH= is ignored without SASL; anything else is 555),
 * applies message_size_limit to SIZE (K's checkSize), runs the sender
 * restrictions at once when smtpd_delay_reject = no, decides the rewrite
 * context (local_header_rewrite_clients) and starts the transaction.
 * rcptCmd() does the same for a recipient (NOTIFY, ORCPT), enforces
 * smtpd_recipient_limit with smtpd_recipient_overshoot_limit, runs the
 * recipient restrictions, opens the cleanup stream at the first accepted
 * recipient and sends the recipient with its DSN attributes.
 * Every reply text and enhanced code is Postfix 3.7's.
 *
 * What it does not do: the restrictions themselves (smtpd_check*.ts).
 *
 * DIAGNOSTICS
 * "Illegal address syntax from HOST in CMD command: ADDR" warnings, as
 * Postfix logs them.
 */
import { msgWarn } from '../util/msg.js';
import { RESOLVE_FLAG } from '../global/resolve_clnt.js';
import { TOK822 } from '../global/tok822.js';
import { tokInternalize, tokParse } from '../global/tok822_parse.js';
import { mailOpenStream, rcptRecords } from './smtpd_cleanup.js';
import { allPrint, dsnNotifyMask, dsnRetCode, xtextUnquote } from './smtpd_dsn.js';
import { smtpdRewriteContext } from './smtpd_rewrite.js';
import type { SmtpdSession } from './smtpd_session.js';
import { allDigits, printableText, type SmtpdToken } from './smtpd_token.js';

const NON_ASCII = /[^\x00-\x7f]/;

/** Postfix extract_addr(): the internal-form address, or null (after a warning) when unusable. */
export async function extractAddr(s: SmtpdSession, arg: string, allowEmpty: boolean, strict: boolean): Promise<string | null> {
  let text = arg.length >= 2 && arg[0] === '<' && arg[arg.length - 1] === '>' ? arg.slice(1, -1) : arg;
  if (text[0] === '@') {
    const colon = text.indexOf(':');
    if (colon >= 0) text = text.slice(colon + 1);
  }
  const tree = tokParse(text);
  let naddr = 0;
  let nonAddr = 0;
  let addr = null;
  for (let tp = tree; tp; tp = tp.next) {
    if (tp.type === TOK822.ADDR) {
      addr = tp;
      naddr += 1;
    } else if (tp.type !== 0x3c && tp.type !== 0x3e) {
      nonAddr += 1;
    }
  }
  const warn = (): null => {
    msgWarn(`Illegal address syntax from ${s.state.namaddr} in ${s.state.where} command: ${printableText(arg, true)}`);
    return null;
  };
  if (naddr > 1 || (strict && (nonAddr > 0 || arg[0] !== '<'))) return warn();
  const result = addr ? tokInternalize(addr.head) : '';
  if ((result === '' && !allowEmpty) || (strict && result[0] === '@')) return warn();
  if (!s.state.standAlone && result !== '' && !(await checkAddr(s, result))) return warn();
  return result;
}

/** Postfix smtpd_check_addr(): an address the resolver flags as malformed is refused. */
async function checkAddr(s: SmtpdSession, addr: string): Promise<boolean> {
  const r = s.server.resolve;
  if (!r) return true;
  try {
    const reply = await r.resolve(s.state.sender ?? '', addr);
    return (reply.flags & RESOLVE_FLAG.ERROR) === 0;
  } catch {
    return true;
  }
}

export async function mailCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const st = s.state;
  const srv = s.server;
  st.encoding = null;
  st.dsnRet = 0;
  if (srv.heloRequired && st.heloName === null) {
    await s.reply('503 5.5.1 Error: send HELO/EHLO first');
    return false;
  }
  if (st.sender !== null) {
    await s.reply('503 5.5.1 Error: nested MAIL command');
    return false;
  }
  if (s.bdat !== 'none') {
    await s.reply('503 5.5.1 Error: MAIL after BDAT');
    return false;
  }
  if (args.length < 3 || args[1]!.text.toLowerCase() !== 'from:') {
    await s.reply('501 5.5.4 Syntax: MAIL FROM:<address>');
    return false;
  }
  const addrTok = args[2]!;
  if (addrTok.error) {
    await s.reply('501 5.1.7 Bad sender address syntax');
    return false;
  }
  const sender = await extractAddr(s, addrTok.text, true, srv.strictRfc821);
  if (sender === null) {
    await s.reply('501 5.1.7 Bad sender address syntax');
    return false;
  }
  let envid: string | null = null;
  let smtputf8 = false;
  for (const tok of args.slice(3)) {
    const arg = tok.text;
    const upper = arg.toUpperCase();
    if (upper === 'BODY=8BITMIME') {
      st.encoding = '8bit';
    } else if (upper === 'BODY=7BIT') {
      st.encoding = '7bit';
    } else if (upper.startsWith('SIZE=')) {
      if (!allDigits(arg.slice(5))) {
        await s.reply('501 5.5.4 Bad message size syntax');
        return false;
      }
      const size = Number(arg.slice(5));
      if (!Number.isSafeInteger(size)) {
        await s.reply('552 5.3.4 Message size exceeds file system imposed limit');
        return false;
      }
      st.msgSize = size;
    } else if (srv.smtputf8Enable && upper === 'SMTPUTF8') {
      smtputf8 = true;
    } else if (upper.startsWith('AUTH=')) {
      // Without SASL support AUTH= is accepted and ignored, as Postfix does.
    } else if (upper.startsWith('RET=')) {
      if (s.ehloDiscard.has('dsn')) {
        await s.reply('501 5.7.1 DSN support is disabled');
        return false;
      }
      if (st.dsnRet || (st.dsnRet = dsnRetCode(arg.slice(4))) === 0) {
        await s.reply('501 5.5.4 Bad RET parameter syntax');
        return false;
      }
    } else if (upper.startsWith('ENVID=')) {
      if (s.ehloDiscard.has('dsn')) {
        await s.reply('501 5.7.1 DSN support is disabled');
        return false;
      }
      const v: string | null = envid === null ? xtextUnquote(arg.slice(6)) : null;
      if (v === null || !allPrint(v)) {
        await s.reply('501 5.5.4 Bad ENVID parameter syntax');
        return false;
      }
      envid = v;
    } else {
      await s.reply(`555 5.5.4 Unsupported option: ${arg}`);
      return false;
    }
  }
  if (srv.smtputf8Enable && !smtputf8 && NON_ASCII.test(sender)) {
    await s.reply('553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return false;
  }
  const checks = st.standAlone ? null : srv.checks;
  if (checks) {
    // Postfix logs the rejected MAIL with its sender: it is known here, not yet accepted.
    st.sender = sender;
    const err = checks.checkSize(st, st.msgSize);
    st.sender = null;
    if (err !== null) {
      await s.reply(err);
      return false;
    }
  }
  if (checks && !srv.delayReject) {
    const err = await checks.checkMail(st, sender);
    if (err !== null) {
      s.mailReset();
      await s.reply(err);
      return false;
    }
  }
  if (!st.standAlone) st.rewriteContext = await smtpdRewriteContext(s);
  const usec = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  s.arrival = { sec: Math.floor(usec / 1e6), usec: usec % 1e6 };
  st.arrivalTime = Math.floor(usec / 1000);
  st.sender = sender;
  st.smtputf8 = smtputf8;
  st.dsnEnvid = envid;
  if (!srv.delayOpen && !(await mailOpenStream(s))) {
    s.mailReset();
    return false;
  }
  await s.reply('250 2.1.0 Ok');
  return true;
}

export async function rcptCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const st = s.state;
  const srv = s.server;
  if (st.sender === null) {
    await s.reply('503 5.5.1 Error: need MAIL command');
    return false;
  }
  if (args.length < 3 || args[1]!.text.toLowerCase() !== 'to:') {
    await s.reply('501 5.5.4 Syntax: RCPT TO:<address>');
    return false;
  }
  const addrTok = args[2]!;
  if (addrTok.error) {
    await s.reply('501 5.1.3 Bad recipient address syntax');
    return false;
  }
  const rcpt = await extractAddr(s, addrTok.text, false, srv.strictRfc821);
  if (rcpt === null) {
    await s.reply('501 5.1.3 Bad recipient address syntax');
    return false;
  }
  let notify = 0;
  let orcptType: string | null = null;
  let orcptAddr: string | null = null;
  for (const tok of args.slice(3)) {
    const arg = tok.text;
    const upper = arg.toUpperCase();
    if (upper.startsWith('NOTIFY=')) {
      if (s.ehloDiscard.has('dsn')) {
        await s.reply('501 5.7.1 DSN support is disabled');
        return false;
      }
      if (notify || (notify = dsnNotifyMask(arg.slice(7))) === 0) {
        await s.reply('501 5.5.4 Error: Bad NOTIFY parameter syntax');
        return false;
      }
    } else if (upper.startsWith('ORCPT=')) {
      if (s.ehloDiscard.has('dsn')) {
        await s.reply('501 5.7.1 DSN support is disabled');
        return false;
      }
      const value = arg.slice(6);
      const semi = value.indexOf(';');
      const decoded = semi >= 0 ? xtextUnquote(value.slice(semi + 1)) : null;
      if (orcptAddr !== null || semi <= 0 || decoded === null) {
        await s.reply('501 5.5.4 Error: Bad ORCPT parameter syntax');
        return false;
      }
      orcptType = value.slice(0, semi);
      orcptAddr = decoded;
    } else {
      await s.reply(`555 5.5.4 Unsupported option: ${arg}`);
      return false;
    }
  }
  if (srv.smtputf8Enable && !st.smtputf8 && NON_ASCII.test(rcpt)) {
    await s.reply('553 5.6.7 Must declare SMTPUTF8 to send unicode address');
    return false;
  }
  if (srv.rcptLimit && st.rcptCount >= srv.rcptLimit) {
    await s.reply('452 4.5.3 Error: too many recipients');
    return st.rcptOvershoot++ < srv.rcptOverLimit;
  }
  const checks = st.standAlone ? null : srv.checks;
  if (checks) {
    const err = await checks.checkRcpt(st, rcpt);
    if (err !== null) {
      await s.reply(err);
      return false;
    }
  }
  if (!s.cleanup && !(await mailOpenStream(s))) return false;
  st.rcptCount += 1;
  if (st.recipient === null) st.recipient = rcpt;
  if (orcptAddr === null) {
    orcptType = 'rfc822';
    const raw = addrTok.text;
    orcptAddr = raw.length >= 2 && raw[0] === '<' && raw[raw.length - 1] === '>' ? raw.slice(1, -1) : raw;
  }
  await rcptRecords(s, rcpt, notify, orcptType ?? 'rfc822', orcptAddr);
  await s.reply('250 2.1.5 Ok');
  return true;
}
