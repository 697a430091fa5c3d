/*
 * pipe_delivered - find Delivered-To: headers in a queued message (Postfix delivered_hdr.c)
 *
 * What it does: deliveredHdrFind() reads the primary message headers of
 * a queue file from the data offset (content records, long lines joined,
 * pointer records followed), stops at the first line that is not a
 * header (or continuation), and tells whether a Delivered-To: header
 * names the given address, compared case-insensitively (Postfix folds
 * both sides). pipe(8)'s D flag uses it for mail loop detection.
 *
 * What it does not do: look at headers in the body or in attachments,
 * or decode RFC 2047.
 *
 * DIAGNOSTICS
 * Never throws: an unreadable queue file is "no loop" (the copy that
 * follows fails and reports the error), as Postfix.
 */
import { open } from 'node:fs/promises';
import { RecordFile } from '../global/record.js';
import { REC_TYPE } from '../global/rec_type.js';
import { isHeader } from '../global/is_header.js';

/** Stop after this many header bytes (a defensive bound). */
export const DELIVERED_HDR_MAX_BYTES = 1024 * 1024;
const MAX_RECORD = 1024 * 1024;
const MAX_JUMPS = 100;

export async function deliveredHdrFind(queueFilePath: string, dataOffset: number, address: string): Promise<boolean> {
  const want = address.toLowerCase();
  let fh;
  try {
    fh = await open(queueFilePath, 'r');
  } catch {
    return false;
  }
  try {
    const rf = new RecordFile(fh.fd, queueFilePath, MAX_RECORD);
    rf.seek(dataOffset);
    let line = '';
    let total = 0;
    let jumps = 0;
    let header: string | null = null;
    const finishHeader = (): boolean => {
      if (header === null) return false;
      const m = /^delivered-to:[ \t]*(.*)$/is.exec(header);
      header = null;
      return m !== null && m[1]!.trim().toLowerCase() === want;
    };
    for (;;) {
      const r = rf.get();
      if (r.kind !== 'record') return finishHeader();
      if (r.type === REC_TYPE.PTR) {
        const target = Number(r.data.toString('latin1').trim());
        if (!Number.isInteger(target) || target < 0 || ++jumps > MAX_JUMPS) return finishHeader();
        if (target > 0) rf.seek(target);
        continue;
      }
      if (r.type === REC_TYPE.DTXT) continue;
      if (r.type !== REC_TYPE.NORM && r.type !== REC_TYPE.CONT) return finishHeader();
      line += r.data.toString('latin1');
      total += r.data.length;
      if (total > DELIVERED_HDR_MAX_BYTES) return finishHeader();
      if (r.type === REC_TYPE.CONT) continue;
      const text = line;
      line = '';
      if (text.length > 0 && (text[0] === ' ' || text[0] === '\t') && header !== null) {
        header += text;
        continue;
      }
      if (finishHeader()) return true;
      if (isHeader(text) === 0) return false;
      header = text;
    }
  } catch {
    return false;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
