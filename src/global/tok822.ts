/*
 * tok822 - RFC 822 token trees: token kinds, nodes and the tree operators
 *
 * What it does: defines the token node (Tok822) that the RFC 822 address
 * parser (tok822_parse.ts) builds and the address code walks: a doubly
 * linked list of peers, where an ADDR node owns a sub-list of its own
 * (head/tail, each member's owner pointing back at it). Single-character
 * operators are stored as their character code (the TOK822_OP values);
 * multi-character things use the TOK822 kinds, numbered from
 * TOK822.MINTOK (256) as in Postfix, so a kind never collides with an
 * operator. Also here: the list surgery the parser is built from (append,
 * prepend, cut before/after, unlink, sub-list append/prepend/keep), the
 * walkers (apply, grep: peers only, no descent into sub-lists), the
 * finders (findType forwards, rfindType backwards), and the named limits.
 *
 * What it does not do: tokenize or print (tok822_parse.ts), rewrite or
 * split addresses (tok822_rewrite.ts), or quote local parts
 * (quote_822_local.ts).
 *
 * Strings: token text is a JavaScript string holding one character per
 * input byte (read headers as 'latin1' for byte-exact behaviour); all
 * RFC 822 syntax is ASCII, so UTF-8 decoded text works the same way and
 * 8-bit characters are ordinary atom text, as in Postfix.
 *
 * DIAGNOSTICS
 * None: the operators cannot fail on a well-formed tree. An operator code
 * outside both ranges is a programming error reported by the printers.
 */

/** Token kinds for multi-character objects (Postfix TOK822_*). */
export const TOK822 = {
  /** First kind that is not a single-character operator. */
  MINTOK: 256,
  /** A run of non-special characters. */
  ATOM: 256,
  /** Text between double quotes, stored unquoted; does not nest. */
  QSTRING: 257,
  /** A comment, stored in its external form with its parentheses; nests. */
  COMMENT: 258,
  /** Text between [ and ], stored without the brackets; does not nest. */
  DOMLIT: 259,
  /** A group of tokens: one address. */
  ADDR: 260,
  /** The ':' that opens a named address group. */
  STARTGRP: 261,
  MAXTOK: 261,
} as const;

/** The sentinel kind the parser puts at both ends of the list (never seen by callers). */
export const TOK822_SENTINEL = 0;

/** Operator token kinds: the character code of the operator. */
export const TOK822_OP = {
  COMMA: 0x2c, // ','
  AT: 0x40, // '@'
  COLON: 0x3a, // ':'
  SEMICOLON: 0x3b, // ';'
  LT: 0x3c, // '<'
  GT: 0x3e, // '>'
  DOT: 0x2e, // '.'
  PERCENT: 0x25, // '%'
  BANG: 0x21, // '!'
  PIPE: 0x7c, // '|'
} as const;

/** RFC 822 special characters (Postfix LEX_822_SPECIALS). */
export const LEX_822_SPECIALS = '()<>@,;:\\".[]';

/**
 * Characters that stand alone as operator tokens: the RFC 822 specials
 * plus % and ! (not all the world is RFC 822) and | (aliases files).
 */
export const TOK822_OPCHARS = `|%!${LEX_822_SPECIALS}`;

/** A token limit of zero: no bound (Postfix passes 0 for "unlimited"). */
export const TOK822_NO_TOKEN_LIMIT = 0;

/**
 * The token bound Postfix applies to an address header
 * (header_address_token_limit default); callers with a MailConfig pass
 * config.getInt('header_address_token_limit') instead.
 */
export const TOK822_HEADER_TOKEN_LIMIT = 10240;

/** Space, tab, CR or LF (Postfix IS_SPACE_TAB_CR_LF). */
export function isSpaceTabCrLf(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

/** C iscntrl() in the C locale, on one character of a byte string. */
export function isCntrl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c < 0x20 || c === 0x7f;
}

/** One token, or (type ADDR) a group of tokens. */
export class Tok822 {
  type: number;
  /** The token text (see the kinds for what is stored). */
  text: string;
  prev: Tok822 | null = null;
  next: Tok822 | null = null;
  /** First member, for a group. */
  head: Tok822 | null = null;
  /** Last member, for a group. */
  tail: Tok822 | null = null;
  /** The group this token belongs to; null at the top level. */
  owner: Tok822 | null = null;

  constructor(type: number, text = '') {
    this.type = type;
    this.text = text;
  }
}

/** Inserts list t2 right of t1; t2's tokens take t1's owner. Returns the last token of t2. */
export function tokAppend(t1: Tok822, t2: Tok822): Tok822 {
  const after = t1.next;
  t1.next = t2;
  t2.prev = t1;
  let last = t2;
  last.owner = t1.owner;
  while (last.next) {
    last = last.next;
    last.owner = t1.owner;
  }
  last.next = after;
  if (after) after.prev = last;
  return last;
}

/** Inserts list t2 left of t1; t2's tokens take t1's owner. Returns the last token of t2. */
export function tokPrepend(t1: Tok822, t2: Tok822): Tok822 {
  const before = t1.prev;
  if (before) before.next = t2;
  t2.prev = before;
  let last = t2;
  last.owner = t1.owner;
  while (last.next) {
    last = last.next;
    last.owner = t1.owner;
  }
  last.next = t1;
  t1.prev = last;
  return last;
}

