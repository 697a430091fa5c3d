/*
 * local_delivered - the Delivered-To: addresses of a message (Postfix global/delivered_hdr.c)
 *
 * What it does: deliveredHeaders() reads the primary header block of the
 * queued message (content records from the data offset) and returns the
 * values of its Delivered-To: headers, trimmed and lowercased, for mail
 * loop detection. Reading stops at the first line that is not a header
 * or header continuation (the empty line before the body).
 *
 * What it does not do: look at the body or at headers of attached
 * messages.
 *
 * DIAGNOSTICS
 * A queue file that cannot be read gives an error result; the caller
 * defers the whole request.
 */
import { openSync, closeSync } from 'node:fs';
import { contentRecords } from '../global/mail_copy.js';
import { REC_TYPE } from '../global/rec_type.js';

/** Header lines examined at most (bounds the work for a huge header block). */
export const DELIVERED_HDR_LIMIT = 10000;

export function deliveredHeaders(path: string, offset: number): { ok: true; set: Set<string> } | { ok: false; message: string } {
  const set = new Set<string>();
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return { ok: false, message: (e as Error).message };
  }
  try {
    let line = '';
    let atStart = true;
    let lines = 0;
    for (const r of contentRecords(fd, path, offset)) {
      if (r.kind === 'error') return { ok: false, message: r.message };
      if (r.kind === 'end') break;
      if (atStart) line = '';
      line += r.data.toString('latin1').slice(0, 4096 - line.length);
      atStart = r.type === REC_TYPE.NORM;
      if (!atStart) continue;
      if (++lines > DELIVERED_HDR_LIMIT) break;
      if (line === '' || !(/^[ \t]/.test(line) || /^[!-9;-~]+:/.test(line))) break;
      const m = /^delivered-to:[ \t]*(.*?)[ \t]*$/i.exec(line);
      if (m) set.add(m[1]!.toLowerCase());
    }
    return { ok: true, set };
  } finally {
    closeSync(fd);
  }
}
