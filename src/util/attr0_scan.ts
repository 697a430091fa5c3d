/*
 * attr0_scan - typed attribute lists over the attr0 codec
 *
 * What it does: given an ordered list of field specs (name, type, limits)
 * printFields() turns typed values into an attr0 frame and scanFields()
 * turns a received frame back into typed values, as Postfix's
 * SEND_ATTR_* / RECV_ATTR_* lists do. Types: str, int (32-bit, sent as
 * %u), long (64-bit, sent as %lu), bool (an int 0/1), data (base64) and
 * hash (a "{" ... "}" group; when the sender did not use a group and the
 * hash is the last field, the remaining attributes fill it, as in
 * attr_scan0). Strict mode wants exactly the declared attributes in the
 * declared order (optional ones may be absent); lenient mode looks fields
 * up by name and skips what it does not know. scanRecords() reads a head
 * followed by repeated items (showq's recipient/reason pairs).
 *
 * What it does not do: I/O or framing (attr0.ts), protocol names
 * (src/global/ipc/protocol.ts).
 *
 * DIAGNOSTICS
 * scanFields() returns { ok: false, message } for a missing, unexpected,
 * duplicate or malformed attribute or a value over its field's limit; it
 * never throws. printFields() throws Attr0Error for a value of the wrong
 * type (a caller bug).
 */
import {
  ATTR_HASH_LIMIT,
  Attr0Error,
  type Attr0Entry,
  type Attr0Frame,
  type Attr0Pair,
  formatInt,
  formatLong,
  isGroup,
  parseBase64,
  parseInt32,
  parseLong,
} from './attr0.js';

export type FieldType = 'str' | 'int' | 'long' | 'bool' | 'data' | 'hash';

export interface FieldValueMap {
  str: string;
  int: number;
  long: number;
  bool: boolean;
  data: Buffer;
  hash: Map<string, string>;
}

export interface FieldSpec<T extends FieldType = FieldType, O extends boolean = boolean> {
  readonly type: T;
  readonly optional: O;
  /** str: most bytes (UTF-8); data: most decoded bytes. */
  readonly maxBytes?: number;
  /** hash: most entries (default ATTR_HASH_LIMIT). */
  readonly maxEntries?: number;
  /** int/long: inclusive range. */
  readonly min?: number;
  readonly max?: number;
}

/** An ordered field list: object keys are the attribute names on the wire. */
export type FieldList = Readonly<Record<string, FieldSpec>>;

export type FieldValue<S> = S extends FieldSpec<infer T, infer O>
  ? O extends true
    ? FieldValueMap[T] | undefined
    : FieldValueMap[T]
  : never;

type RequiredKeys<F> = { [K in keyof F]: F[K] extends FieldSpec<FieldType, false> ? K : never }[keyof F];
type OptionalKeys<F> = Exclude<keyof F, RequiredKeys<F>>;

/** The typed record for a field list; optional fields may be left out. */
export type Fields<F extends FieldList> = { -readonly [K in RequiredKeys<F>]: FieldValue<F[K]> } & {
  -readonly [K in OptionalKeys<F>]?: FieldValue<F[K]>;
};

type Opts = Omit<FieldSpec, 'type' | 'optional'>;

function spec<T extends FieldType>(type: T) {
  function make(o?: Opts & { optional?: false }): FieldSpec<T, false>;
  function make(o: Opts & { optional: true }): FieldSpec<T, true>;
  function make(o: Opts & { optional?: boolean } = {}): FieldSpec<T, boolean> {
    return Object.freeze({ ...o, type, optional: o.optional ?? false });
  }
  return make;
}

/** Field constructors: attr.str(), attr.int({ optional: true }), ... */
export const attr = {
  str: spec('str'),
  int: spec('int'),
  long: spec('long'),
  bool: spec('bool'),
  data: spec('data'),
  hash: spec('hash'),
} as const;

// ---------------------------------------------------------------- printing

