/*
 * smtpd_bdat - BDAT (RFC 3030 CHUNKING without BINARYMIME), as Postfix 3.7's smtpd
 *
 * What it does: bdatCmd() reads "BDAT size [LAST]" and exactly size bytes
 * of content after it (in bounded pieces, never the whole chunk in
 * memory). The first chunk of a message does what DATA does before its
 * 354 (recipient check, smtpd_data_restrictions, Received: header); the
 * bytes are split into lines at LF, across chunk boundaries, and go
 * through the same ContentWriter as DATA content (line_length_limit
 * pieces, message_size_limit, bare <LF> accounting). Each chunk is
 * answered "250 2.0.0 Ok: N bytes"; LAST ends the message like the end
 * of DATA, answered "250 2.0.0 Ok: TOTAL bytes queued as ID". Errors as
 * Postfix: CHUNKING discarded -> 521 (and hangup), bad syntax -> 521
 * with a "malformed BDAT command" warning, no recipients -> 503/554 and
 * the chunk discarded, "BDAT 0" without LAST -> 551, a chunk larger
 * than message_size_limit -> 552 (discarded); after an error the
 * following chunks are discarded ("551 5.0.0 Discarded N bytes after
 * earlier error") until LAST ends the transaction.
 *
 * What it does not do: BINARYMIME.
 *
 * DIAGNOSTICS
 * Lost connection or timeout inside a chunk ends the session
 * (SmtpdIoError) with "... after BDAT (N bytes)".
 */
import { msgWarn } from '../util/msg.js';
import { SmtpdIoError } from './smtpd_chat.js';
import { messageStart } from './smtpd_cleanup.js';
import { ContentWriter, endOfMessage } from './smtpd_data.js';
import { type SmtpdSession, WHERE_BDAT_CONTENT } from './smtpd_session.js';
import { allDigits, printableText, type SmtpdToken } from './smtpd_token.js';

/** Largest piece of a chunk read at once. */
export const BDAT_READ_PIECE = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** Reads and drops `size` bytes of chunk content. */
async function skipChunk(s: SmtpdSession, size: number): Promise<void> {
  let left = size;
  while (left > 0) {
    const r = await s.reader.readChunk(Math.min(left, BDAT_READ_PIECE));
    if (r.status === 'timeout') throw new SmtpdIoError('timeout');
    if (r.status !== 'chunk') throw new SmtpdIoError('eof');
    left -= r.data.length;
  }
}

/** Splits chunk bytes into lines (LF-terminated, CR rules as the line reader) and writes them. */
async function copyChunk(s: SmtpdSession, w: ContentWriter, size: number): Promise<void> {
  const limit = s.server.lineLimit;
  const detect = s.reader.detectBareLf;
  let left = size;
  while (left > 0) {
    const r = await s.reader.readChunk(Math.min(left, BDAT_READ_PIECE));
    if (r.status === 'timeout') throw new SmtpdIoError('timeout');
    if (r.status !== 'chunk') throw new SmtpdIoError('eof');
    left -= r.data.length;
    const buf = s.bdatCarry ? Buffer.concat([s.bdatCarry, r.data]) : r.data;
    s.bdatCarry = null;
    let start = 0;
    for (;;) {
      const lf = buf.indexOf(LF, start);
      if (lf < 0 || lf - start > limit) {
        if (buf.length - start > limit) {
          const p = w.put(buf.subarray(start, start + limit), false, false);
          if (p) await p;
          start += limit;
          continue;
        }
        break;
      }
      let end = lf;
      const bare = end === start || buf[end - 1] !== CR;
      if (detect) {
        if (!bare) end -= 1;
      } else {
        while (end > start && buf[end - 1] === CR) end -= 1;
      }
      const p = w.put(buf.subarray(start, end), true, bare);
      if (p) await p;
      start = lf + 1;
    }
    if (start < buf.length) s.bdatCarry = Buffer.from(buf.subarray(start));
  }
}

/** The ContentWriter of the message being received with BDAT. */
const writers = new WeakMap<SmtpdSession, ContentWriter>();

export async function bdatCmd(s: SmtpdSession, args: SmtpdToken[], line: string): Promise<boolean> {
  const st = s.state;
  if (s.ehloDiscard.has('chunking')) {
    await s.reply('521 5.5.1 Error: command not implemented');
    return false;
  }
  const sizeText = args[1]?.text ?? '';
  const size = allDigits(sizeText) ? Number(sizeText) : NaN;
  if (args.length < 2 || args.length > 3 || !Number.isSafeInteger(size) || (args.length === 3 && args[2]!.text.toUpperCase() !== 'LAST')) {
    msgWarn(`${s.logId}: malformed BDAT command syntax from ${st.namaddr}: ${printableText(line.slice(0, 100), true)}`);
    await s.reply('521 5.5.4 Syntax: BDAT count [LAST]');
    return false;
  }
  const last = args.length === 3;
  if (s.bdat === 'error') {
    await skipChunk(s, size);
    await s.reply(`551 5.0.0 Discarded ${size} bytes after earlier error`);
    if (last) {
      s.mailReset();
      s.rcptReset();
    }
    return false;
  }
  if (s.bdat === 'none') {
    if (st.rcptCount === 0) {
      await skipChunk(s, size);
      await s.reply(st.sender === null ? '503 5.5.1 Error: need RCPT command' : '554 5.5.1 Error: no valid recipients');
      s.bdat = 'error';
      return false;
    }
    const checks = st.standAlone ? null : s.server.checks;
    if (checks) {
      const err = await checks.checkData(st);
      if (err !== null) {
        await skipChunk(s, size);
        await s.reply(err);
        s.bdat = 'error';
        return false;
      }
    }
    messageStart(s);
    s.bdat = 'ok';
    writers.set(s, new ContentWriter(s));
  }
  const limit = s.server.messageSizeLimit;
  if (limit > 0 && size > limit) {
    msgWarn(`${s.logId}: BDAT request from ${st.namaddr} exceeds message size limit`);
    await skipChunk(s, size);
    await s.reply('552 5.3.4 Chunk exceeds message size limit');
    if (last) {
      s.mailReset();
      s.rcptReset();
    } else {
      s.bdat = 'error';
    }
    return false;
  }
  if (size === 0 && !last) {
    msgWarn(`${s.logId}: null BDAT request from ${st.namaddr}`);
    await s.reply('551 5.7.1 Null BDAT request');
    s.bdat = 'error';
    return false;
  }
  const w = writers.get(s) ?? new ContentWriter(s);
  writers.set(s, w);
  const where = st.where;
  st.where = WHERE_BDAT_CONTENT;
  await s.chat.flushIfIdle();
  await copyChunk(s, w, size);
  st.where = where;
  s.bdatTotal += size;
  if (!last) {
    await s.reply(`250 2.0.0 Ok: ${size} bytes`);
    return true;
  }
  if (s.bdatCarry) {
    const p = w.put(s.bdatCarry, true, false);
    if (p) await p;
    s.bdatCarry = null;
  }
  writers.delete(s);
  return endOfMessage(s, w.bareLfLines, st.actSize);
}
