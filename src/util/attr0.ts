/*
 * attr0 - Postfix's attribute protocol, "0" form (attr_print0/attr_scan0)
 *
 * What it does: turns attribute lists into bytes and back, byte for byte
 * as Postfix's attr_print0(3)/attr_scan0(3) do, so that a real Postfix
 * program can sit on the other end of a socket:
 *
 *   attr-list   :== (simple-attr | multi-attr)* NUL
 *   multi-attr  :== "{" NUL simple-attr* "}" NUL
 *   simple-attr :== attr-name NUL attr-value NUL
 *
 * Numbers travel as unsigned decimal text (an int as C's %u, a long as
 * %lu), binary data as base64, a hash table as a "{" ... "}" group. An
 * empty attribute name ends the list (a "frame" here).
 *
 * The same code speaks the "plain" form (attr_print_plain/attr_scan_plain),
 * which some Postfix 3.7 services use on their sockets (anvil does):
 *
 *   attr-list   :== (simple-attr | multi-attr)* newline
 *   multi-attr  :== "{" newline simple-attr* "}" newline
 *   simple-attr :== attr-name "=" attr-value newline
 *
 * Attr0Decoder takes input in chunks split anywhere and hands back whole
 * frames; every string, every frame and every group is bounded by the
 * limits in Attr0Limits (defaults from Postfix: a string may be at most
 * 4 * line_length_limit bytes, a hash table at most ATTR_HASH_LIMIT
 * entries). scanFields() then converts a frame into typed values, in
 * strict mode (an unexpected, duplicate or missing attribute is an
 * error, as ATTR_FLAG_STRICT) or lenient mode (unknown attributes are
 * skipped, lookup is by name).
 *
 * Names and values are JavaScript strings, sent and read as UTF-8; bytes
 * that are not UTF-8 arrive as U+FFFD (binary belongs in data fields).
 *
 * What it does not do: any I/O, timeouts, or protocol announcements
 * (src/global/ipc/ does those), nor the obsolete "64" variant.
 *
 * DIAGNOSTICS
 * Malformed or oversized input never throws from the decoder: it returns
 * an Attr0Failure and stays failed (the stream cannot be resynchronised).
 * Encoding a name or value that contains a NUL byte, or an int that is
 * not an integer, is a caller bug and throws Attr0Error.
 */

/** Postfix's default line_length_limit; a string may be 4 times that. */
export const ATTR0_DEFAULT_LINE_LIMIT = 2048;

/** Postfix ATTR_HASH_LIMIT: most entries in one received hash table. */
export const ATTR_HASH_LIMIT = 1024;

/** Markers around a multi-attr (hash table) group, as in Postfix 3.x. */
export const ATTR_NAME_OPEN = '{';
export const ATTR_NAME_CLOSE = '}';

export interface Attr0Limits {
  /** Longest name or value in bytes, terminator included. */
  maxStringBytes: number;
  /** Most bytes in one frame (one attribute list). */
  maxFrameBytes: number;
  /** Most simple attributes in one frame, group members included. */
  maxFrameAttrs: number;
  /** Most members in one "{" ... "}" group. */
  maxGroupAttrs: number;
}

export const ATTR0_DEFAULT_LIMITS: Readonly<Attr0Limits> = Object.freeze({
  maxStringBytes: 4 * ATTR0_DEFAULT_LINE_LIMIT,
  maxFrameBytes: 1024 * 1024,
  maxFrameAttrs: 4 * ATTR_HASH_LIMIT,
  maxGroupAttrs: ATTR_HASH_LIMIT,
});

/** One simple attribute. */
export interface Attr0Pair {
  name: string;
  value: string;
}

/** A "{" ... "}" group: the wire form of a hash table. */
export interface Attr0Group {
  group: Attr0Pair[];
}

export type Attr0Entry = Attr0Pair | Attr0Group;

/** One attribute list, without its terminator. */
export type Attr0Frame = Attr0Entry[];

export function isGroup(e: Attr0Entry): e is Attr0Group {
  return (e as Attr0Group).group !== undefined;
}

export class Attr0Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Attr0Error';
  }
}

/** Wire form: '0' (NUL-separated, attr_print0) or 'plain' (name=value lines). */
export type AttrFormat = '0' | 'plain';

export type Attr0FailureKind = 'oversized' | 'malformed';

export interface Attr0Failure {
  kind: Attr0FailureKind;
  message: string;
}

const NUL = 0;
const NEWLINE = 0x0a;

// ---------------------------------------------------------------- encoding

function checkString(what: string, s: string, format: AttrFormat, isName: boolean): void {
  const bad = s.includes('\0') ? 'a NUL byte' : format === 'plain' && s.includes('\n') ? 'a newline' : format === 'plain' && isName && s.includes('=') ? 'an "="' : null;
  if (bad) throw new Attr0Error(`attr0: ${what} contains ${bad}: ${JSON.stringify(s.slice(0, 100))}`);
}