function printOne(name: string, s: FieldSpec, v: unknown): Attr0Entry {
  const bad = (): never => {
    throw new Attr0Error(`attr0: attribute ${name}: ${typeof v} is not a ${s.type} value`);
  };
  switch (s.type) {
    case 'str':
      return { name, value: typeof v === 'string' ? v : bad() };
    case 'int':
      return { name, value: typeof v === 'number' ? formatInt(v) : bad() };
    case 'long':
      return { name, value: typeof v === 'number' || typeof v === 'bigint' ? formatLong(v) : bad() };
    case 'bool':
      return { name, value: typeof v === 'boolean' ? (v ? '1' : '0') : bad() };
    case 'data':
      return { name, value: Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString('base64') : bad() };
    case 'hash': {
      const it = v instanceof Map ? [...v.entries()] : v && typeof v === 'object' ? Object.entries(v) : bad();
      return { group: it.map(([k, val]) => ({ name: String(k), value: String(val) })) };
    }
  }
}

/** Turns typed values into a frame, in the field list's order. */
export function printFields<F extends FieldList>(fields: F, values: Fields<F>): Attr0Frame {
  const out: Attr0Frame = [];
  const rec = values as Record<string, unknown>;
  for (const [name, s] of Object.entries(fields)) {
    const v = rec[name];
    if (v === undefined) {
      if (s.optional) continue;
      throw new Attr0Error(`attr0: missing value for required attribute ${name}`);
    }
    out.push(printOne(name, s, v));
  }
  return out;
}

// ---------------------------------------------------------------- scanning

export type ScanResult<T> = { ok: true; value: T } | { ok: false; message: string };

function convert(name: string, s: FieldSpec, e: Attr0Entry | Attr0Pair[]): ScanResult<unknown> {
  const fail = (message: string): ScanResult<unknown> => ({ ok: false, message });
  if (s.type === 'hash') {
    const pairs = Array.isArray(e) ? e : isGroup(e) ? e.group : null;
    if (!pairs) return fail(`attribute ${name}: expected a "{" group, got a simple attribute`);
    const limit = s.maxEntries ?? ATTR_HASH_LIMIT;
    const map = new Map<string, string>();
    for (const p of pairs) {
      if (map.has(p.name)) continue; // the first instance wins, as in Postfix
      if (map.size >= limit) return fail(`attribute count exceeds limit ${limit} in ${name}`);
      if (s.maxBytes !== undefined && Buffer.byteLength(p.value) > s.maxBytes) {
        return fail(`value of ${name}.${p.name} longer than ${s.maxBytes} bytes`);
      }
      map.set(p.name, p.value);
    }
    return { ok: true, value: map };
  }
  if (Array.isArray(e) || isGroup(e)) return fail(`attribute ${name}: unexpected "{" group`);
  const text = e.value;
  switch (s.type) {
    case 'str':
      if (s.maxBytes !== undefined && Buffer.byteLength(text) > s.maxBytes) {
        return fail(`value of ${name} longer than ${s.maxBytes} bytes`);
      }
      return { ok: true, value: text };
    case 'int':
    case 'long':
    case 'bool': {
      const n = s.type === 'long' ? parseLong(text) : parseInt32(text);
      if (n === null) return fail(`malformed numerical data for ${name}: ${text.slice(0, 100)}`);
      if (s.type === 'bool') return { ok: true, value: n !== 0 };
      if ((s.min !== undefined && n < s.min) || (s.max !== undefined && n > s.max)) {
        return fail(`value of ${name} out of range: ${n}`);
      }
      return { ok: true, value: n };
    }
    case 'data': {
      const b = parseBase64(text);
      if (b === null) return fail(`malformed base64 data for ${name}: ${text.slice(0, 100)}`);
      if (s.maxBytes !== undefined && b.length > s.maxBytes) return fail(`value of ${name} longer than ${s.maxBytes} bytes`);
      return { ok: true, value: b };
    }
  }
}

function entryName(e: Attr0Entry): string {
  return isGroup(e) ? ATTR_GROUP_LABEL : e.name;
}

const ATTR_GROUP_LABEL = '{...}';

/**
 * Converts a frame into typed values. strict: exactly the declared
 * attributes in order; lenient: by name, unknown attributes skipped.
 */
