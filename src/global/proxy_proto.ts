/*
 * proxy_proto - the proxymap(8) protocol: request names, status codes, dict flags
 *
 * What it does: declares the wire of Postfix 3.7's proxymap and
 * proxywrite services once, for both ends (src/global/dict_proxy.ts, the
 * client, and src/proxymap/, the server): the request names (open,
 * lookup, update, delete, sequence) and their attribute layouts
 * (PROXYMAP_PROTOCOL, announced as protocol=proxymap_protocol), the
 * PROXY_STAT_* reply codes, the DICT_FLAG_* bits that travel in the
 * "flags" attribute with their masks (which a client may change per
 * request, which select the server's table instance, which the server's
 * table sets itself), and the conversions between those bits and a
 * DictOpenContext. Keys and values are byte strings (one char per byte);
 * toWire()/fromWire() carry them over the attr0 layer, which speaks
 * UTF-8 text.
 *
 * What it does not do: sockets (src/global/ipc/), open tables, or decide
 * what a status means to a caller (dict_proxy.ts and proxymap.ts do).
 *
 * DIAGNOSTICS
 * None: declarations and pure conversions.
 */
import { attr } from '../util/attr0_scan.js';
import type { DictDupMode, DictOpenContext } from './dict_base.js';
import { defineRequestProtocol } from './ipc/protocol_requests.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from './mail_proto.js';

/** The table type prefix (Postfix DICT_TYPE_PROXY). */
export const DICT_TYPE_PROXY = 'proxy';
export const PROXY_COLON = `${DICT_TYPE_PROXY}:`;

/** Request names (Postfix PROXY_REQ_*). */
export const PROXY_REQ = {
  OPEN: 'open',
  LOOKUP: 'lookup',
  UPDATE: 'update',
  DELETE: 'delete',
  SEQUENCE: 'sequence',
} as const;

/** Reply status codes (Postfix PROXY_STAT_*). */
export const PROXY_STAT = {
  OK: 0,
  NOKEY: 1,
  RETRY: 2,
  BAD: 3,
  DENY: 4,
  CONFIG: 5,
} as const;

/** Sequence functions (Postfix DICT_SEQ_FUN_*). */
export const DICT_SEQ_FUN = {
  FIRST: 0,
  NEXT: 1,
} as const;

/** Postfix dict.h DICT_FLAG_* bits as they travel in the "flags" attribute. */
export const DICT_FLAG = {
  NONE: 0,
  DUP_WARN: 1 << 0,
  DUP_IGNORE: 1 << 1,
  TRY0NULL: 1 << 2,
  TRY1NULL: 1 << 3,
  FIXED: 1 << 4,
  PATTERN: 1 << 5,
  LOCK: 1 << 6,
  DUP_REPLACE: 1 << 7,
  SYNC_UPDATE: 1 << 8,
  DEBUG: 1 << 9,
  NO_REGSUB: 1 << 11,
  NO_PROXY: 1 << 12,
  NO_UNAUTH: 1 << 13,
  FOLD_FIX: 1 << 14,
  FOLD_MUL: 1 << 15,
  OPEN_LOCK: 1 << 16,
  BULK_UPDATE: 1 << 17,
  MULTI_WRITER: 1 << 18,
  UTF8_REQUEST: 1 << 19,
  UTF8_ACTIVE: 1 << 20,
} as const;

const F = DICT_FLAG;
/** Flags the table implementation sets (Postfix DICT_FLAG_IMPL_MASK). */
export const DICT_FLAG_IMPL_MASK = F.FIXED | F.PATTERN | F.MULTI_WRITER;
/** Requestor flags that forbid insecure use (DICT_FLAG_PARANOID). */
export const DICT_FLAG_PARANOID = F.NO_REGSUB | F.NO_PROXY | F.NO_UNAUTH;
/** Flags a requestor may change between requests (DICT_FLAG_RQST_MASK). */
export const DICT_FLAG_RQST_MASK =
  F.FOLD_FIX | F.FOLD_MUL | F.LOCK | F.DUP_REPLACE | F.DUP_WARN | F.DUP_IGNORE | F.SYNC_UPDATE | DICT_FLAG_PARANOID | F.UTF8_REQUEST;
/** Everything else: one server-side table instance per value of these (DICT_FLAG_INST_MASK). */
export const DICT_FLAG_INST_MASK = ~(DICT_FLAG_IMPL_MASK | DICT_FLAG_RQST_MASK);