/** The wire text of an int as Postfix sends it (C's "%u" of an int). */
export function formatInt(n: number): string {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) {
    throw new Attr0Error(`attr0: not a 32-bit integer: ${n}`);
  }
  return String(n >>> 0);
}

/** The wire text of a long as Postfix sends it (C's "%lu" of a long). */
export function formatLong(n: number | bigint): string {
  // The usual case without a BigInt: %lu of a non-negative long is its decimal digits.
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) return String(n);
  const b = typeof n === 'bigint' ? n : Number.isSafeInteger(n) ? BigInt(n) : null;
  if (b === null || b < -(1n << 63n) || b >= 1n << 64n) throw new Attr0Error(`attr0: not a 64-bit integer: ${n}`);
  return (b < 0n ? b + (1n << 64n) : b).toString();
}

/**
 * Encodes entries as bytes. With `more` the terminator is left off
 * (ATTR_FLAG_MORE), so that further entries can follow in the same list.
 */
export function encodeAttr0(entries: Attr0Frame, opts: { more?: boolean; format?: AttrFormat } = {}): Buffer {
  const format = opts.format ?? '0';
  const end = format === 'plain' ? '\n' : '\0';
  const parts: string[] = [];
  for (const e of entries) {
    if (isGroup(e)) {
      parts.push(ATTR_NAME_OPEN, end);
      for (const p of e.group) pushPair(parts, p, format);
      parts.push(ATTR_NAME_CLOSE, end);
    } else {
      pushPair(parts, e, format);
    }
  }
  if (!opts.more) parts.push(end);
  return Buffer.from(parts.join(''), 'utf8');
}

function pushPair(parts: string[], p: Attr0Pair, format: AttrFormat): void {
  if (p.name === '' || p.name === ATTR_NAME_OPEN || p.name === ATTR_NAME_CLOSE) {
    throw new Attr0Error(`attr0: attribute name ${JSON.stringify(p.name)} is reserved`);
  }
  checkString('attribute name', p.name, format, true);
  checkString(`value of attribute ${p.name}`, p.value, format, false);
  if (format === 'plain') parts.push(p.name, '=', p.value, '\n');
  else parts.push(p.name, '\0', p.value, '\0');
}

// ---------------------------------------------------------------- decoding

type Expect = 'name' | 'value';

/**
 * Incremental frame decoder. push() accepts any chunk and returns the
 * frames it completed; after a failure every push() returns the failure.
 */
export class Attr0Decoder {
  readonly limits: Attr0Limits;
  readonly format: AttrFormat;
  #delimiter: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #expect: Expect = 'name';
  #name = '';
  #frame: Attr0Frame = [];
  #group: Attr0Pair[] | null = null;
  #frameBytes = 0;
  #frameAttrs = 0;
  #failure: Attr0Failure | null = null;

  constructor(limits: Partial<Attr0Limits> = {}, format: AttrFormat = '0') {
    this.limits = { ...ATTR0_DEFAULT_LIMITS, ...limits };
    this.format = format;
    this.#delimiter = format === 'plain' ? NEWLINE : NUL;
  }

  get failure(): Attr0Failure | null {
    return this.#failure;
  }

  /** True when no partial frame is buffered (a clean place to stop). */
  get idle(): boolean {
    return this.#pendingBytes === 0 && this.#frame.length === 0 && this.#group === null && this.#expect === 'name';
  }