export function scanFields<F extends FieldList>(fields: F, frame: Attr0Frame, opts: { strict: boolean }): ScanResult<Fields<F>> {
  if (opts.strict) {
    const r = scanInOrder(fields, frame, 0);
    if (!r.ok) return r;
    if (r.next < frame.length) return { ok: false, message: `unexpected attribute ${entryName(frame[r.next]!)}` };
    return { ok: true, value: r.value };
  }
  return scanByName(fields, frame);
}

/**
 * A list made of a head and zero or more repeated items, all in order
 * (showq's message: queue_name ... sender, then recipient/reason pairs).
 * Like ATTR_FLAG_MORE scans in Postfix, the order is always strict.
 */
export function scanRecords<H extends FieldList, I extends FieldList>(
  head: H,
  item: I,
  frame: Attr0Frame,
  opts: { maxItems?: number } = {},
): ScanResult<{ head: Fields<H>; items: Array<Fields<I>> }> {
  const h = scanInOrder(head, frame, 0);
  if (!h.ok) return h;
  const items: Array<Fields<I>> = [];
  let pos = h.next;
  while (pos < frame.length) {
    if (opts.maxItems !== undefined && items.length >= opts.maxItems) {
      return { ok: false, message: `more than ${opts.maxItems} repeated items` };
    }
    const r = scanInOrder(item, frame, pos);
    if (!r.ok) return r;
    if (r.next === pos) return { ok: false, message: `unexpected attribute ${entryName(frame[pos]!)}` };
    items.push(r.value);
    pos = r.next;
  }
  return { ok: true, value: { head: h.value, items } };
}

function scanInOrder<F extends FieldList>(fields: F, frame: Attr0Frame, start: number): { ok: true; value: Fields<F>; next: number } | { ok: false; message: string } {
  const out: Record<string, unknown> = {};
  const list = Object.entries(fields);
  let pos = start;
  for (let i = 0; i < list.length; i++) {
    const [name, s] = list[i]!;
    const last = i === list.length - 1;
    let source: Attr0Entry | Attr0Pair[] | undefined;
    const e = frame[pos];
    if (s.type === 'hash' && e && isGroup(e)) {
      source = e;
      pos++;
    } else if (s.type === 'hash' && last && frame.slice(pos).every((x) => !isGroup(x))) {
      source = frame.slice(pos) as Attr0Pair[];
      pos = frame.length;
    } else if (e && !isGroup(e) && e.name === name) {
      source = e;
      pos++;
    }
    if (source === undefined) {
      if (s.optional) continue;
      if (frame[pos]) return { ok: false, message: `unexpected attribute ${entryName(frame[pos]!)} (expecting: ${name})` };
      return { ok: false, message: `missing attribute ${name}` };
    }
    const r = convert(name, s, source);
    if (!r.ok) return r;
    out[name] = r.value;
  }
  return { ok: true, value: out as Fields<F>, next: pos };
}

function scanByName<F extends FieldList>(fields: F, frame: Attr0Frame): ScanResult<Fields<F>> {
  const out: Record<string, unknown> = {};
  const list = Object.entries(fields);
  const used = new Array<boolean>(frame.length).fill(false);
  for (let i = 0; i < list.length; i++) {
    const [name, s] = list[i]!;
    const last = i === list.length - 1;
    let source: Attr0Entry | Attr0Pair[] | undefined;
    const k = frame.findIndex((e, j) => !used[j] && (s.type === 'hash' ? isGroup(e) : !isGroup(e) && e.name === name));
    if (k >= 0) {
      used[k] = true;
      source = frame[k];
    } else if (s.type === 'hash' && last) {
      const known = new Set(list.map(([n]) => n));
      const rest = frame.filter((e, j) => !used[j] && !isGroup(e) && !known.has(e.name)) as Attr0Pair[];
      if (rest.length > 0) source = rest;
    }
    if (source === undefined) {
      if (s.optional) continue;
      return { ok: false, message: `missing attribute ${name}` };
    }
    const r = convert(name, s, source);
    if (!r.ok) return r;
    out[name] = r.value;
  }
  return { ok: true, value: out as Fields<F> };
}
