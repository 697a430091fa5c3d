/*
 * sendmail_enqueue - turn sendmail's arguments and standard input into submission records
 *
 * What it does: writeSubmission() produces the record stream Postfix's
 * sendmail(1) hands to postdrop(1), in Postfix's order: envelope_id,
 * ret_flags and rewrite_context attributes, the full name 'F', the
 * sender 'S', the encoding and trace_flags attributes, VERP delimiters
 * 'V', then per command-line address (each argument parsed as an RFC 822
 * address list; an argument without addresses gives an empty recipient)
 * an optional notify_flags attribute and 'R'; 'M'; the content as 'N'
 * records for lines and 'L' records for pieces of line_length_limit
 * bytes or a last line without newline (StreamLfReader); 'X' with the
 * recipients -t extracted; 'E'. Content rules: leading "From " lines
 * (also ">From ") are dropped, carriage returns before the newline are
 * removed per sendmail_fix_line_endings, and unless -i a line with only
 * "." ends the input. With -bv the content is Postfix's probe message.
 *
 * What it does not do: talk to postdrop (sendmail.ts does), decide the
 * sender's login or full name (the caller passes them), or rewrite
 * addresses (cleanup does).
 *
 * DIAGNOSTICS
 * Throws EnqueueError with Postfix's text and sysexits status: no
 * recipients, -V with a null sender, -t with -bv, a header too long for
 * -t, a bad sendmail_fix_line_endings value.
 */
import { TOK822 } from '../global/tok822.js';
import { tokGrep } from '../global/tok822.js';
import { tokInternalize, tokParse } from '../global/tok822_parse.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { REC_TYPE } from '../global/rec_type.js';
import { encodeRecord } from '../global/record.js';
import { HeaderExtractor, MIME_ERR_TRUNC_HEADER_TEXT } from './sendmail_extract.js';
import { DEL_REQ_FLAG, EX } from './sendmail_opts.js';

export class EnqueueError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'EnqueueError';
  }
}

export interface SubmissionOptions {
  /** The sender, already internalized ('' for <>). */
  sender: string;
  /** For messages: "sender(uid)". */
  who: string;
  fullName: string | null;
  recipients: readonly string[];
  aeof: boolean;
  extract: boolean;
  traceFlags: number;
  encoding: string | null;
  rewriteContext: string;
  dsnNotify: number;
  dsnRet: number;
  dsnEnvid: string | null;
  verpDelims: string | null;
  lineLimit: number;
  headerLimit: number;
  /** sendmail_fix_line_endings: always, strict or never. */
  fixEol: string;
}

/** Reads lines as Postfix rec_streamlf_get: NORM for a line, CONT for a piece or an unterminated end. */
export class StreamLfReader {
  #chunks: Buffer[] = [];
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #eof = false;
  readonly #it: AsyncIterator<Buffer>;

