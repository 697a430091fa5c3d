/*
 * smtp_content - message content from the queue file to the DATA stream (Postfix smtp_proto.c smtp_text_out)
 *
 * What it does: readContent() reads the content records of a queue file
 * (normal lines and continued pieces, up to the extracted segment).
 * DataWriter turns records into the bytes sent after DATA: CRLF line
 * ends, a '.' doubled at the start of a line (dot-stuffing), and lines
 * longer than smtp_line_length_limit broken by inserting CRLF SPACE,
 * exactly as smtp_text_out() counts. sendContent() runs the records
 * through the optional 8BITMIME downgrade (smtp_mime.ts) into a
 * DataWriter and flushes to the server every DATA_FLUSH_BYTES.
 *
 * What it does not do: header/body checks or generic maps on output
 * (smtp_header_checks etc.: not yet), or send "." (smtp_proto.ts does).
 *
 * DIAGNOSTICS
 * readContent() returns { ok: false, message } for an unreadable queue
 * file; the caller defers with "local data error".
 */
import { readQueueFile } from '../global/queue_file_read.js';
import { MIME_REC, MimeDowngrade, type MimeRec } from './smtp_mime.js';

/** Bytes collected before they are handed to the socket. */
export const DATA_FLUSH_BYTES = 64 * 1024;

export interface ContentRecord {
  rec: MimeRec;
  text: string;
}

export function readContent(path: string): { ok: true; records: ContentRecord[] } | { ok: false; message: string } {
  const r = readQueueFile(path, { content: true });
  if (!r.ok) return { ok: false, message: r.error.message };
  const records = (r.file.content ?? []).map((c) => ({ rec: c.continued ? MIME_REC.CONT : MIME_REC.NORM, text: c.text.toString('latin1') }));
  return { ok: true, records };
}

export class DataWriter {
  #spaceLeft: number;
  #chunks: string[] = [];
  #size = 0;

  constructor(private readonly limit: number) {
    this.#spaceLeft = limit;
  }

  #put(s: string): void {
    this.#chunks.push(s);
    this.#size += s.length;
  }

  /** One record, as smtp_text_out(). */
  record(rec: MimeRec, text: string): void {
    const limit = this.limit;
    let start = 0;
    let left = text.length;
    do {
      if (this.#spaceLeft === limit && left > 0 && text.charCodeAt(start) === 0x2e) this.#put('.');
      if (limit > 0 && left >= this.#spaceLeft) {
        this.#put(`${text.slice(start, start + this.#spaceLeft)}\r\n`);
        start += this.#spaceLeft;
        left -= this.#spaceLeft;
        this.#spaceLeft = limit;
        if (left > 0 || rec === MIME_REC.CONT) {
          this.#put(' ');
          this.#spaceLeft -= 1;
        }
      } else {
        if (rec === MIME_REC.CONT) {
          this.#put(text.slice(start));
          this.#spaceLeft -= left;
        } else {
          this.#put(`${text.slice(start)}\r\n`);
          this.#spaceLeft = limit;
        }
        break;
      }
    } while (left > 0);
  }

  get pending(): number {
    return this.#size;
  }

  /** The bytes collected so far; the writer is emptied. */
  take(): Buffer {
    const b = Buffer.from(this.#chunks.join(''), 'latin1');
    this.#chunks = [];
    this.#size = 0;
    return b;
  }
}

/**
 * Feeds the records through the optional downgrade into a writer and
 * calls out() with each chunk of wire bytes (at least every
 * DATA_FLUSH_BYTES, and once at the end).
 */
export async function sendContent(
  records: ContentRecord[],
  opts: { lineLimit: number; downgrade: boolean; nestingLimit: number; headerLimit: number },
  out: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  const w = new DataWriter(opts.lineLimit);
  const queue: ContentRecord[] = [];
  const mime = opts.downgrade
    ? new MimeDowngrade((rec, text) => queue.push({ rec, text }), { nestingLimit: opts.nestingLimit, headerLimit: opts.headerLimit })
    : null;
  const drain = async (): Promise<void> => {
    for (const r of queue) w.record(r.rec, r.text);
    queue.length = 0;
    if (w.pending >= DATA_FLUSH_BYTES) await out(w.take());
  };
  for (const r of records) {
    if (mime) mime.update(r.rec, r.text);
    else queue.push(r);
    await drain();
  }
  mime?.end();
  // A last continued piece ends the line (Postfix flushes a partial line at the end).
  if (!mime && records.length > 0 && records[records.length - 1]!.rec === MIME_REC.CONT) queue.push({ rec: MIME_REC.NORM, text: '' });
  for (const r of queue) w.record(r.rec, r.text);
  queue.length = 0;
  if (w.pending > 0) await out(w.take());
}