  push(chunk: Buffer): { frames: Attr0Frame[]; failure: Attr0Failure | null } {
    const frames: Attr0Frame[] = [];
    if (this.#failure) return { frames, failure: this.#failure };
    let start = 0;
    while (start < chunk.length) {
      const nul = chunk.indexOf(this.#delimiter, start);
      const end = nul < 0 ? chunk.length : nul;
      const piece = end - start;
      if (this.#pendingBytes + piece + 1 > this.limits.maxStringBytes) {
        return this.#fail(frames, 'oversized', `attribute ${this.#expect} longer than ${this.limits.maxStringBytes - 1} bytes`);
      }
      if (this.#frameBytes + piece + (nul < 0 ? 0 : 1) > this.limits.maxFrameBytes) {
        return this.#fail(frames, 'oversized', `attribute list longer than ${this.limits.maxFrameBytes} bytes`);
      }
      this.#frameBytes += piece;
      if (nul < 0) {
        if (piece > 0) {
          this.#pending.push(chunk.subarray(start, end));
          this.#pendingBytes += piece;
        }
        break;
      }
      this.#frameBytes += 1;
      let text: string;
      if (this.#pendingBytes === 0) {
        text = chunk.toString('utf8', start, end);
      } else {
        this.#pending.push(chunk.subarray(start, end));
        text = Buffer.concat(this.#pending).toString('utf8');
        this.#pending = [];
        this.#pendingBytes = 0;
      }
      start = nul + 1;
      const done = this.#string(text);
      if (done === 'failed') return { frames, failure: this.#failure };
      if (done) frames.push(done);
    }
    return { frames, failure: null };
  }

  #fail(frames: Attr0Frame[], kind: Attr0FailureKind, message: string) {
    this.#failure = { kind, message };
    this.#pending = [];
    return { frames, failure: this.#failure };
  }

  /** Handles one complete string; returns a finished frame, null, or 'failed'. */
  #string(text: string): Attr0Frame | null | 'failed' {
    if (this.format !== 'plain' || text === '' || text === ATTR_NAME_OPEN || (text === ATTR_NAME_CLOSE && this.#group)) {
      return this.#token(text);
    }
    // A plain line: name "=" value.
    const eq = text.indexOf('=');
    const name = eq < 0 ? '' : text.slice(0, eq);
    if (eq < 0 || name === '' || name === ATTR_NAME_OPEN || name === ATTR_NAME_CLOSE || text.includes('\0')) {
      this.#fail([], 'malformed', `malformed attribute line ${JSON.stringify(text.slice(0, 100))}`);
      return 'failed';
    }
    const r = this.#token(name);
    return r === null ? this.#token(text.slice(eq + 1)) : r;
  }

  /** One name or value of the NUL form (a plain line is split into two). */
  #token(text: string): Attr0Frame | null | 'failed' {
    if (this.#expect === 'value') {
      const pair = { name: this.#name, value: text };
      if (this.#group) this.#group.push(pair);
      else this.#frame.push(pair);
      this.#expect = 'name';
      return null;
    }
    if (text === '') {
      if (this.#group) {
        this.#fail([], 'malformed', `attribute list ends inside a "${ATTR_NAME_OPEN}" group`);
        return 'failed';
      }
      const frame = this.#frame;
      this.#frame = [];
      this.#frameBytes = 0;
      this.#frameAttrs = 0;
      return frame;
    }
    if (text === ATTR_NAME_OPEN) {
      if (this.#group) {
        this.#fail([], 'malformed', `nested "${ATTR_NAME_OPEN}" group`);
        return 'failed';
      }
      this.#group = [];
      return null;
    }
    if (text === ATTR_NAME_CLOSE && this.#group) {
      this.#frame.push({ group: this.#group });
      this.#group = null;
      return null;
    }
    if (++this.#frameAttrs > this.limits.maxFrameAttrs) {
      this.#fail([], 'oversized', `more than ${this.limits.maxFrameAttrs} attributes in one list`);
      return 'failed';
    }
    if (this.#group && this.#group.length >= this.limits.maxGroupAttrs) {
      this.#fail([], 'oversized', `attribute count exceeds limit ${this.limits.maxGroupAttrs}`);
      return 'failed';
    }
    this.#name = text;
    this.#expect = 'value';
    return null;
  }
}

/** Decodes a buffer that holds whole frames (tests, files). */
export function decodeAttr0(buf: Buffer, limits: Partial<Attr0Limits> = {}, format: AttrFormat = '0'): { frames: Attr0Frame[]; failure: Attr0Failure | null; rest: boolean } {
  const d = new Attr0Decoder(limits, format);
  const r = d.push(buf);
  return { ...r, rest: !d.idle };
}

// ------------------------------------------------------ typed conversions

/** Parses an unsigned decimal as C's sscanf("%u"/"%lu") would accept it. */
function parseUnsigned(text: string, bits: 32 | 64): bigint | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/.exec(text);
  if (!m) return null;
  const mag = BigInt(m[2]!);
  const mod = 1n << BigInt(bits);
  if (mag >= mod) return null;
  return m[1] === '-' ? (mod - mag) % mod : mag;
}

/** An int attribute value, read back as Postfix's callers see it (signed). */
export function parseInt32(text: string): number | null {
  const u = parseUnsigned(text, 32);
  if (u === null) return null;
  return Number(u >= 1n << 31n ? u - (1n << 32n) : u);
}

/** A long attribute value (signed 64-bit); null when malformed or not a safe integer. */
export function parseLong(text: string): number | null {
  const u = parseUnsigned(text, 64);
  if (u === null) return null;
  const s = u >= 1n << 63n ? u - (1n << 64n) : u;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 as Postfix's base64_decode() accepts it. */
export function parseBase64(text: string): Buffer | null {
  return BASE64_RE.test(text) ? Buffer.from(text, 'base64') : null;
}