/** Longest table name, key or value accepted on the wire (attr0's own string cap applies too). */
export const PROXY_MAX_STRING_BYTES = 4 * 2048;

const TABLE = { [MAIL_ATTR.TABLE]: attr.str() };
const FLAGS = { [MAIL_ATTR.FLAGS]: attr.int() };
const STATUS = { [MAIL_ATTR.STATUS]: attr.int() };
const KEY = { [MAIL_ATTR.KEY]: attr.str() };
const VALUE = { [MAIL_ATTR.VALUE]: attr.str() };

/** The proxymap/proxywrite protocol, as Postfix 3.7's dict_proxy.c and proxymap.c speak it. */
export const PROXYMAP_PROTOCOL = defineRequestProtocol({
  name: MAIL_ATTR_PROTO.PROXYMAP,
  requests: {
    [PROXY_REQ.OPEN]: { request: { ...TABLE, ...FLAGS }, reply: { ...STATUS, ...FLAGS } },
    [PROXY_REQ.LOOKUP]: { request: { ...TABLE, ...FLAGS, ...KEY }, reply: { ...STATUS, ...VALUE } },
    [PROXY_REQ.UPDATE]: { request: { ...TABLE, ...FLAGS, ...KEY, ...VALUE }, reply: STATUS },
    [PROXY_REQ.DELETE]: { request: { ...TABLE, ...FLAGS, ...KEY }, reply: STATUS },
    [PROXY_REQ.SEQUENCE]: {
      request: { ...TABLE, ...FLAGS, [MAIL_ATTR.FUNC]: attr.int() },
      reply: { ...STATUS, ...KEY, ...VALUE },
    },
  },
});

/** Strips every leading "proxy:" (Postfix proxymap and dict_proxy do the same). */
export function stripProxyPrefix(spec: string): string {
  let s = spec;
  while (s.startsWith(PROXY_COLON)) s = s.slice(PROXY_COLON.length);
  return s;
}

/** The flag bits a client sends for a table opened with these options (LOCK always, as Postfix's callers ask). */
export function dictFlagsFromContext(ctx: Pick<DictOpenContext, 'fold' | 'utf8' | 'noRegsub' | 'dup' | 'try0Null' | 'try1Null' | 'bulk'>): number {
  let flags = F.LOCK;
  if (ctx.fold) flags |= F.FOLD_FIX;
  if (ctx.utf8) flags |= F.UTF8_REQUEST;
  if (ctx.noRegsub) flags |= F.NO_REGSUB;
  // Both habits allowed is what a Postfix client says by sending neither bit.
  if (ctx.try0Null !== ctx.try1Null) flags |= ctx.try0Null ? F.TRY0NULL : F.TRY1NULL;
  if (ctx.bulk) flags |= F.BULK_UPDATE;
  if (ctx.dup === 'warn') flags |= F.DUP_WARN;
  else if (ctx.dup === 'ignore') flags |= F.DUP_IGNORE;
  else if (ctx.dup === 'replace') flags |= F.DUP_REPLACE;
  return flags;
}

/** What the received flag bits ask of a table (the server side of dictFlagsFromContext). */
export interface RequestedOpen {
  fold: boolean;
  utf8: boolean;
  noRegsub: boolean;
  try0Null: boolean;
  try1Null: boolean;
  dup: DictDupMode;
}

export function openOptionsFromFlags(flags: number): RequestedOpen {
  let try0Null = (flags & F.TRY0NULL) !== 0;
  let try1Null = (flags & F.TRY1NULL) !== 0;
  // Neither set: the table may use either habit (Postfix's dict_open default).
  if (!try0Null && !try1Null) try0Null = try1Null = true;
  const dup: DictDupMode = flags & F.DUP_REPLACE ? 'replace' : flags & F.DUP_IGNORE ? 'ignore' : flags & F.DUP_WARN ? 'warn' : 'fatal';
  return {
    fold: (flags & (F.FOLD_FIX | F.FOLD_MUL)) !== 0,
    utf8: (flags & F.UTF8_REQUEST) !== 0,
    noRegsub: (flags & F.NO_REGSUB) !== 0,
    try0Null,
    try1Null,
    dup,
  };
}

/** A byte string (one char per byte) as the text the attr0 layer sends (its UTF-8 bytes are the same bytes). */
export function toWire(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(bytes)) return bytes;
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Received attr0 text back to a byte string. */
export function fromWire(text: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(text)) return text;
  return Buffer.from(text, 'utf8').toString('latin1');
}
