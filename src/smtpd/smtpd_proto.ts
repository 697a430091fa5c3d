/*
 * smtpd_proto - one SMTP session from connect to disconnect (Postfix smtpd_proto/smtpd_service)
 *
 * What it does: smtpdSession() runs one client over a duplex stream
 * (a socket under master, or stdin/stdout in stand-alone mode): it
 * finds out who the client is, logs "connect from", sends the greeting
 * (or, with smtpd_delay_reject = no, the client restrictions' rejection,
 * after which every command but QUIT gets "503 5.7.0 Error: access
 * denied"), then reads commands one line at a time and dispatches them
 * through Postfix's command table, doing what Postfix's loop does
 * around each: the hard error limit (421 "too many errors"), bad UTF-8
 * and empty lines, smtpd_noop_commands, header-like "commands" (221 "I
 * can break rules, too"), unknown commands (500), bare <LF> in a
 * command with smtpd_forbid_bare_newline = reject (550 and hangup),
 * improper command pipelining (logged once; with
 * smtpd_forbid_unauth_pipelining, 554 and hangup), the error and junk
 * command counters, and the per-command counts for the statistics.
 * At the end it logs "timeout/lost connection/too many errors after
 * CMD" and "disconnect from HOST ehlo=1 mail=1 ... commands=N[/M]".
 *
 * What it does not do: the commands themselves (smtpd_helo, _mail,
 * _data, _bdat, _cmds, _xclient, _xforward .ts), or accept connections
 * (smtpd.ts with master's skeleton).
 *
 * DIAGNOSTICS
 * Postfix's log lines as above. An unexpected exception (a failing table
 * or service) ends the session with a warning, "421 4.3.0 HOST Server
 * local data error" and the disconnect line, never the process.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { msgInfo, msgWarn } from '../util/msg.js';
import { LineReader } from '../util/line_reader.js';
import { isHeader } from '../global/is_header.js';
import { SmtpdChat, SmtpdIoError } from './smtpd_chat.js';
import { bdatCmd } from './smtpd_bdat.js';
import { etrnCmd, noopCmd, quitCmd, rsetCmd, vrfyCmd } from './smtpd_cmds.js';
import { dataCmd } from './smtpd_data.js';
import { ehloCmd, ehloDiscardFor, heloCmd } from './smtpd_helo.js';
import { mailCmd, rcptCmd } from './smtpd_mail.js';
import { type PeerEndpoints, smtpdPeerInit } from './smtpd_peer.js';
import type { SmtpdServer } from './smtpd_server.js';
import { SMTPD_REASON, SmtpdSession, WHERE_BDAT_CONTENT, WHERE_DATA_CONTENT } from './smtpd_session.js';
import { SmtpdState, SMTPD_WHERE } from './smtpd_state.js';
import { smtpdToken, type SmtpdToken } from './smtpd_token.js';
import { xclientCmd } from './smtpd_xclient.js';
import { xforwardCmd } from './smtpd_xforward.js';

type Action = (s: SmtpdSession, args: SmtpdToken[], line: string) => Promise<boolean | 'restart'>;

interface SmtpdCmd {
  name: string;
  action: Action;
  /** Counts as a junk command (smtpd_junk_command_limit). */
  limit: boolean;
  /** Must be the last of a pipelined group (improper pipelining check). */
  last: boolean;
}

/** Postfix 3.7's command table (its order is the order of the disconnect statistics). */
const COMMANDS: readonly SmtpdCmd[] = [
  { name: 'HELO', action: heloCmd, limit: true, last: true },
  { name: 'EHLO', action: ehloCmd, limit: true, last: true },
  { name: 'XCLIENT', action: xclientCmd, limit: false, last: false },
  { name: 'XFORWARD', action: xforwardCmd, limit: false, last: false },
  { name: 'MAIL', action: mailCmd, limit: false, last: false },
  { name: 'RCPT', action: rcptCmd, limit: false, last: false },
  { name: 'DATA', action: dataCmd, limit: false, last: true },
  { name: 'BDAT', action: bdatCmd, limit: false, last: false },
  { name: 'RSET', action: rsetCmd, limit: true, last: false },
  { name: 'NOOP', action: noopCmd, limit: true, last: true },
  { name: 'VRFY', action: vrfyCmd, limit: true, last: true },
  { name: 'ETRN', action: etrnCmd, limit: true, last: false },
  { name: 'QUIT', action: quitCmd, limit: false, last: false },
];
const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));
const UNKNOWN = 'unknown';
/** Bytes of early input shown in the improper pipelining log line. */
export const PIPELINING_LOG_BYTES = 100;

