/*
 * postdrop_copy - check a submission record stream and copy it into a maildrop file
 *
 * What it does: postdropCopy() reads queue file records from a byte
 * source (postdrop's standard input, as sendmail(1) writes them) and
 * appends them to an open maildrop MailStream with the rules of
 * Postfix's postdrop.c: it writes its own arrival time record first and
 * drops the caller's 'T' records; each segment allows only the
 * submission record types (REC_TYPE_POST_ENVELOPE, _CONTENT, _EXTRACT:
 * the first type of a set ends that segment); named attributes are kept
 * only for the few that a user may set (encoding 7bit/8bit/none,
 * envelope_id, notify_flags, the DSN attributes with record equivalents,
 * rewrite_context local/remote, trace_flags), others are dropped with a
 * warning; records longer than line_length_limit, pointer records and
 * truncated input are fatal; the end record 'E' ends the copy; input that
 * stops cleanly before it means the submission was cancelled. At least
 * one sender and one recipient record are required.
 *
 * What it does not do: create, finish or remove the file (postdrop.ts),
 * or talk to the caller: it returns an outcome that postdrop.ts reports.
 *
 * DIAGNOSTICS
 * Outcome 'fatal' carries Postfix's text ("uid=N: malformed input",
 * "uid=N: unexpected record type: 88"); ignored attributes are warnings
 * ("uid=N: ignoring attribute record: name=value").
 */
import { MAIL_ATTR } from '../global/mail_proto.js';
import {
  formatTimeRecord,
  REC_TYPE,
  REC_TYPE_POST_CONTENT,
  REC_TYPE_POST_ENVELOPE,
  REC_TYPE_POST_EXTRACT,
} from '../global/rec_type.js';
import { encodeRecord, RecordStreamDecoder } from '../global/record.js';
import { msgWarn } from '../util/msg.js';

/** The segments in the order they must come; each set's first type ends that segment. */
export const POSTDROP_SEGMENTS: readonly string[] = [REC_TYPE_POST_ENVELOPE, REC_TYPE_POST_CONTENT, REC_TYPE_POST_EXTRACT, ''];

/** Attributes that have a record type of their own (Postfix rec_attr_map). */
export const POSTDROP_REC_ATTR_NAMES: readonly string[] = [
  MAIL_ATTR.DSN_ORCPT,
  MAIL_ATTR.DSN_NOTIFY,
  MAIL_ATTR.DSN_ENVID,
  MAIL_ATTR.DSN_RET,
  MAIL_ATTR.CREATE_TIME,
];

/** Longest attribute name/value shown in a warning (Postfix "%.200s"). */
const SHOW_MAX = 200;

export interface PostdropSink {
  append(data: Buffer): Promise<void>;
}

export type PostdropOutcome =
  | { kind: 'done'; fromCount: number; rcptCount: number }
  | { kind: 'cancelled' }
  | { kind: 'fatal'; text: string }
  | { kind: 'write-error'; error: Error };

export interface PostdropCopyOptions {
  uid: number;
  /** line_length_limit: the longest record accepted. */
  lineLimit: number;
  /** Arrival time to write (postdrop does not trust the caller's). */
  sec: number;
  usec: number;
}

/** Is this attribute one a local user may pass through postdrop? */
export function postdropAttrAllowed(name: string, value: string): boolean {
  if (name === MAIL_ATTR.ENCODING) return value === MAIL_ATTR.ENC_7BIT || value === MAIL_ATTR.ENC_8BIT || value === MAIL_ATTR.ENC_NONE;
  if (name === MAIL_ATTR.DSN_ENVID || name === MAIL_ATTR.DSN_NOTIFY) return true;
  if (POSTDROP_REC_ATTR_NAMES.includes(name)) return true;
  if (name === MAIL_ATTR.RWR_CONTEXT) return value === MAIL_ATTR.RWR_LOCAL || value === MAIL_ATTR.RWR_REMOTE;
  return name === MAIL_ATTR.TRACE_FLAGS;
}

/** Postfix split_nameval: "name = value" with white space trimmed; null text = ok. */
export function splitAttr(text: string): { name: string; value: string } | { error: string } {
  const eq = text.indexOf('=');
  if (eq < 0) return { error: 'missing \'=\' after attribute name' };
  const name = text.slice(0, eq).trim();
  if (name === '') return { error: 'missing attribute name' };
  return { name, value: text.slice(eq + 1).trim() };
}

/**
 * Copies records from `input` to `sink`. After a write error the rest of
 * the input is read (and checked) before returning, as Postfix does, so
 * the caller never gets a broken pipe.
 */
export async function postdropCopy(input: AsyncIterable<Buffer>, sink: PostdropSink, opts: PostdropCopyOptions): Promise<PostdropOutcome> {
  const uid = opts.uid;
  const decoder = new RecordStreamDecoder(opts.lineLimit);
  let segment = 0;
  let fromCount = 0;
  let rcptCount = 0;
  let writeError: Error | null = null;
  const put = async (type: number, data: Buffer | string): Promise<void> => {
    if (writeError) return;
    try {
      await sink.append(encodeRecord(type, data));
    } catch (err) {
      writeError = err as Error;
    }
  };
  await put(REC_TYPE.TIME, formatTimeRecord(opts.sec, opts.usec));
  const iterator = input[Symbol.asyncIterator]();
  for (;;) {
    const rec = decoder.next();
    if (rec.kind === 'error') return { kind: 'fatal', text: `uid=${uid}: malformed input` };
    if (rec.kind === 'partial') {
      const chunk = await iterator.next();
      if (chunk.done) {
        if (decoder.finish()) return { kind: 'fatal', text: `uid=${uid}: malformed input` };
        return { kind: 'cancelled' };
      }
      decoder.push(chunk.value);
      continue;
    }
    const type = rec.type;
    if (writeError) {
      // Drain: only the end record matters now.
      if (type === REC_TYPE.END) break;
      continue;
    }
    const expected = POSTDROP_SEGMENTS[segment]!;
    if (!expected.includes(String.fromCharCode(type))) return { kind: 'fatal', text: `uid=${uid}: unexpected record type: ${type}` };
    if (type === expected.charCodeAt(0)) segment++;
    if (type === REC_TYPE.TIME) continue;
    if (type === REC_TYPE.FROM) fromCount++;
    if (type === REC_TYPE.RCPT) rcptCount++;
    if (type === REC_TYPE.ATTR) {
      const text = rec.data.toString('latin1');
      const nv = splitAttr(text);
      if ('error' in nv) {
        msgWarn(`uid=${uid}: ignoring malformed record: ${nv.error}: ${text.slice(0, SHOW_MAX)}`);
        continue;
      }
      if (postdropAttrAllowed(nv.name, nv.value)) {
        await put(REC_TYPE.ATTR, Buffer.from(`${nv.name}=${nv.value}`, 'latin1'));
      } else {
        msgWarn(`uid=${uid}: ignoring attribute record: ${nv.name.slice(0, SHOW_MAX)}=${nv.value.slice(0, SHOW_MAX)}`);
      }
      continue;
    }
    await put(type, rec.data);
    if (type === REC_TYPE.END) break;
  }
  if (writeError) {
    // Read what is left so that the writer does not die of SIGPIPE.
    for (let c = await iterator.next(); !c.done; c = await iterator.next()) {
      /* discard */
    }
    return { kind: 'write-error', error: writeError };
  }
  return { kind: 'done', fromCount, rcptCount };
}
