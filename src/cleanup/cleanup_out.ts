/*
 * cleanup_out - write records to the queue file (Postfix cleanup_out.c)
 *
 * What it does: records go into the queue file's MailStream buffer
 * (push(); its offset tells callers where the content and the extracted
 * segment start). The functions do what Postfix's cleanup_out* do:
 *   - cleanupOut(): nothing once the message is doomed (CLEANUP_OUT_OK is
 *     false); a text record ('N' or 'L') longer than line_length_limit is
 *     written as 'L' records of line_length_limit bytes and a final record
 *     of the original type; a record that would grow the file past
 *     message_size_limit sets CLEANUP_STAT.SIZE with Postfix's warning
 *     "QUEUEID: queue file size limit exceeded" (Postfix gets EFBIG from
 *     its file size limit).
 *   - cleanupOutHeader(): one logical header (lines joined by '\n') as
 *     one 'N' record per line; a line after the first that does not start
 *     with white space gets a TAB in front (rewritten address lists); a
 *     header longer than header_size_limit is cut at the last line
 *     boundary when that keeps more than 90% of the limit, else at the limit.
 * Content text is handled as 'latin1' strings so every byte survives;
 * envelope strings are UTF-8.
 *
 * What it does not do: decide record order (envelope, message,
 * extracted), fsync or rename (cleanup_api.ts).
 *
 * DIAGNOSTICS
 * Write errors from the file system set CLEANUP_STAT.WRITE with
 * "QUEUEID: write queue file: <error>" when flush() fails.
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { REC_TYPE } from '../global/rec_type.js';
import { encodeRecord } from '../global/record.js';
import { clog } from './cleanup_log.js';
import { type CleanupState, SMTPUTF8_FLAG } from './cleanup_state.js';

function isText(type: number): boolean {
  return type === REC_TYPE.NORM || type === REC_TYPE.CONT;
}

function putRecord(state: CleanupState, type: number, data: Buffer): void {
  const rec = encodeRecord(type, data);
  const limit = state.params.messageSizeLimit;
  if (limit > 0 && state.out.offset + rec.length > limit) {
    clog.warn(`${state.queueId}: queue file size limit exceeded`);
    state.errs |= CLEANUP_STAT.SIZE;
    return;
  }
  state.out.push(rec);
}

/** Postfix cleanup_out(): one record, long text split at line_length_limit. */
export function cleanupOut(state: CleanupState, type: number, data: Buffer | string, encoding: BufferEncoding = 'utf8'): void {
  if (!state.outOk()) return;
  let buf = typeof data === 'string' ? Buffer.from(data, encoding) : data;
  const limit = state.params.lineLimit;
  if (isText(type)) {
    while (buf.length > limit) {
      putRecord(state, REC_TYPE.CONT, buf.subarray(0, limit));
      if (!state.outOk()) return;
      buf = buf.subarray(limit);
    }
  }
  putRecord(state, type, buf);
}

/** Content text (latin1: one char per byte). */
export function cleanupOutText(state: CleanupState, type: number, text: string): void {
  cleanupOut(state, type, text, 'latin1');
}

/** Postfix cleanup_out_header(): one logical header as 'N' records. */
export function cleanupOutHeader(state: CleanupState, header: string): void {
  // Postfix 20140711: a non-ASCII header means SMTPUTF8 may be needed.
  if (state.params.smtputf8Enable && header !== '' && /[^\x00-\x7f]/.test(header)) {
    state.smtputf8 |= SMTPUTF8_FLAG.HEADER;
    if (state.flags & CLEANUP_FLAG.AUTOUTF8) state.smtputf8 |= SMTPUTF8_FLAG.REQUESTED;
  }
  const limit = state.params.headerSizeLimit;
  const lines = header.split('\n');
  let pos = 0;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (pos + line.length > limit) {
      if (pos > 0.9 * limit) break; // nice cut at a line boundary
      line = line.slice(0, Math.max(0, limit - pos)); // unkind cut
      if (i === 0 || /^[ \t]/.test(line)) cleanupOutText(state, REC_TYPE.NORM, line);
      else cleanupOutText(state, REC_TYPE.NORM, '\t' + line);
      break;
    }
    if (i === 0 || /^[ \t]/.test(line)) cleanupOutText(state, REC_TYPE.NORM, line);
    else cleanupOutText(state, REC_TYPE.NORM, '\t' + line);
    pos += line.length + 1;
  }
}
