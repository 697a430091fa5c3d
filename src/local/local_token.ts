/*
 * local_token - deliver to the destinations of an alias value, .forward or :include: file (Postfix local/token.c, local/resolve.c)
 *
 * What it does: deliverTokenString() parses a value as an RFC 822
 * address list (src/global/tok822_parse.ts) and delivers to each
 * address by its first character: "/" a file, "~/" a file under the
 * user's home, "|" a command (when allow_mail_to_commands permits the
 * expansion type), ":include:" an include file, anything else an address
 * that is rewritten to canonical form and resolved like qmgr does: when it
 * resolves to this same transport it is delivered here recursively
 * (deliver_recipient), otherwise it is forwarded (resubmitted through
 * cleanup). An unmatched address extension is spliced back in with
 * recipient_delimiter. deliverTokenStream() does the same per line of a
 * file, skipping lines that start with "#", with lines cut at
 * line_length_limit.
 *
 * What it does not do: decide rights (callers pass UserAttr).
 *
 * DIAGNOSTICS
 * Postfix's texts: "mail to command is restricted", "bad home directory
 * syntax for: ~x", "unknown home directory for: ~/x", "address resolver
 * failure" (4.3.0), "bad recipient address syntax: ADDR" (5.1.3).
 */
import { tokParse, tokInternalize, tokScanAddr } from '../global/tok822_parse.js';
import { TOK822, type Tok822 } from '../global/tok822.js';
import { RESOLVE_FLAG } from '../global/resolve_clnt.js';
import { dsnMake } from '../global/dsn.js';
import { type LocalEnv, type LocalState, copyState, nextLevel, reportBounce, reportDefer, type UserAttr } from './local_state.js';
import { deliverFile } from './local_file.js';
import { deliverCommand } from './local_command.js';
import { deliverInclude } from './local_include.js';
import { deliverRecipient } from './local_recipient.js';
import { deliverIndirect } from './local_forward.js';

/** Postfix line_length_limit default: longer .forward/:include: lines are cut into chunks. */
export const TOKEN_LINE_LIMIT = 2048;
const INCLUDE = ':include:';

export async function deliverToken(env: LocalEnv, s: LocalState, usr: UserAttr, addr: Tok822): Promise<number> {
  const text = tokInternalize(addr.head);
  if (text.startsWith('/')) return deliverFile(env, s, usr, text);
  if (text.startsWith('~')) {
    if (text[1] !== '/') return reportBounce(env, s, dsnMake('5.3.5', `bad home directory syntax for: ${text}`));
    if (!usr.home) return reportBounce(env, s, dsnMake('5.3.5', `unknown home directory for: ${text}`));
    return deliverFile(env, s, usr, usr.home === '/' ? text.slice(1) : usr.home + text.slice(1));
  }
  if (text.startsWith('|')) {
    if ((env.params.cmdDeliverMask & s.msg.expType) === 0) return reportBounce(env, s, dsnMake('5.7.1', 'mail to command is restricted'));
    return deliverCommand(env, s, usr, text.slice(1));
  }
  if (text.slice(0, INCLUDE.length).toLowerCase() === INCLUDE) return deliverInclude(env, s, usr, text.slice(INCLUDE.length));
  return deliverResolveTree(env, s, usr, addr);
}

export async function deliverTokenString(env: LocalEnv, s: LocalState, usr: UserAttr, text: string): Promise<{ status: number; count: number }> {
  let status = 0;
  let count = 0;
  for (let a = tokParse(text); a !== null; a = a.next) {
    if (a.type === TOK822.ADDR) {
      count++;
      status |= await deliverToken(env, s, usr, a);
    }
  }
  return { status, count };
}

export async function deliverTokenStream(env: LocalEnv, s: LocalState, usr: UserAttr, content: string, lineLimit = TOKEN_LINE_LIMIT): Promise<{ status: number; count: number }> {
  let count = 0;
  for (const raw of content.split('\n')) {
    for (let i = 0; i < Math.max(raw.length, 1); i += lineLimit) {
      const line = raw.slice(i, i + lineLimit);
      if (line.startsWith('#')) continue;
      const r = await deliverTokenString(env, s, usr, line);
      count += r.count;
      if (r.status !== 0) return { status: r.status, count };
    }
  }
  return { status: 0, count };
}

export async function deliverResolveAddr(env: LocalEnv, s: LocalState, usr: UserAttr, addr: string): Promise<number> {
  return deliverResolveTree(env, s, usr, tokScanAddr(addr));
}

async function deliverResolveTree(env: LocalEnv, state: LocalState, usr: UserAttr, addr: Tok822): Promise<number> {
  const s = nextLevel(state);
  const external = addr.type === TOK822.ADDR ? tokInternalize(addr.head) : tokInternalize(addr);
  let reply;
  try {
    const canon = await env.rewriter.rewrite('local', external);
    reply = await env.resolver.resolve(s.msg.sender, canon);
  } catch {
    return reportDefer(env, s, dsnMake('4.3.0', 'address resolver failure'));
  }
  if (reply.flags & RESOLVE_FLAG.FAIL) return reportDefer(env, s, dsnMake('4.3.0', 'address resolver failure'));
  if (reply.flags & RESOLVE_FLAG.ERROR) return reportBounce(env, s, dsnMake('5.1.3', `bad recipient address syntax: ${reply.recipient}`));
  let rcpt = reply.recipient;
  const un = s.msg.unmatched;
  if (un) {
    const delim = env.params.recipientDelimiter.charAt(0);
    const at = rcpt.lastIndexOf('@');
    rcpt = at < 0 ? `${rcpt}${delim}${un}` : `${rcpt.slice(0, at)}${delim}${un}${rcpt.slice(at)}`;
  }
  const next = copyState(s, { rcpt: { ...s.msg.rcpt, address: rcpt } });
  if (reply.transport === env.service) return deliverRecipient(env, next, usr);
  return deliverIndirect(env, next);
}
