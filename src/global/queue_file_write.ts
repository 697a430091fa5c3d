/*
 * queue_file_write - write a queue file in Postfix's record format
 *
 * What it does: QueueFileWriter puts records on a MailStream in the order
 * Postfix's cleanup(8) does. The envelope starts with the size record 'C'
 * whose six fixed-width fields ("%15ld" each) are written as placeholders
 * and filled in place by finish(): content size (from the first content
 * record to the 'X' record), data offset, recipient count, queue manager
 * flags, content length and SMTPUTF8 flags. Then the arrival time 'T',
 * named attributes 'A', sender 'S', recipients (optional DSN attributes,
 * 'O' original recipient, 'R'); 'M' starts the content, whose lines are
 * 'N' records or, for a line as long as the limit or longer, 'L'
 * records followed by a final 'N'; 'X' starts the extracted segment; 'E' ends the file.
 * finish() updates the size record, fsyncs and sets the ready mode; the
 * message is safe only when it resolves. recipient() returns the offset
 * of the 'R' record, which deliver_completed.ts rewrites to 'D'.
 *
 * What it does not do: decide the content (header rewriting, Received:
 * lines, checks: cleanup does), validate addresses, or read files.
 *
 * DIAGNOSTICS
 * Calls out of order (content after the end, a second 'M') throw: they
 * are caller bugs. I/O errors reject with the system error; call abort().
 */
import { encodeRecord } from './record.js';
import { formatSizeRecord, formatTimeRecord, formatWarnRecord, REC_TYPE } from './rec_type.js';
import { mailStreamFile, type MailStream, type MailStreamOptions } from './mail_stream.js';

/** Named attributes cleanup writes (Postfix mail_proto.h MAIL_ATTR_*). */
export const QUEUE_ATTR = {
  CREATE_TIME: 'create_time',
  RWR_CONTEXT: 'rewrite_context',
  DSN_ORCPT: 'dsn_orig_rcpt',
  DSN_NOTIFY: 'notify_flags',
  DSN_ENVID: 'envelope_id',
  DSN_RET: 'ret_flags',
  LOG_CLIENT_NAME: 'log_client_name',
  LOG_CLIENT_ADDR: 'log_client_address',
  LOG_CLIENT_PORT: 'log_client_port',
  LOG_HELO_NAME: 'log_helo_name',
  LOG_PROTO_NAME: 'log_protocol_name',
  CLIENT_NAME: 'client_name',
  CLIENT_ADDR: 'client_address',
  CLIENT_PORT: 'client_port',
  HELO_NAME: 'helo_name',
  PROTO_NAME: 'protocol_name',
  SASL_METHOD: 'sasl_method',
  SASL_USERNAME: 'sasl_username',
  SASL_SENDER: 'sasl_sender',
  TRACE_FLAGS: 'trace_flags',
} as const;

export interface QueueRecipient {
  /** The recipient after rewriting ('R'). */
  address: string;
  /** The recipient as it was given ('O'); omitted when absent. */
  original?: string;
  /** DSN ORCPT ("rfc822;user@example"), written as attribute dsn_orig_rcpt. */
  dsnOrcpt?: string;
  /** DSN NOTIFY flags as a number, written as attribute notify_flags. */
  dsnNotify?: number;
}

export interface QueueFileFinish {
  /** Queue manager hints (Postfix qmgr_user.h); default 0. */
  qmgrFlags?: number;
  /** Content length; default the content size. */
  contentLength?: number;
  /** SMTPUTF8 flags; default 0. */
  smtputf8?: number;
}

type Phase = 'envelope' | 'content' | 'extracted' | 'ended';

export class QueueFileWriter {
  readonly stream: MailStream;
  #phase: Phase = 'envelope';
  #sizeOffset = -1;
  #dataOffset = -1;
  #xtraOffset = -1;
  #rcptCount = 0;

  constructor(stream: MailStream) {
    this.stream = stream;
  }

  get queueId(): string {
    return this.stream.queueId;
  }

  get path(): string {
    return this.stream.path;
  }

  get recipientCount(): number {
    return this.#rcptCount;
  }

  #need(phase: Phase, what: string): void {
    if (this.#phase !== phase) throw new Error(`${this.path}: ${what} not allowed in the ${this.#phase} segment`);
  }

