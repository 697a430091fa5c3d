/*
 * smtpd_data - DATA and the end of a message (Postfix smtpd.c data_cmd)
 *
 * What it does: dataCmd() checks that recipients were accepted, runs
 * smtpd_data_restrictions, ends the envelope and writes the Received:
 * header (smtpd_cleanup.ts), replies 354 and copies the content to
 * cleanup through ContentWriter: each line (or line_length_limit piece
 * of a longer line) becomes a NORM (or CONT) record; a first line that
 * starts with "From " (after any '>') becomes an X-Mailbox-Line:
 * header; a first line that starts with white space gets an empty line
 * before it (so it is not taken as a continuation of our Received:);
 * message_size_limit counts each piece plus 2 bytes as Postfix does,
 * and content beyond it is read and dropped. The end of data follows
 * dot_reader.ts (smtpd_forbid_bare_newline decides which "." ends it).
 * endOfMessage(), shared with BDAT, applies the bare-<LF> rejection,
 * smtpd_end_of_data_restrictions, sends the extracted records and END,
 * and maps cleanup's answer to Postfix's reply ("250 2.0.0 Ok: queued
 * as ID", 451/550/552/554 per cleanup_stat_detail, or cleanup's own
 * SMTP reply text). A successful message forgives earlier errors.
 *
 * What it does not do: BDAT chunk framing (smtpd_bdat.ts).
 *
 * DIAGNOSTICS
 * "QUEUEID: queue file size limit exceeded" warning; "QUEUEID: reject:
 * END-OF-MESSAGE from ...: bare <LF> received; ..." info. A client that
 * goes away or stalls mid-content ends the session (SmtpdIoError) with
 * "lost connection/timeout after DATA (N bytes)".
 */
import { msgInfo, msgWarn } from '../util/msg.js';
import { readDotData } from '../util/dot_reader.js';
import { CLEANUP_CLNT_BUFFER } from '../global/cleanup_clnt.js';
import { CLEANUP_STAT, cleanupStatDetail } from '../global/cleanup_user.js';
import { REC_TYPE } from '../global/rec_type.js';
import { SmtpdIoError } from './smtpd_chat.js';
import { finishMessage, messageStart } from './smtpd_cleanup.js';
import { type SmtpdSession, WHERE_DATA_CONTENT } from './smtpd_session.js';
import { SMTPD_WHERE } from './smtpd_state.js';
import type { SmtpdToken } from './smtpd_token.js';

const FROM_ = Buffer.from('From ', 'latin1');
const MAILBOX_LINE = Buffer.from('X-Mailbox-Line: ', 'latin1');
const GT = 0x3e;
const SP = 0x20;
const TAB = 0x09;

/** Copies message content to cleanup; see the header. */
export class ContentWriter {
  readonly #s: SmtpdSession;
  #first = true;
  #prevCont = false;
  bareLfLines = 0;

  constructor(s: SmtpdSession) {
    this.#s = s;
  }

  /** One piece of content; returns a promise only when cleanup needs draining. */
  put(text: Buffer, complete: boolean, bareLf: boolean): void | Promise<void> {
    const s = this.#s;
    if (complete && bareLf) this.bareLfLines += 1;
    const type = complete ? REC_TYPE.NORM : REC_TYPE.CONT;
    const c = s.cleanup;
    const lineStart = !this.#prevCont;
    this.#prevCont = !complete;
    if (this.#first && lineStart) {
      let i = 0;
      while (i < text.length && text[i] === GT) i++;
      if (text.length - i >= 5 && text.compare(FROM_, 0, 5, i, i + 5) === 0) {
        if (c && s.err === CLEANUP_STAT.OK) c.record(type, Buffer.concat([MAILBOX_LINE, text]));
        return;
      }
      this.#first = false;
      if (text.length > 0 && (text[0] === SP || text[0] === TAB) && c && s.err === CLEANUP_STAT.OK) c.record(REC_TYPE.NORM, '');
    }
    if (s.err !== CLEANUP_STAT.OK) return;
    const limit = s.server.messageSizeLimit;
    if (limit > 0 && limit - s.state.actSize < text.length + 2) {
      s.err = CLEANUP_STAT.SIZE;
      msgWarn(`${s.logId}: queue file size limit exceeded`);
      return;
    }
    s.state.actSize += text.length + 2;
    if (!c) return;
    c.record(type, text);
    if (c.buffered >= CLEANUP_CLNT_BUFFER) return this.#drain();
  }

  async #drain(): Promise<void> {
    const c = this.#s.cleanup;
    if (!c) return;
    await c.drain();
    if (c.error && this.#s.err === CLEANUP_STAT.OK) this.#s.err = CLEANUP_STAT.WRITE;
  }
}