/** Postfix escape(): C-style escapes for non-printable bytes. */
export function escapeBytes(buf: Buffer): string {
  let out = '';
  for (const b of buf) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x07) out += '\\a';
    else if (b === 0x08) out += '\\b';
    else if (b === 0x0c) out += '\\f';
    else if (b === 0x0b) out += '\\v';
    else out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The "ehlo=1 mail=0/1 ... commands=N/M" statistics. */
export function statsText(st: SmtpdState): string {
  const parts: string[] = [];
  let ok = 0;
  let total = 0;
  for (const name of [...COMMANDS.map((c) => c.name.toLowerCase()), UNKNOWN]) {
    const c = st.commandStats.get(name);
    if (!c || c.total === 0) continue;
    ok += c.ok;
    total += c.total;
    parts.push(c.ok === c.total ? `${name}=${c.ok}` : `${name}=${c.ok}/${c.total}`);
  }
  parts.push(ok === total ? `commands=${ok}` : `commands=${ok}/${total}`);
  return parts.join(' ');
}

export interface SmtpdSessionOptions {
  /** Socket addresses; null for a stand-alone session (sendmail -bs). */
  peer: PeerEndpoints | null;
  /** Separate output stream (stand-alone: stdout); default the input duplex. */
  output?: Duplex;
  /** master.cf service name. */
  serviceName?: string;
}

/** Logs "improper command pipelining"; true when the session must end (smtpd_forbid_unauth_pipelining). */
async function pipeliningCheck(s: SmtpdSession, after: string): Promise<boolean> {
  if (s.state.standAlone || s.illPipelining) return false;
  if (!s.reader.hasBufferedInput() && !(await s.reader.pendingInput())) return false;
  s.illPipelining = true;
  msgInfo(`improper command pipelining after ${after} from ${s.state.namaddr}: ${escapeBytes(s.reader.peekBuffered(PIPELINING_LOG_BYTES))}`);
  if (!s.server.forbidUnauthPipelining) return false;
  await s.reply('554 5.5.0 Error: SMTP protocol synchronization');
  s.chat.hangup = true;
  return true;
}

/** The greeting, or the early client rejection (smtpd_delay_reject = no). */
async function greet(s: SmtpdSession): Promise<void> {
  const st = s.state;
  s.ehloDiscard = await ehloDiscardFor(s);
  st.ehloDiscard = s.ehloDiscard;
  const checks = st.standAlone ? null : s.server.checks;
  if (checks && !s.server.delayReject) {
    const err = await checks.checkClient(st);
    if (err !== null) {
      s.accessDenied = err;
      s.chat.replyNow(err);
      st.errorCount += 1;
      return;
    }
  }
  s.chat.replyNow(`220 ${s.server.banner}`);
}

/** One command line: dispatch and bookkeeping. Returns false when the session ends. */
async function command(s: SmtpdSession): Promise<boolean> {
  const st = s.state;
  const srv = s.server;
  if (s.chat.hangup) return false;
  if (st.errorCount >= srv.hardErrorLimit) {
    s.reason = SMTPD_REASON.ERROR_LIMIT;
    await s.reply(`421 4.7.0 ${srv.myhostname} Error: too many errors`);
    return false;
  }
  const q = await s.chat.query();
  if (q.bareLf && srv.bareNewline === 'reject' && s.bareNewlineChecks) {
    msgInfo(`${s.logId}: reject: ${st.where} from ${st.namaddr}: bare <LF> received;${s.whatsup()}`);
    await s.reply(`${srv.bareNewlineRejectCode} 5.5.2 ${srv.myhostname} Error: bare <LF> received`);
    s.chat.hangup = true;
    return false;
  }
  if (srv.smtputf8Enable && q.badUtf8) {
    await s.reply('500 5.5.2 Error: bad UTF-8 syntax');
    st.errorCount += 1;
    return true;
  }
  const args = smtpdToken(q.line);
  if (args.length === 0) {
    await s.reply('500 5.5.2 Error: bad syntax');
    st.errorCount += 1;
    return true;
  }
  const verb = args[0]!.text;
  if (srv.noopCommands.size > 0 && srv.noopCommands.has(verb.toLowerCase())) {
    await s.reply('250 2.0.0 Ok');
    if (st.junkCommands++ > srv.junkLimit) st.errorCount += 1;
    return true;
  }
  const cmd = BY_NAME.get(verb.toUpperCase());
  if (!cmd) {
    st.where = SMTPD_WHERE.UNKNOWN;
    if (isHeader(verb) > 0) {
      msgWarn(`non-SMTP command from ${st.namaddr}: ${q.line.slice(0, 100)}`);
      st.countCommand(UNKNOWN, false);
      await s.reply('221 2.7.0 Error: I can break rules, too. Goodbye.');
      return false;
    }
  }
  if (s.accessDenied !== null && cmd?.name !== 'QUIT') {
    st.countCommand(cmd ? cmd.name.toLowerCase() : UNKNOWN, false);
    if (s.accessDenied.slice(1, 3) === '21') {
      await s.reply(s.accessDenied);
      return true;
    }
    await s.reply(`503 5.7.0 Error: access denied for ${st.namaddr}`);
    st.errorCount += 1;
    return true;
  }
  if (!cmd) {
    st.countCommand(UNKNOWN, false);
    await s.reply('500 5.5.2 Error: command not recognized');
    st.errorCount += 1;
    return true;
  }
  st.where = cmd.name;
  const key = cmd.name.toLowerCase();
  st.countCommand(key);
  if ((st.protocol !== 'ESMTP' || cmd.last) && (await pipeliningCheck(s, cmd.name))) return false;
  const r = await cmd.action(s, args, q.line);
  if (r === 'restart') {
    await greet(s);
    return true;
  }
  if (r) st.commandOk(key);
  else st.errorCount += 1;
  if (cmd.limit && st.junkCommands++ > srv.junkLimit) st.errorCount += 1;
  return cmd.name !== 'QUIT';
}