  /** Any record; returns its offset. */
  async record(type: number, data: Buffer | string = ''): Promise<number> {
    if (this.#phase === 'ended') throw new Error(`${this.path}: record after the end record`);
    const offset = this.stream.offset;
    await this.stream.append(encodeRecord(type, data));
    return offset;
  }

  /** The size record placeholder; must be the first record when used. */
  async sizePlaceholder(): Promise<void> {
    this.#need('envelope', 'size record');
    if (this.stream.offset !== 0) throw new Error(`${this.path}: size record must come first`);
    this.#sizeOffset = await this.record(REC_TYPE.SIZE, formatSizeRecord([0, 0, 0, 0, 0, 0]));
  }

  /** Arrival time 'T' ("sec usec"). */
  async time(sec: number, usec: number): Promise<void> {
    this.#need('envelope', 'time record');
    await this.record(REC_TYPE.TIME, formatTimeRecord(sec, usec));
  }

  /** Time of the next delay warning 'W' (fixed width, updated in place later); returns its offset. */
  async warnTime(when: number): Promise<number> {
    this.#need('envelope', 'warning time');
    return this.record(REC_TYPE.WARN, formatWarnRecord(when));
  }

  /** Named attribute 'A' ("name=value"). */
  async attr(name: string, value: string | number): Promise<number> {
    if (this.#phase === 'content') throw new Error(`${this.path}: attribute inside the content`);
    return this.record(REC_TYPE.ATTR, `${name}=${value}`);
  }

  async fullName(name: string): Promise<void> {
    await this.record(REC_TYPE.FULL, name);
  }

  /** Sender 'S'; the null sender is the empty string. */
  async sender(address: string): Promise<void> {
    this.#need('envelope', 'sender');
    await this.record(REC_TYPE.FROM, address);
  }

  /** DSN attributes, 'O' and 'R'; returns the offset of the 'R' record. */
  async recipient(r: QueueRecipient): Promise<number> {
    if (this.#phase === 'content' || this.#phase === 'ended') throw new Error(`${this.path}: recipient inside the content`);
    if (r.dsnOrcpt !== undefined) await this.attr(QUEUE_ATTR.DSN_ORCPT, r.dsnOrcpt);
    if (r.dsnNotify !== undefined && r.dsnNotify !== 0) await this.attr(QUEUE_ATTR.DSN_NOTIFY, r.dsnNotify);
    if (r.original !== undefined) await this.record(REC_TYPE.ORCP, r.original);
    const offset = await this.record(REC_TYPE.RCPT, r.address);
    this.#rcptCount++;
    return offset;
  }

  /** 'M': the envelope ends and the content starts. */
  async beginContent(): Promise<void> {
    this.#need('envelope', 'content marker');
    await this.record(REC_TYPE.MESG, '');
    this.#phase = 'content';
    this.#dataOffset = this.stream.offset;
  }

  /**
   * One content line without its line end. A line of `lineLimit`
   * (line_length_limit; 0 = no limit) bytes or more becomes 'L' records
   * of lineLimit bytes and a final 'N' with the rest, which is empty when
   * the length is a multiple of the limit (as Postfix's postdrop and
   * smtpd write it).
   */
  async line(text: Buffer | string, lineLimit = 0): Promise<void> {
    this.#need('content', 'text');
    const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    let pos = 0;
    if (lineLimit > 0) {
      while (buf.length - pos >= lineLimit) {
        await this.record(REC_TYPE.CONT, buf.subarray(pos, pos + lineLimit));
        pos += lineLimit;
      }
    }
    await this.record(REC_TYPE.NORM, buf.subarray(pos));
  }

  /** One content record as given: 'N', or 'L' when `continued`. */
  async textRecord(text: Buffer | string, continued: boolean): Promise<void> {
    this.#need('content', 'text');
    await this.record(continued ? REC_TYPE.CONT : REC_TYPE.NORM, text);
  }

  /** 'X': the content ends and the extracted segment starts. */
  async beginExtracted(): Promise<void> {
    this.#need('content', 'extracted marker');
    this.#xtraOffset = this.stream.offset;
    await this.record(REC_TYPE.XTRA, '');
    this.#phase = 'extracted';
  }

  /** 'E': the last record. */
  async end(): Promise<void> {
    this.#need('extracted', 'end record');
    await this.record(REC_TYPE.END, '');
    this.#phase = 'ended';
  }

  /** Content size: bytes from the first content record to the 'X' record. */
  get contentSize(): number {
    return this.#xtraOffset - this.#dataOffset;
  }

  get dataOffset(): number {
    return this.#dataOffset;
  }

  /**
   * Fills in the size record, then makes the file complete and durable
   * (MailStream.finish). Resolves only when the message is safe.
   */
  async finish(f: QueueFileFinish = {}): Promise<void> {
    this.#need('ended', 'finish');
    if (this.#sizeOffset >= 0) {
      const size = this.contentSize;
      const rec = encodeRecord(
        REC_TYPE.SIZE,
        formatSizeRecord([size, this.#dataOffset, this.#rcptCount, f.qmgrFlags ?? 0, f.contentLength ?? size, f.smtputf8 ?? 0]),
      );
      await this.stream.writeAt(this.#sizeOffset, rec);
    }
    await this.stream.finish();
  }

  async abort(): Promise<void> {
    await this.stream.abort();
  }
}

/** Creates a new queue file and a writer for it. */
export async function createQueueFile(opts: MailStreamOptions): Promise<QueueFileWriter> {
  return new QueueFileWriter(await mailStreamFile(opts));
}

export interface SimpleMessage {
  sender: string;
  recipients: QueueRecipient[];
  /** Content lines without line ends. */
  lines: Array<Buffer | string>;
  attrs?: Array<[string, string]>;
  fullName?: string;
  lineLimit?: number;
  /** Arrival time; default the time of the queue ID. */
  arrival?: { sec: number; usec: number };
}

/**
 * Writes a whole message the way cleanup lays it out: size record, time,
 * create_time, attributes, full name, sender, recipients, content,
 * empty extracted segment, end; then finish(). Returns the queue ID.
 */
export async function writeQueueFile(opts: MailStreamOptions, msg: SimpleMessage): Promise<{ queueId: string; path: string }> {
  const w = await createQueueFile(opts);
  try {
    const arrival = msg.arrival ?? { sec: w.stream.sec, usec: w.stream.usec };
    await w.sizePlaceholder();
    await w.time(arrival.sec, arrival.usec);
    await w.attr(QUEUE_ATTR.CREATE_TIME, arrival.sec);
    for (const [name, value] of msg.attrs ?? []) await w.attr(name, value);
    if (msg.fullName !== undefined) await w.fullName(msg.fullName);
    await w.sender(msg.sender);
    for (const r of msg.recipients) await w.recipient(r);
    await w.beginContent();
    for (const l of msg.lines) await w.line(l, msg.lineLimit ?? 0);
    await w.beginExtracted();
    await w.end();
    await w.finish();
    return { queueId: w.queueId, path: w.path };
  } catch (err) {
    await w.abort();
    throw err;
  }
}
