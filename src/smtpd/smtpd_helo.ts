/*
 * smtpd_helo - HELO and EHLO (Postfix smtpd.c helo_cmd/ehlo_cmd, ehlo_mask.c)
 *
 * What it does: heloCmd/ehloCmd check the syntax ("501 Syntax: HELO
 * hostname"), run smtpd_helo_restrictions at once when smtpd_delay_reject
 * = no, reset the session as RSET does, remember the HELO name (words
 * joined by one space, non-printables and NEUTER_CHARACTERS replaced by
 * '?'), set the protocol (SMTP after HELO, ESMTP after EHLO) and reply.
 * The EHLO reply lists, in Postfix 3.7's order, the keywords the client
 * may use, minus those in smtpd_discard_ehlo_keywords (or the
 * smtpd_discard_ehlo_keyword_address_maps answer for the client
 * address); ehloDiscardFor() computes that set at connect time and logs
 * "discarding EHLO keywords: ..." as Postfix does (also its
 * "EHLO_MASK_SMTPUTF8" spelling).
 *
 * What it does not do: STARTTLS/AUTH keywords (the security issue).
 *
 * DIAGNOSTICS
 * A lookup error in the address maps ends the session with 421 (Postfix
 * "don't know what EHLO features to announce").
 */
import { msgInfo, msgWarn } from '../util/msg.js';
import type { SmtpdSession } from './smtpd_session.js';
import { collapseArgs, neuter, printableText, type SmtpdToken } from './smtpd_token.js';

/** Postfix ehlo_mask.c table order and names, as str_ehlo_mask() prints them. */
const EHLO_MASK_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['8bitmime', '8BITMIME'],
  ['auth', 'AUTH'],
  ['etrn', 'ETRN'],
  ['pipelining', 'PIPELINING'],
  ['size', 'SIZE'],
  ['verp', 'VERP'],
  ['vrfy', 'VRFY'],
  ['xclient', 'XCLIENT'],
  ['xforward', 'XFORWARD'],
  ['starttls', 'STARTTLS'],
  ['enhancedstatuscodes', 'ENHANCEDSTATUSCODES'],
  ['dsn', 'DSN'],
  ['smtputf8', 'EHLO_MASK_SMTPUTF8'],
  ['chunking', 'CHUNKING'],
  ['silent-discard', 'SILENT-DISCARD'],
];

/** The XCLIENT and XFORWARD attribute lists Postfix 3.7 announces. */
export const XCLIENT_KEYWORDS = 'XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT';
export const XFORWARD_KEYWORDS = 'XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT';

/** The set of discarded keywords (lower case) from a keyword list. */
export function ehloMask(words: string): Set<string> {
  const out = new Set<string>();
  for (const w of words.split(/[\s,]+/)) {
    const k = w.toLowerCase();
    if (!k) continue;
    if (EHLO_MASK_NAMES.some(([n]) => n === k)) out.add(k);
    else if (k === 'xverp') out.add('verp');
  }
  return out;
}

/** Computes and logs the session's discarded keywords (at connect, as Postfix). */
export async function ehloDiscardFor(s: SmtpdSession): Promise<Set<string>> {
  let words = s.server.ehloDiscardWords;
  if (s.server.ehloDiscardMaps) {
    try {
      const hit = await s.server.ehloDiscardMaps.find(s.state.addr);
      if (hit !== null) words = hit;
    } catch {
      msgWarn(`don't know what EHLO features to announce to ${s.state.namaddr}`);
    }
  }
  return ehloMask(words);
}

function logDiscard(mask: Set<string>): void {
  if (mask.size === 0 || mask.has('enhancedstatuscodes') || mask.has('silent-discard')) return;
  const names = EHLO_MASK_NAMES.filter(([n]) => mask.has(n)).map(([, p]) => p);
  msgInfo(`discarding EHLO keywords: ${names.join(' ')}`);
}

/** Shared HELO/EHLO prologue; returns the HELO name, or null after an error reply. */
async function heloCommon(s: SmtpdSession, args: SmtpdToken[], cmd: 'HELO' | 'EHLO'): Promise<string | null> {
  if (args.length < 2) {
    await s.reply(`501 Syntax: ${cmd} hostname`);
    return null;
  }
  const name = collapseArgs(args.slice(1));
  const checks = s.server.checks;
  if (!s.state.standAlone && !s.server.delayReject && checks) {
    const err = await checks.checkHelo(s.state, name);
    if (err !== null) {
      await s.reply(err);
      return null;
    }
  }
  s.heloReset();
  s.mailReset();
  s.rcptReset();
  return neuter(printableText(name, s.server.smtputf8Enable));
}

export async function heloCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const name = await heloCommon(s, args, 'HELO');
  if (name === null) return false;
  s.state.heloName = name;
  s.state.protocol = 'SMTP';
  await s.reply(`250 ${s.server.myhostname}`);
  return true;
}

export async function ehloCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const name = await heloCommon(s, args, 'EHLO');
  if (name === null) return false;
  s.state.heloName = name;
  s.state.protocol = 'ESMTP';
  const d = s.ehloDiscard;
  logDiscard(d);
  const srv = s.server;
  const lines: string[] = [srv.myhostname];
  if (!d.has('pipelining')) lines.push('PIPELINING');
  if (!d.has('size')) lines.push(srv.messageSizeLimit > 0 ? `SIZE ${srv.messageSizeLimit}` : 'SIZE');
  if (!d.has('vrfy') && !srv.disableVrfy) lines.push('VRFY');
  if (!d.has('etrn')) lines.push('ETRN');
  if (!d.has('xclient') && s.xclientAllowed) lines.push(XCLIENT_KEYWORDS);
  if (!d.has('xforward') && s.xforwardAllowed) lines.push(XFORWARD_KEYWORDS);
  if (!d.has('enhancedstatuscodes')) lines.push('ENHANCEDSTATUSCODES');
  if (!d.has('8bitmime')) lines.push('8BITMIME');
  if (!d.has('dsn')) lines.push('DSN');
  if (!d.has('smtputf8') && srv.smtputf8Enable) lines.push('SMTPUTF8');
  if (!d.has('chunking')) lines.push('CHUNKING');
  await s.reply(lines.map((l) => `250 ${l}`).join('\r\n'));
  return true;
}