/** The "REASON after WHERE from HOST" line, as Postfix logs it. */
function logReason(s: SmtpdSession): void {
  const st = s.state;
  if (!s.reason) return;
  if (st.where === WHERE_DATA_CONTENT || st.where === WHERE_BDAT_CONTENT) {
    const cmd = st.where === WHERE_DATA_CONTENT ? 'DATA' : 'BDAT';
    msgInfo(`${s.reason} after ${cmd} (${st.actSize + s.reader.buffered} bytes) from ${st.namaddr}`);
  } else if (st.where !== SMTPD_WHERE.EOM || s.reason !== SMTPD_REASON.LOST_CONNECTION) {
    msgInfo(`${s.reason} after ${st.where} from ${st.namaddr}`);
  }
}

/** Runs one SMTP session over `stream`; see the header. */
export async function smtpdSession(server: SmtpdServer, stream: Duplex, opts: SmtpdSessionOptions): Promise<void> {
  const state = new SmtpdState(server.config);
  state.serviceName = opts.serviceName ?? 'smtp';
  await smtpdPeerInit(state, server, opts.peer);
  const reader = new LineReader(stream, { lineLimit: server.lineLimit, timeoutMs: server.timeoutMs, deadline: server.deadline });
  const out = opts.output ?? stream;
  const chat = new SmtpdChat(out, reader, state, {
    timeoutMs: server.timeoutMs,
    softErrorLimit: server.softErrorLimit,
    errorSleepMs: server.errorSleepMs,
    softBounce: server.softBounce,
    rejectFooter: server.rejectFooter,
    smtputf8: server.smtputf8Enable,
  });
  const s = new SmtpdSession(server, state, chat, reader, stream);
  // Replies are whole and flushed only when the client must wait: no Nagle delay.
  (stream as Partial<Socket>).setNoDelay?.(true);
  state.setEarlyInputProbe(() => reader.hasBufferedInput());
  msgInfo(`connect from ${state.namaddr}`);
  s.xclientAllowed = !state.standAlone && (await server.xclientHosts.matchAsync(state.name, state.addr));
  s.xforwardAllowed = !state.standAlone && (await server.xforwardHosts.matchAsync(state.name, state.addr));
  s.bareNewlineChecks = server.bareNewline !== 'no' && !server.bareNewlineExcluded(state.name, state.addr);
  reader.detectBareLf = s.bareNewlineChecks;
  try {
    if (!(await pipeliningCheck(s, SMTPD_WHERE.CONNECT))) {
      await greet(s);
      while (await command(s)) {
        /* next command */
      }
    }
    await chat.flush();
  } catch (err) {
    if (err instanceof SmtpdIoError) {
      if (err.kind === 'timeout') {
        s.reason = SMTPD_REASON.TIMEOUT;
        try {
          chat.replyNow(`421 4.4.2 ${server.myhostname} Error: timeout exceeded`);
          await chat.flush();
        } catch {
          /* the client is gone */
        }
      } else {
        s.reason = SMTPD_REASON.LOST_CONNECTION;
      }
    } else {
      // Postfix SMTP_ERR_DATA: a local problem (table, service) ends the session politely.
      msgWarn(`${state.namaddr}: ${(err as Error).stack ?? String(err)}`);
      const text = `421 4.3.0 ${server.myhostname} Server local data error`;
      msgInfo(`${s.logId}: reject: ${state.where} from ${state.namaddr}: ${text}`);
      try {
        chat.replyNow(text);
        await chat.flush();
      } catch {
        /* the client is gone */
      }
    }
  }
  logReason(s);
  s.mailReset();
  s.rcptReset();
  reader.detach();
  msgInfo(`disconnect from ${state.namaddr} ${statsText(state)}`);
}
