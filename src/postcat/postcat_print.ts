/*
 * postcat_print - print one queue file the way postcat(1) does
 *
 * What it does: postcatPrint() walks the records of one input and writes
 * the envelope, header and body sections that the flags select, with
 * Postfix 3.7's exact texts ("*** ENVELOPE RECORDS path ***",
 * "message_arrival_time: " plus asctime(), "named_attribute: n=v",
 * "*** MESSAGE CONTENTS path ***", ...), record offsets (-o), decimal
 * record types (-d), the verbose names (-v), raw order (-r) and a start
 * offset (-s). It keeps Postfix's reading shortcuts: with the envelope
 * not wanted it jumps to the data offset of the size record, and with
 * the body not wanted it jumps to the extracted segment; on input that
 * cannot seek those jumps fail as in Postfix ("seek error: Illegal
 * seek"). Output is buffered and flushed where Postfix flushes; what is
 * not flushed by the end is lost, as in Postfix (whose stdout stream is
 * not flushed at exit): so an empty input prints nothing, and neither
 * does the line end after a final unterminated text record with -bh.
 *
 * What it does not do: parse options, find queue files or read main.cf
 * (postcat.ts does).
 *
 * DIAGNOSTICS
 * Warnings (msgWarn) for an input that is not a queue file, out-of-order
 * segment markers, malformed attributes and invalid size records; fatal
 * (PostcatFatal, which postcat.ts reports with msgFatal) for a record
 * read error, a failed seek, a bad pointer record, a failed skip.
 */
import { decodeRecordComplete } from '../global/record.js';
import { REC_TYPE, REC_TYPE_ENVELOPE, recTypeIn, recTypeName } from '../global/rec_type.js';
import { msgWarn } from '../util/msg.js';

export const PC_FLAG = {
  SEARCH_QUEUE: 1 << 0,
  PRINT_OFFSET: 1 << 1,
  PRINT_ENV: 1 << 2,
  PRINT_HEADER: 1 << 3,
  PRINT_BODY: 1 << 4,
  PRINT_RTYPE_DEC: 1 << 5,
  RAW: 1 << 7,
} as const;
export const PC_MASK_PRINT_TEXT = PC_FLAG.PRINT_HEADER | PC_FLAG.PRINT_BODY;
export const PC_MASK_PRINT_ALL = PC_FLAG.PRINT_ENV | PC_MASK_PRINT_TEXT;

/** Pointer jumps backwards before the file counts as looping (Postfix REVERSE_JUMP_LIMIT). */
export const REVERSE_JUMP_LIMIT = 10000;

/** A fatal error: postcat.ts discards unflushed output and exits 1. */
export class PostcatFatal extends Error {}

/** One input: all its bytes, and whether it could seek (a pipe cannot). */
export interface PostcatInput {
  path: string;
  data: Buffer;
  seekable: boolean;
}

/** Output with Postfix's flush points: what is not flushed is lost on a fatal error. */
export class PostcatOutput {
  #pending: Buffer[] = [];
  readonly #write: (b: Buffer) => void;

  constructor(write: (b: Buffer) => void) {
    this.#write = write;
  }

  text(s: string): void {
    this.#pending.push(Buffer.from(s, 'latin1'));
  }

  bytes(b: Buffer): void {
    this.#pending.push(b);
  }

