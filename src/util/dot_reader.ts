/*
 * dot_reader - read dot-terminated, dot-stuffed content (SMTP DATA) from a LineReader
 *
 * What it does: readDotData() takes lines (and pieces of over-long lines)
 * from a LineReader, removes the stuffed dot at the start of a line, finds
 * the end of the content, and hands every content piece to a callback,
 * awaiting it before reading on (so a slow writer slows the client). It
 * follows Postfix 3.7.11's smtpd as observed on the real program:
 *  - a line ends at LF (never at CR alone); the LineReader strips the CR(s)
 *    before it (all of them when the reader's detectBareLf is off, one
 *    when it is on) and says whether the LF was bare;
 *  - a leading dot is removed from a line that starts a new line (not from
 *    the second and later pieces of an over-long line); a piece that is
 *    then empty, i.e. the line was ".", ends the content;
 *  - with the reader's detectBareLf on (smtpd_forbid_bare_newline =
 *    normalize/yes/reject, client not in the exclusions) only
 *    <CR><LF>.<CR><LF> ends the content: a "." line that itself ended in a
 *    bare LF, or that follows a line that did, is not the end; it is
 *    dropped (not stored) and reading goes on. With it off (= no), any "."
 *    line ends the content, so <LF>.<LF>, <CR><LF>.<LF> and <LF>.<CR><LF>
 *    all end it (the smuggling-prone legacy);
 *  - a size cap (message_size_limit): once the next piece would take the
 *    running size (sizeStart + length + 2 per piece, as smtpd counts) past
 *    sizeLimit, no more pieces are handed out, but the content is read to
 *    its end, and the result says overflow;
 *  - counts lines that ended in a bare LF, so the caller can reject
 *    (smtpd_forbid_bare_newline = reject) after the end.
 * A bare CR inside a line is passed through as it came.
 *
 * What it does not do: choose replies or log (smtpd does: 550 bare <LF>,
 * 552 size), add headers, recognize a "From " first line, or change CRs
 * (Postfix stores a bare CR as a space further down the line).
 *
 * DIAGNOSTICS
 * Results are values: { status: 'end' } or the LineReader's 'eof',
 * 'timeout', 'error' (the client went away or stalled mid-content), each
 * with the counts so far. An exception from the callback propagates.
 */
import { type LineReader } from './line_reader.js';

const DOT = 0x2e;

export interface DotReaderOptions {
  /** message_size_limit in bytes; 0 = none. */
  sizeLimit?: number;
  /** Bytes already counted against sizeLimit (headers the caller adds). */
  sizeStart?: number;
  /** Overrides the reader's per-read timeout (ms). */
  timeoutMs?: number;
}

export interface DataPiece {
  /** Content without line ending, leading stuffed dot removed. */
  text: Buffer;
  /** The piece ends a line (false: an over-long line goes on in the next piece). */
  complete: boolean;
  /** The line ended in a bare LF. */
  bareLf: boolean;
}

export interface DataCounts {
  /** Size as counted against sizeLimit (includes sizeStart). */
  size: number;
  /** Pieces handed to the callback. */
  pieces: number;
  /** Lines (complete pieces) that ended in a bare LF, delivered or not. */
  bareLfLines: number;
  /** "." lines that did not end the content and were dropped. */
  droppedDots: number;
  /** The size cap was reached; later pieces were read and discarded. */
  overflow: boolean;
}

export type DotDataResult =
  | ({ status: 'end' } & DataCounts)
  | ({ status: 'eof'; partial: Buffer } & DataCounts)
  | ({ status: 'timeout' } & DataCounts)
  | ({ status: 'error'; error: Error } & DataCounts);

/** Reads content up to its end; see the header. */
export async function readDotData(reader: LineReader, onPiece: (p: DataPiece) => void | Promise<void>, opts: DotReaderOptions = {}): Promise<DotDataResult> {
  const sizeLimit = opts.sizeLimit ?? 0;
  if (!Number.isInteger(sizeLimit) || sizeLimit < 0) throw new RangeError(`dot_reader: bad sizeLimit ${sizeLimit}`);
  const counts: DataCounts = { size: opts.sizeStart ?? 0, pieces: 0, bareLfLines: 0, droppedDots: 0, overflow: false };
  const readOpts = opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs };
  let lineStart = true;
  let prevBareLf = false;
  for (;;) {
    const r = await reader.readLine(readOpts);
    if (r.status !== 'line') return { ...r, ...counts };
    let text = r.line;
    if (r.complete && r.bareLf) counts.bareLfLines += 1;
    if (lineStart && text.length > 0 && text[0] === DOT) {
      if (text.length === 1 && r.complete) {
        if (!reader.detectBareLf || (!r.bareLf && !prevBareLf)) return { status: 'end', ...counts };
        counts.droppedDots += 1;
        prevBareLf = r.bareLf;
        continue;
      }
      text = text.subarray(1);
    }
    lineStart = r.complete;
    prevBareLf = r.complete && r.bareLf;
    if (counts.overflow) continue;
    if (sizeLimit > 0 && sizeLimit - counts.size < text.length + 2) {
      counts.overflow = true;
      continue;
    }
    counts.size += text.length + 2;
    counts.pieces += 1;
    await onPiece({ text, complete: r.complete, bareLf: r.complete && r.bareLf });
  }
}
