/*
 * postqueue_showq - read the showq(8) stream and print it (Postfix showq_compat.c, showq_json.c)
 *
 * What it does: readShowqStream() reads Postfix's mail_queue_list_protocol
 * from a stream: it checks the announcement (protocol =
 * mail_queue_list_protocol), then takes one attribute list per queue file
 * (queue_name, queue_id, time, size, forced_expire, sender, then
 * recipient/reason pairs, names strictly in that order) until the empty
 * list, and hands each message to a formatter as it arrives.
 * ShowqCompat prints the classic mailq listing byte for byte as Postfix
 * 3.7 ("-Queue ID-" heading, short or long queue id columns per
 * enable_long_queue_ids, '*' active, '!' hold, '#' forced to expire, the
 * arrival time as asctime(localtime()) truncated, "(reason)" lines right
 * aligned to column 76 only when the reason changes, "(reason
 * unavailable)", the "-- N Kbytes in M Requests." summary or "Mail queue
 * is empty"). ShowqJson prints one JSON object per message with Postfix's
 * field names (queue_name, queue_id, arrival_time, message_size,
 * forced_expire, sender, recipients[address, delay_reason]).
 *
 * What it does not do: connect (postqueue.ts does) or sort.
 *
 * DIAGNOSTICS
 * A protocol violation or a stream that ends early throws ShowqError
 * ("malformed showq server response"); postqueue makes it fatal.
 */
import type { Readable } from 'node:stream';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../global/mail_proto.js';
import { MAIL_QUEUE } from '../global/mail_queue.js';
import { Attr0Decoder, isGroup, type Attr0Frame } from '../util/attr0.js';
import { printable } from '../util/printable.js';

/** Limits on what a showq server may send for one queue file. */
export const SHOWQ_CLIENT_LIMITS = { maxStringBytes: 1024 * 1024, maxFrameBytes: 256 * 1024 * 1024, maxFrameAttrs: 8 * 1024 * 1024 };

export class ShowqError extends Error {
  constructor() {
    super('malformed showq server response');
    this.name = 'ShowqError';
  }
}

export interface ShowqRecipient {
  address: string;
  reason: string;
}

export interface ShowqMessage {
  queueName: string;
  queueId: string;
  arrivalTime: number;
  messageSize: number;
  forcedExpire: boolean;
  sender: string;
  recipients: ShowqRecipient[];
}

export interface ShowqFormatter {
  message(m: ShowqMessage): string;
  end(): string;
}

const HEADER_NAMES = [MAIL_ATTR.QUEUE, MAIL_ATTR.QUEUEID, MAIL_ATTR.TIME, MAIL_ATTR.SIZE, MAIL_ATTR.FORCED_EXPIRE, MAIL_ATTR.SENDER] as const;

function parseNumber(text: string): number {
  if (!/^-?\d+$/.test(text)) throw new ShowqError();
  return Number(text);
}

/** One queue file's attribute list as a message. */
export function frameToMessage(frame: Attr0Frame): ShowqMessage {
  const pairs = frame.map((e) => {
    if (isGroup(e)) throw new ShowqError();
    return e;
  });
  if (pairs.length < HEADER_NAMES.length || (pairs.length - HEADER_NAMES.length) % 2 !== 0) throw new ShowqError();
  HEADER_NAMES.forEach((n, i) => {
    if (pairs[i]!.name !== n) throw new ShowqError();
  });
  const m: ShowqMessage = {
    queueName: pairs[0]!.value,
    queueId: pairs[1]!.value,
    arrivalTime: parseNumber(pairs[2]!.value),
    messageSize: parseNumber(pairs[3]!.value),
    forcedExpire: parseNumber(pairs[4]!.value) !== 0,
    sender: pairs[5]!.value,
    recipients: [],
  };
  for (let i = HEADER_NAMES.length; i < pairs.length; i += 2) {
    if (pairs[i]!.name !== MAIL_ATTR.RECIP || pairs[i + 1]!.name !== MAIL_ATTR.WHY) throw new ShowqError();
    m.recipients.push({ address: pairs[i]!.value, reason: pairs[i + 1]!.value });
  }
  return m;
}