  flush(): void {
    if (this.#pending.length === 0) return;
    const all = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#write(all);
  }

  discard(): void {
    this.#pending = [];
  }
}

const STATE = { ENV: 0, HEADER: 1, BODY: 2 } as const;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** asctime(localtime(t)): "Sat Nov 28 18:22:11 2026\n" in the local time zone (TZ). */
export function asctimeLocal(sec: number): string {
  const d = new Date(sec * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]}${String(d.getDate()).padStart(3, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}\n`;
}

/** C atol(): leading white space, optional sign, digits; 0 when there are none. */
export function atol(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

/** sscanf(s, "%ld %ld"): how many numbers were converted, and their values. */
function scanTwoLongs(s: string): { n: number; a: number; b: number } {
  const m1 = /^\s*([+-]?\d+)/.exec(s);
  if (!m1) return { n: 0, a: -1, b: -1 };
  const rest = s.slice(m1[0].length);
  const m2 = /^\s*([+-]?\d+)/.exec(rest);
  return m2 ? { n: 2, a: Number(m1[1]), b: Number(m2[1]) } : { n: 1, a: Number(m1[1]), b: -1 };
}

/** Postfix is_header(): a name of printable non-space characters, optional blanks, then ':'. */
export function isHeader(line: Buffer): boolean {
  let state: 'init' | 'char' | 'space' = 'init';
  for (const c of line) {
    if (c === 0x3a) return state !== 'init';
    if (c === 0x20 || c === 0x09) {
      if (state === 'char') state = 'space';
      if (state === 'space') continue;
      return false;
    }
    if (c === 0 || c > 0x7e || c < 0x20 || c === 0x7f) return false;
    if (state === 'init') state = 'char';
    if (state !== 'char') return false;
  }
  return false;
}

/** The C-string view of a record payload: up to the first NUL. */
function cstr(b: Buffer): Buffer {
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

function splitNameval(s: string): { name: string; value: string } | { error: string } {
  const np = s.replace(/^\s+/, '');
  if (np === '') return { error: 'missing attribute name' };
  const m = /^([^\s=]*)\s*(=?)/.exec(np)!;
  if (m[2] !== '=') return { error: "missing '=' after attribute name" };
  const value = np.slice(m[0].length).replace(/^\s+/, '').replace(/\s+$/, '');
  return { name: m[1]!, value };
}

export interface PostcatOptions {
  flags: number;
  verbose: number;
  startOffset: number;
}

/** Prints one input; throws PostcatFatal for the errors Postfix treats as fatal. */
export function postcatPrint(input: PostcatInput, out: PostcatOutput, opts: PostcatOptions): void {
  const { path, data } = input;
  const flags = opts.flags;
  const verbose = opts.verbose > 0;
  let pos = 0;
  let savedJump = 0;
  let reverseCount = 0;

  const seek = (to: number, what: string): void => {
    if (!input.seekable) throw new PostcatFatal(`${what}: Illegal seek`);
    if (to < 0) throw new PostcatFatal(`${what}: Invalid argument`);
    pos = to;
  };
  /* Postfix rec_goto(): follow a pointer; false on a bad value or failed seek (after a warning). */
  const recGoto = (value: Buffer): boolean => {
    const text = cstr(value).toString('latin1').replace(/^\s+/, '');
    if (!/^\d*$/.test(text)) {
      msgWarn(`${path}: malformed pointer record value: ${text}`);
      return false;
    }
    const target = text === '' ? 0 : Number(text);
    if (target === 0) return true;
    if (target <= savedJump && ++reverseCount > REVERSE_JUMP_LIMIT) {
      msgWarn(`${path}: too many reverse jump records`);
      return false;
    }
    if (!input.seekable) {
      msgWarn(`${path}: seek error after pointer record: Illegal seek`);
      return false;
    }
    savedJump = target;
    pos = target;
    return true;
  };
  /* Postfix rec_get_raw() with REC_FLAG_DEFAULT (not verbose) or REC_FLAG_NONE (verbose). */
  const recGet = (): { type: number; value: Buffer } | 'eof' | 'error' => {
    for (;;) {
      const r = decodeRecordComplete(data, pos);
      if (r.kind === 'eof') return 'eof';
      if (r.kind === 'error') {
        msgWarn(`${path}: ${r.message}`);
        return 'error';
      }
      pos = r.next;
      if (verbose) return { type: r.type, value: r.data };
      if (r.type === REC_TYPE.PTR) {
        if (recGoto(r.data)) continue;
        return 'error';
      }
      if (r.type === REC_TYPE.DTXT) continue;
      if (r.type === REC_TYPE.END) {
        if (!input.seekable) {
          msgWarn(`${path}: seek error after reading END record: Illegal seek`);
          return 'error';
        }
        pos = data.length;
      }
      return { type: r.type, value: r.data };
    }
  };

  if (opts.startOffset > 0) {
    if (!input.seekable) {
      if (data.length < opts.startOffset) {
        throw new PostcatFatal(`${path}: skip ${opts.startOffset} bytes failed after ${data.length}`);
      }
      pos = opts.startOffset;
    } else {
      pos = opts.startOffset;
    }
  }
  if (opts.startOffset === 0) {
    if (data.length > 0 && !recTypeIn(REC_TYPE_ENVELOPE, data[0]!)) {
      msgWarn(`${path}: input is not a valid queue file`);
      return;
    }
    if (flags & PC_FLAG.PRINT_ENV) out.text(`*** ENVELOPE RECORDS ${path} ***\n`);
  }
  let state: number = STATE.ENV;
  let doPrint = (flags & PC_FLAG.PRINT_ENV) !== 0;
  let dataOffset = -1;
  let dataSize = -1;
  let prevType = 0;

  const prefix = (offset: number, type: number): void => {
    if (flags & PC_FLAG.PRINT_OFFSET) out.text(`${String(offset).padStart(9, ' ')} `);
    if (flags & PC_FLAG.PRINT_RTYPE_DEC) out.text(`${String(type).padStart(3, ' ')} `);
  };
  const marker = (offset: number, type: number, what: string): void => {
    prefix(offset, type);
    out.text(`*** ${what} ${path} ***\n`);
    out.flush();
  };
  const printRecord = (offset: number, type: number, value: Buffer): void => {
    prefix(offset, type);
    out.text(`${recTypeName(type)}: `);
    out.bytes(cstr(value));
    out.text('\n');
    out.flush();
  };

  for (;;) {
    const offset = pos;
    const got = recGet();
    if (got === 'error') throw new PostcatFatal('record read error');
    if (got === 'eof') break;
    let recType = got.type;
    const value = got.value;
    const isText = recType === REC_TYPE.CONT || recType === REC_TYPE.NORM;

    if (isText) {
      if (
        state === STATE.HEADER &&
        flags & PC_MASK_PRINT_TEXT &&
        prevType !== REC_TYPE.CONT &&
        !(isHeader(cstr(value)) || value[0] === 0x20 || value[0] === 0x09)
      ) {
        state = STATE.BODY;
        doPrint = (flags & PC_FLAG.PRINT_BODY) !== 0;
        if (!doPrint && (flags & PC_FLAG.PRINT_ENV) === 0) break;
        if (!doPrint && flags & PC_FLAG.PRINT_ENV && dataOffset > 0 && dataSize >= 0) seek(dataOffset + dataSize, 'seek error');
      }
    } else if (recType === REC_TYPE.MESG) {
      if (state !== STATE.ENV) msgWarn(`${path}: out-of-order message content marker`);
      if (flags & PC_FLAG.PRINT_ENV) marker(offset, recType, 'MESSAGE CONTENTS');
      if ((flags & PC_MASK_PRINT_TEXT) === 0 && dataOffset > 0 && dataSize >= 0) seek(dataOffset + dataSize, 'seek error');
      state = STATE.HEADER;
      doPrint = (flags & PC_FLAG.PRINT_HEADER) !== 0;
      continue;
    } else if (recType === REC_TYPE.XTRA) {
      if (state !== STATE.HEADER && state !== STATE.BODY) msgWarn(`${path}: out-of-order extracted segment marker`);
      if (doPrint && prevType === REC_TYPE.CONT) out.text('\n');
      if (flags & PC_FLAG.PRINT_ENV) marker(offset, recType, 'HEADER EXTRACTED');
      state = STATE.ENV;
      doPrint = (flags & PC_FLAG.PRINT_ENV) !== 0;
      if (!doPrint) break;
      continue;
    } else if (recType === REC_TYPE.END) {
      if (state !== STATE.ENV) msgWarn(`${path}: out-of-order message end marker`);
      if (flags & PC_FLAG.PRINT_ENV) marker(offset, recType, 'MESSAGE FILE END');
      if (flags & PC_FLAG.RAW) continue;
      break;
    } else if (recType === REC_TYPE.PTR) {
      if (doPrint) printRecord(offset, recType, value);
      if ((flags & PC_FLAG.RAW) === 0 && !recGoto(value)) throw new PostcatFatal('bad pointer record, or input is not seekable');
      continue;
    } else if (recType === REC_TYPE.SIZE) {
      if (doPrint) printRecord(offset, recType, value);
      if (dataSize >= 0 || dataOffset >= 0) {
        msgWarn('file contains multiple size records');
      } else {
        const text = cstr(value).toString('latin1');
        const scan = scanTwoLongs(text);
        if (scan.n >= 1) dataSize = scan.a;
        if (scan.n >= 2) dataOffset = scan.b;
        if (scan.n !== 2 || dataOffset <= 0 || dataSize <= 0) msgWarn(`invalid size record: ${text.slice(0, 100)}`);
        if ((flags & PC_FLAG.PRINT_ENV) === 0) {
          seek(dataOffset, 'seek error');
          state = STATE.HEADER;
          doPrint = (flags & PC_FLAG.PRINT_HEADER) !== 0;
        }
      }
      continue;
    }

    if (!doPrint) continue;
    prefix(offset, recType);
    switch (recType) {
      case REC_TYPE.TIME: {
        const text = cstr(value).toString('latin1');
        out.text(`${recTypeName(recType)}: ${asctimeLocal(atol(text))}`);
        break;
      }
      case REC_TYPE.WARN:
        out.text(`${recTypeName(recType)}: ${asctimeLocal(atol(cstr(value).toString('latin1')))}`);
        break;
      case REC_TYPE.CONT:
        if (state === STATE.ENV) out.text(`${recTypeName(recType)}: `);
        else if (verbose) out.text('unterminated_text: ');
        out.bytes(value);
        if (state === STATE.ENV || verbose || flags & PC_FLAG.PRINT_OFFSET) {
          recType = 0;
          out.text('\n');
        }
        break;
      case REC_TYPE.NORM:
        if (verbose) out.text(`${recTypeName(recType)}: `);
        out.bytes(value);
        out.text('\n');
        break;
      case REC_TYPE.DTXT:
        out.text(`${recTypeName(recType)}: `);
        out.bytes(value);
        out.text('\n');
        break;
      case REC_TYPE.ATTR: {
        const text = cstr(value).toString('latin1');
        const nv = splitNameval(text);
        if ('error' in nv) {
          msgWarn(`${path}: malformed attribute: ${nv.error}: ${text.slice(0, 100)}`);
          break;
        }
        if (nv.name === 'create_time') out.text(`create_time: ${asctimeLocal(atol(nv.value))}`);
        else out.text(`${recTypeName(recType)}: ${nv.name}=${nv.value}\n`);
        break;
      }
      default:
        out.text(`${recTypeName(recType)}: `);
        out.bytes(cstr(value));
        out.text('\n');
    }
    prevType = recType;
    out.flush();
  }
}