export async function dataCmd(s: SmtpdSession, args: SmtpdToken[]): Promise<boolean> {
  const st = s.state;
  if (s.bdat !== 'none') {
    await s.reply('503 5.5.1 Error: DATA after BDAT');
    return false;
  }
  if (st.rcptCount === 0) {
    await s.reply(st.sender === null ? '503 5.5.1 Error: need RCPT command' : '554 5.5.1 Error: no valid recipients');
    return false;
  }
  if (args.length !== 1) {
    await s.reply('501 5.5.4 Syntax: DATA');
    return false;
  }
  const checks = st.standAlone ? null : s.server.checks;
  if (checks) {
    const err = await checks.checkData(st);
    if (err !== null) {
      await s.reply(err);
      return false;
    }
  }
  messageStart(s);
  await s.reply('354 End data with <CR><LF>.<CR><LF>');
  st.where = WHERE_DATA_CONTENT;
  const w = new ContentWriter(s);
  await s.chat.flushIfIdle();
  const r = await readDotData(s.reader, (p) => w.put(p.text, p.complete, p.bareLf));
  if (r.status === 'timeout') throw new SmtpdIoError('timeout');
  if (r.status !== 'end') throw new SmtpdIoError('eof');
  return endOfMessage(s, w.bareLfLines, null);
}

/** "CODE D.D.D Error: text" for one status bit. */
function detailReply(bit: number): string {
  const d = cleanupStatDetail(bit);
  return `${d.smtp} ${d.dsn} Error: ${d.text}`;
}

/** Is text a complete SMTP reply that cleanup sent (Postfix IS_SMTP_REJECT)? */
function isSmtpReject(text: string): boolean {
  return /^[45]\d\d( |-|$)/.test(text);
}

/** End-of-data processing for DATA and BDAT LAST; see the header. */
export async function endOfMessage(s: SmtpdSession, bareLfLines: number, bdatTotal: number | null): Promise<boolean> {
  const st = s.state;
  st.where = SMTPD_WHERE.EOM;
  const done = (): void => {
    s.mailReset();
    s.rcptReset();
  };
  if (s.server.bareNewline === 'reject' && s.bareNewlineChecks && bareLfLines > 0) {
    msgInfo(`${s.logId}: reject: ${SMTPD_WHERE.EOM} from ${st.namaddr}: bare <LF> received;${s.whatsup()}`);
    await s.reply(`${s.server.bareNewlineRejectCode} 5.5.2 ${s.server.myhostname} Error: bare <LF> received`);
    done();
    return false;
  }
  const checks = st.standAlone ? null : s.server.checks;
  if (s.err === CLEANUP_STAT.OK && checks) {
    const err = await checks.checkEod(st);
    if (err !== null) {
      await s.reply(err);
      done();
      return false;
    }
  }
  const queueId = st.queueId ?? '';
  const r = await finishMessage(s);
  const status = r.status;
  const why = r.reason.replace(/[^\x20-\x7e]/g, ' ');
  if (status === CLEANUP_STAT.OK) {
    st.errorCount = 0;
    st.junkCommands = 0;
    await s.reply(bdatTotal === null ? `250 2.0.0 Ok: queued as ${queueId}` : `250 2.0.0 Ok: ${bdatTotal} bytes queued as ${queueId}`);
  } else if (why && isSmtpReject(why)) {
    await s.reply(why);
  } else if (status & CLEANUP_STAT.DEFER) {
    const d = cleanupStatDetail(CLEANUP_STAT.DEFER);
    await s.reply(why ? `${d.smtp} ${why}` : `${d.smtp} ${d.dsn} Error: ${d.text}`);
  } else if (status & CLEANUP_STAT.BAD) {
    const d = cleanupStatDetail(CLEANUP_STAT.BAD);
    await s.reply(`${d.smtp} ${d.dsn} Error: internal error ${status}`);
  } else if (status & CLEANUP_STAT.SIZE) {
    await s.reply(detailReply(CLEANUP_STAT.SIZE));
  } else if (status & CLEANUP_STAT.HOPS) {
    await s.reply(detailReply(CLEANUP_STAT.HOPS));
  } else if (status & CLEANUP_STAT.CONT) {
    const d = cleanupStatDetail(CLEANUP_STAT.CONT);
    await s.reply(why ? `${d.smtp} ${why}` : detailReply(CLEANUP_STAT.CONT));
  } else if (status & CLEANUP_STAT.WRITE) {
    await s.reply(detailReply(CLEANUP_STAT.WRITE));
  } else {
    const d = cleanupStatDetail(CLEANUP_STAT.BAD);
    await s.reply(`${d.smtp} ${d.dsn} Error: internal error ${status}`);
  }
  done();
  return status === CLEANUP_STAT.OK;
}