/** Reads the whole stream; `emit` gets the formatted text as it is produced. Throws ShowqError. */
export async function readShowqStream(input: Readable, fmt: ShowqFormatter, emit: (text: string) => void): Promise<void> {
  const dec = new Attr0Decoder(SHOWQ_CLIENT_LIMITS);
  let announced = false;
  let finished = false;
  const take = (frames: Attr0Frame[]): void => {
    for (const f of frames) {
      if (finished) throw new ShowqError();
      if (!announced) {
        const p = f[0];
        if (f.length !== 1 || !p || isGroup(p) || p.name !== MAIL_ATTR.PROTO || p.value !== MAIL_ATTR_PROTO.SHOWQ) throw new ShowqError();
        announced = true;
        continue;
      }
      if (f.length === 0) {
        finished = true;
        emit(fmt.end());
        continue;
      }
      emit(fmt.message(frameToMessage(f)));
    }
  };
  for await (const chunk of input) {
    const r = dec.push(chunk as Buffer);
    if (r.failure) throw new ShowqError();
    take(r.frames);
  }
  if (!finished) throw new ShowqError();
}

/** C asctime(localtime(t)) without the newline: "Sat Nov 28 23:19:22 2026". */
export function asctimeLocal(sec: number): string {
  const d = new Date(sec * 1000);
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]}${String(d.getDate()).padStart(3, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}\n`;
}

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');
/** printf "%-Ns" (padding counts bytes, as C). */
const padRight = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - byteLength(s)));
const padLeft = (s: string, n: number): string => ' '.repeat(Math.max(0, n - byteLength(s))) + s;

/** The classic mailq listing (Postfix showq_compat). */
export class ShowqCompat implements ShowqFormatter {
  #files = 0;
  #bytes = 0;
  readonly #long: boolean;
  readonly #utf8: boolean;

  constructor(longQueueIds: boolean, utf8: boolean) {
    this.#long = longQueueIds;
    this.#utf8 = utf8;
  }

  #row(id: string, size: string, time: string, addr: string): string {
    return this.#long ? `${padRight(id, 17)} ${padLeft(size, 8)} ${padRight(time, 19)} ${addr}\n` : `${padRight(id, 11)} ${padLeft(size, 7)} ${padRight(time, 20)} ${addr}\n`;
  }

  message(m: ShowqMessage): string {
    let out = '';
    if (this.#files > 0) out += '\n';
    else if (this.#long) out += this.#row('----Queue ID-----', '--Size--', '---Arrival Time----', '--Sender/Recipient------');
    else out += this.#row('-Queue ID-', '--Size--', '----Arrival Time----', '-Sender/Recipient-------');
    let idStatus = m.queueId;
    if (m.queueName === MAIL_QUEUE.ACTIVE) idStatus += '*';
    else if (m.queueName === MAIL_QUEUE.HOLD) idStatus += '!';
    if (m.forcedExpire) idStatus += '#';
    const when = asctimeLocal(m.arrivalTime).slice(0, this.#long ? 19 : 20);
    out += this.#row(printable(idStatus, this.#utf8), String(m.messageSize), when, printable(m.sender, this.#utf8));
    let saved = '';
    for (const r of m.recipients) {
      const reason = printable(r.reason, this.#utf8);
      if (reason !== saved) {
        saved = reason;
        const show = saved !== '' ? saved : 'reason unavailable';
        out += `${' '.repeat(Math.max(0, 76 - byteLength(show)))}(${show})\n`;
      }
      out += this.#row('', '', '', printable(r.address, this.#utf8));
    }
    this.#files++;
    this.#bytes += m.messageSize;
    return out;
  }

  end(): string {
    if (this.#files === 0) return 'Mail queue is empty\n';
    return `\n-- ${Math.floor(this.#bytes / 1024)} Kbytes in ${this.#files} Request${this.#files === 1 ? '' : 's'}.\n`;
  }
}

/** Postfix json_quote(): escapes, then printable(). */
export function jsonQuote(text: string, utf8: boolean): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) {
      if (ch === '\b') out += '\\b';
      else if (ch === '\f') out += '\\f';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else out += `\\u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    } else if (ch === '\\' || ch === '"') {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  }
  return printable(out, utf8);
}

/** One JSON object per line (Postfix showq_json). */
export class ShowqJson implements ShowqFormatter {
  readonly #utf8: boolean;

  constructor(utf8: boolean) {
    this.#utf8 = utf8;
  }

  message(m: ShowqMessage): string {
    const q = (s: string): string => jsonQuote(s, this.#utf8);
    const rcpts = m.recipients.map((r) => `{"address": "${q(r.address)}"${r.reason.length > 0 ? `, "delay_reason": "${q(r.reason)}"` : ''}}`);
    return (
      `{"queue_name": "${q(m.queueName)}", "queue_id": "${q(m.queueId)}", "arrival_time": ${m.arrivalTime}, ` +
      `"message_size": ${m.messageSize}, "forced_expire": ${m.forcedExpire ? 'true' : 'false'}, "sender": "${q(m.sender)}", ` +
      `"recipients": [${rcpts.join(', ')}]}\n`
    );
  }

  end(): string {
    return '';
  }
}