/** Breaks the list left of tp; returns tp's former left neighbour. */
export function tokCutBefore(tp: Tok822): Tok822 | null {
  const before = tp.prev;
  if (before) {
    before.next = null;
    tp.prev = null;
  }
  return before;
}

/** Breaks the list right of tp; returns tp's former right neighbour. */
export function tokCutAfter(tp: Tok822): Tok822 | null {
  const after = tp.next;
  if (after) {
    after.prev = null;
    tp.next = null;
  }
  return after;
}

/** Takes tp out of its list; returns its former left neighbour. */
export function tokUnlink(tp: Tok822): Tok822 | null {
  const before = tp.prev;
  const after = tp.next;
  if (before) before.next = after;
  if (after) after.prev = before;
  tp.prev = null;
  tp.next = null;
  return before;
}

/** Appends list t2 to the members of group t1. Returns the last token of t2. */
export function tokSubAppend(t1: Tok822, t2: Tok822): Tok822 {
  if (t1.tail) {
    t1.tail = tokAppend(t1.tail, t2);
    return t1.tail;
  }
  t1.head = t2;
  let last = t2;
  last.owner = t1;
  while (last.next) {
    last = last.next;
    last.owner = t1;
  }
  t1.tail = last;
  return last;
}

/** Prepends list t2 to the members of group t1. Returns the last token of t2. */
export function tokSubPrepend(t1: Tok822, t2: Tok822): Tok822 {
  if (t1.head) {
    const last = tokPrepend(t1.head, t2);
    t1.head = t2;
    return last;
  }
  return tokSubAppend(t1, t2);
}

/** Keeps the members of t1 left of t2; returns the tail of the cut-off part (t2...). */
export function tokSubKeepBefore(t1: Tok822, t2: Tok822): Tok822 | null {
  const oldTail = t1.tail;
  t1.tail = tokCutBefore(t2);
  if (t1.tail === null) t1.head = null;
  return oldTail;
}

/** Keeps the members of t1 right of t2; returns the head of the cut-off part (...t2). */
export function tokSubKeepAfter(t1: Tok822, t2: Tok822): Tok822 | null {
  const oldHead = t1.head;
  t1.head = tokCutAfter(t2);
  if (t1.head === null) t1.tail = null;
  return oldHead;
}

/** Calls action on each peer of the given type (0: every peer) until it returns non-zero; returns the last result. */
export function tokApply(list: Tok822 | null, type: number, action: (tp: Tok822) => number): number {
  let result = 0;
  for (let tp = list; tp; tp = tp.next) {
    if (type === 0 || tp.type === type) {
      result = action(tp);
      if (result !== 0) break;
    }
  }
  return result;
}

/** The peers of the given type (0: every peer), left to right; sub-lists are not entered. */
export function tokGrep(list: Tok822 | null, type: number): Tok822[] {
  const out: Tok822[] = [];
  for (let tp = list; tp; tp = tp.next) if (type === 0 || tp.type === type) out.push(tp);
  return out;
}

/** The first token of the given type at or right of tp. */
export function tokFindType(tp: Tok822 | null, type: number): Tok822 | null {
  for (let t = tp; t; t = t.next) if (t.type === type) return t;
  return null;
}

/** The first token of the given type at or left of tp. */
export function tokRfindType(tp: Tok822 | null, type: number): Tok822 | null {
  for (let t = tp; t; t = t.prev) if (t.type === type) return t;
  return null;
}

/** The tokens of a list as an array, left to right (peers only). */
export function tokList(list: Tok822 | null): Tok822[] {
  return tokGrep(list, 0);
}

/** A readable dump of a tree, one token a line, indented by depth (for tests and debugging; Postfix's tok822_print). */
export function tokDump(list: Tok822 | null, indent = 0): string {
  let out = '';
  const pad = ' '.repeat(indent);
  for (let tp = list; tp; tp = tp.next) {
    if (tp.type < TOK822.MINTOK) {
      out += `${pad} OP "${String.fromCharCode(tp.type)}"\n`;
    } else if (tp.type === TOK822.ADDR) {
      out += `${pad} address\n${tokDump(tp.head, indent + 2)}`;
    } else if (tp.type === TOK822.STARTGRP) {
      out += `${pad} group ":"\n`;
    } else {
      out += `${pad} ${tokKindName(tp.type)} "${tp.text}"\n`;
    }
  }
  return out;
}

/** The name tokDump uses for a kind. */
export function tokKindName(type: number): string {
  switch (type) {
    case TOK822.ATOM:
      return 'atom';
    case TOK822.QSTRING:
      return 'quoted string';
    case TOK822.COMMENT:
      return 'comment';
    case TOK822.DOMLIT:
      return 'domain literal';
    case TOK822.ADDR:
      return 'address';
    case TOK822.STARTGRP:
      return 'group';
    default:
      return type < TOK822.MINTOK ? `operator "${String.fromCharCode(type)}"` : `unknown kind ${type}`;
  }
}
