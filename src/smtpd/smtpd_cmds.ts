/*
 * smtpd_cmds - RSET, NOOP, VRFY, ETRN and QUIT (Postfix smtpd.c)
 *
 * What it does: the small commands with Postfix 3.7's replies. VRFY is
 * refused with disable_vrfy_command, otherwise the address goes through
 * the recipient restrictions and is answered "252 2.0.0 ADDRESS"
 * (never a real verification). ETRN (RFC 1985, plus [address] literals)
 * runs smtpd_etrn_restrictions and asks the fast flush service
 * (flush_clnt.ts) to deliver the site's deferred mail: "250 Queuing
 * started", or 459 for a site not in fast_flush_domains, or 458 when the
 * service cannot be asked (and always in stand-alone mode).
 *
 * What it does not do: keep per-site queue logs (flush(8) does).
 *
 * DIAGNOSTICS
 * Postfix's warnings: "reject: ETRN site... from HOST", "bad ETRN ...",
 * "unable to talk to fast flush service", "do not use ETRN in
 * \"sendmail -bs\" mode".
 */
import { msgWarn } from '../util/msg.js';
import { validHostname, validMailhostLiteral } from '../util/valid_hostname.js';
import { FLUSH_STAT } from '../global/mail_proto.js';
import { extractAddr } from './smtpd_mail.js';
import type { SmtpdSession } from './smtpd_session.js';
import { collapseArgs, type SmtpdToken } from './smtpd_token.js';

export async function rsetCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  if (args.length !== 1) {
    await s.reply('501 5.5.4 Syntax: RSET');
    return false;
  }
  s.mailReset();
  s.rcptReset();
  await s.reply('250 2.0.0 Ok');
  return true;
}

export async function noopCmd(s: SmtpdSession): Promise<boolean> {
  await s.reply('250 2.0.0 Ok');
  return true;
}

export async function quitCmd(s: SmtpdSession): Promise<boolean> {
  await s.reply('221 2.0.0 Bye');
  return true;
}

export async function vrfyCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  if (s.server.disableVrfy) {
    await s.reply('502 5.5.1 VRFY command is disabled');
    return false;
  }
  if (args.length < 2) {
    await s.reply('501 5.5.4 Syntax: VRFY address [SMTPUTF8]');
    return false;
  }
  let words = args.slice(1);
  if (words.length > 1 && s.server.smtputf8Enable && words[words.length - 1]!.text.toUpperCase() === 'SMTPUTF8') words = words.slice(0, -1);
  const text = collapseArgs(words);
  const addr = words.some((w) => w.error) ? null : await extractAddr(s, text, false, false);
  if (addr === null) {
    await s.reply('501 5.1.3 Bad recipient address syntax');
    return false;
  }
  const checks = s.state.standAlone ? null : s.server.checks;
  if (checks) {
    const err = await checks.checkRcpt(s.state, addr);
    if (err !== null) {
      await s.reply(err);
      return false;
    }
  }
  await s.reply(`252 2.0.0 ${text}`);
  return true;
}

export async function etrnCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const st = s.state;
  if (s.server.heloRequired && st.heloName === null) {
    await s.reply('503 Error: send HELO/EHLO first');
    return false;
  }
  if (st.sender !== null) {
    await s.reply('503 Error: MAIL transaction in progress');
    return false;
  }
  if (args.length !== 2) {
    await s.reply('500 Syntax: ETRN domain');
    return false;
  }
  let site = args[1]!.text;
  if (site[0] === '@' || site[0] === '#') site = site.slice(1);
  if (!validHostname(site) && !validMailhostLiteral(site)) {
    await s.reply('501 Error: invalid parameter syntax');
    return false;
  }
  if (st.standAlone) {
    msgWarn('do not use ETRN in "sendmail -bs" mode');
    await s.reply('458 Unable to queue messages');
    return false;
  }
  const checks = s.server.checks;
  if (checks) {
    const err = await checks.checkEtrn(st, site);
    if (err !== null) {
      await s.reply(err);
      return false;
    }
  }
  const r = await s.server.flush.sendSite(site);
  switch (r.status) {
    case FLUSH_STAT.OK:
      await s.reply('250 Queuing started');
      return true;
    case FLUSH_STAT.DENY:
      msgWarn(`reject: ETRN ${site.slice(0, 100)}... from ${st.namaddr}`);
      await s.reply(`459 <${site}>: service unavailable`);
      return false;
    case FLUSH_STAT.BAD:
      msgWarn(`bad ETRN ${site.slice(0, 100)}... from ${st.namaddr}`);
      await s.reply('458 Unable to queue messages');
      return false;
    default:
      msgWarn('unable to talk to fast flush service');
      await s.reply('458 Unable to queue messages');
      return false;
  }
}