  constructor(input: AsyncIterable<Buffer>) {
    this.#it = input[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#eof = true;
      return false;
    }
    this.#buf = this.#pos < this.#buf.length ? Buffer.concat([this.#buf.subarray(this.#pos), r.value]) : r.value;
    this.#pos = 0;
    return true;
  }

  /** The next record, or null at the end of input. */
  async next(limit: number): Promise<{ type: number; data: Buffer } | null> {
    this.#chunks = [];
    let have = 0;
    for (;;) {
      if (this.#pos >= this.#buf.length && !(await this.#fill())) {
        return have > 0 ? { type: REC_TYPE.CONT, data: Buffer.concat(this.#chunks) } : null;
      }
      const room = limit - have;
      const end = Math.min(this.#buf.length, this.#pos + room);
      const nl = this.#buf.indexOf(0x0a, this.#pos);
      if (nl >= 0 && nl < end) {
        this.#chunks.push(this.#buf.subarray(this.#pos, nl));
        this.#pos = nl + 1;
        return { type: REC_TYPE.NORM, data: Buffer.concat(this.#chunks) };
      }
      this.#chunks.push(this.#buf.subarray(this.#pos, end));
      have += end - this.#pos;
      this.#pos = end;
      if (have >= limit) return { type: REC_TYPE.CONT, data: Buffer.concat(this.#chunks) };
    }
  }
}

/** Internal-form addresses of one argument (Postfix tok822_parse + tok822_internalize). */
export function argumentAddresses(text: string): string[] {
  const tree = tokParse(text);
  if (!tree) return [];
  return tokGrep(tree, TOK822.ADDR).map((t) => tokInternalize(t.head));
}

const STARTS_FROM = /^>*From /;

/**
 * Writes the whole submission through `put` (one encoded record at a
 * time; `put` may apply backpressure). Strings are latin1 so that 8-bit
 * bytes pass unchanged.
 */
export async function writeSubmission(input: AsyncIterable<Buffer>, put: (rec: Buffer) => void | Promise<void>, o: SubmissionOptions): Promise<number> {
  const rec = (type: number, data: string | Buffer): void | Promise<void> => put(encodeRecord(type, typeof data === 'string' ? Buffer.from(data, 'latin1') : data));
  let rcptCount = 0;
  if (o.dsnEnvid !== null) await rec(REC_TYPE.ATTR, `${MAIL_ATTR.DSN_ENVID}=${o.dsnEnvid}`);
  if (o.dsnRet) await rec(REC_TYPE.ATTR, `${MAIL_ATTR.DSN_RET}=${o.dsnRet}`);
  await rec(REC_TYPE.ATTR, `${MAIL_ATTR.RWR_CONTEXT}=${o.rewriteContext}`);
  if (o.fullName !== null) await rec(REC_TYPE.FULL, o.fullName);
  await rec(REC_TYPE.FROM, o.sender);
  if (o.verpDelims !== null && o.sender === '') throw new EnqueueError(`${o.who}: -V option requires non-null sender address`, EX.USAGE);
  if (o.encoding !== null) await rec(REC_TYPE.ATTR, `${MAIL_ATTR.ENCODING}=${o.encoding}`);
  if (o.traceFlags) await rec(REC_TYPE.ATTR, `${MAIL_ATTR.TRACE_FLAGS}=${o.traceFlags}`);
  if (o.verpDelims !== null) await rec(REC_TYPE.VERP, o.verpDelims);
  for (const arg of o.recipients) {
    const addrs = argumentAddresses(arg);
    for (const addr of addrs) {
      if (o.dsnNotify) await rec(REC_TYPE.ATTR, `${MAIL_ATTR.DSN_NOTIFY}=${o.dsnNotify}`);
      await rec(REC_TYPE.RCPT, addr);
      rcptCount++;
    }
    if (addrs.length === 0) {
      await rec(REC_TYPE.RCPT, '');
      rcptCount++;
    }
  }
  await rec(REC_TYPE.MESG, '');
  let extractor: HeaderExtractor | null = null;
  if (o.traceFlags & DEL_REQ_FLAG.USR_VRFY) {
    if (o.extract) throw new EnqueueError(`${o.who}: -t option cannot be used with -bv`, EX.USAGE);
    if (o.sender !== '') await rec(REC_TYPE.NORM, `From: ${o.sender}`);
    await rec(REC_TYPE.NORM, 'Subject: probe');
    if (o.recipients.length > 0) {
      await rec(REC_TYPE.CONT, 'To:');
      for (let i = 0; i < o.recipients.length; i++) {
        await rec(REC_TYPE.NORM, `\t${o.recipients[i]}${i + 1 < o.recipients.length ? ',' : ''}`);
      }
    }
  } else {
    const pending: Buffer[] = [];
    if (o.extract) {
      extractor = new HeaderExtractor((type, text) => void pending.push(encodeRecord(type, Buffer.from(text, 'latin1'))), o.lineLimit, o.headerLimit);
    }
    let stripCr: 'dunno' | 'do' | 'dont';
    if (o.fixEol === 'always') stripCr = 'do';
    else if (o.fixEol === 'strict') stripCr = 'dunno';
    else if (o.fixEol === 'never') stripCr = 'dont';
    else throw new EnqueueError(`invalid sendmail_fix_line_endings value: ${o.fixEol}`, EX.USAGE);
    const reader = new StreamLfReader(input);
    let skipFrom = true;
    let prevType = 0;
    for (let r = await reader.next(o.lineLimit); r !== null; prevType = r.type, r = await reader.next(o.lineLimit)) {
      let data = r.data;
      if (stripCr === 'dunno' && r.type === REC_TYPE.NORM) stripCr = data.length > 0 && data[data.length - 1] === 0x0d ? 'do' : 'dont';
      if (skipFrom) {
        if (r.type === REC_TYPE.NORM && STARTS_FROM.test(data.toString('latin1', 0, Math.min(data.length, 4096)))) continue;
        skipFrom = false;
      }
      if (stripCr === 'do' && r.type === REC_TYPE.NORM) {
        let end = data.length;
        while (end > 0 && data[end - 1] === 0x0d) end--;
        data = data.subarray(0, end);
      }
      if (o.aeof && prevType !== REC_TYPE.CONT && data.length === 1 && data[0] === 0x2e) break;
      if (extractor) {
        if (!extractor.update(r.type, data.toString('latin1'))) {
          throw new EnqueueError(`${o.who}: unable to extract recipients: ${MIME_ERR_TRUNC_HEADER_TEXT}`, EX.DATAERR);
        }
        for (const b of pending.splice(0)) await put(b);
      } else {
        await rec(r.type, data);
      }
    }
    if (extractor) {
      if (!extractor.finish()) throw new EnqueueError(`${o.who}: unable to extract recipients: ${MIME_ERR_TRUNC_HEADER_TEXT}`, EX.DATAERR);
      for (const b of pending.splice(0)) await put(b);
    }
  }
  await rec(REC_TYPE.XTRA, '');
  if (extractor) {
    for (const addr of extractor.extracted) {
      if (o.dsnNotify) await rec(REC_TYPE.ATTR, `${MAIL_ATTR.DSN_NOTIFY}=${o.dsnNotify}`);
      await rec(REC_TYPE.RCPT, addr);
      rcptCount++;
    }
  }
  if (rcptCount === 0) {
    throw new EnqueueError(
      o.extract ? `${o.who}: No recipient addresses found in message header` : `${o.who}: Recipient addresses must be specified on the command line or via the -t option`,
      EX.USAGE,
    );
  }
  await rec(REC_TYPE.END, '');
  return rcptCount;
}
