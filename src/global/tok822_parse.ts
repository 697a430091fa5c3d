/*
 * tok822_parse - RFC 822 address lists between string form and token trees
 *
 * What it does: tokScan() cuts an external-form string (a header value)
 * into a flat token list: white space (space, tab, CR, LF) separates;
 * "(...)" is a comment (nests, kept in external form with backslashes);
 * "[...]" a domain literal and "..." a quoted string (stored unquoted,
 * CR/LF/tab inside turned into spaces); each of | % ! and the RFC 822
 * specials is an operator token; anything else is an atom, where a
 * backslash quotes the next character, and an atom that ends up holding
 * a space, a control or an operator character becomes a quoted string.
 * An unterminated comment, quote or literal runs to the end of the input.
 * tokParse() builds the address tree from right to left the way Postfix
 * does: comments are moved aside, "<route-addr>" and each address between
 * commas become ADDR groups, "name: ...;" marks a group (STARTGRP), and a
 * comma is inserted where one address follows another without one.
 * Nothing is thrown away, so any input, however broken, prints back.
 * tokScanAddr() wraps a scan in a single ADDR without parsing.
 * tokExternalize() prints a tree in external form (quoting the local part
 * of each address with quote822Local), tokInternalize() in internal form
 * (no quoting), both with Postfix's spacing rules.
 *
 * Limits: the token count is bounded by the caller (tokenLimit, 0 = none;
 * TOK822_HEADER_TOKEN_LIMIT is Postfix's header default); the scanner
 * stops, dropping the rest, when the bound is reached. Input size is the
 * caller's (headers arrive bounded by header_size_limit); the work is
 * linear in it, with no recursion on input nesting.
 *
 * What it does not do: rewrite, resolve or split addresses
 * (tok822_rewrite.ts), or decide which headers hold addresses.
 *
 * DIAGNOSTICS
 * None: every input has a tree. A token kind outside the known ones in a
 * tree handed to the printers is a programming error (msgPanic).
 */
import { msgPanic } from '../util/msg.js';
import { quote822Local, QUOTE_FLAG } from './quote_822_local.js';
import {
  isCntrl,
  isSpaceTabCrLf,
  Tok822,
  TOK822,
  TOK822_NO_TOKEN_LIMIT,
  TOK822_OP,
  TOK822_OPCHARS,
  TOK822_SENTINEL,
  tokAppend,
  tokCutBefore,
  tokPrepend,
  tokSubAppend,
  tokUnlink,
} from './tok822.js';

/** Printing flags (Postfix TOK822_STR_*); WIPE and TERM have no use for strings. */
export const TOK822_STR = {
  NONE: 0,
  /** A line break after each comma instead of a space (for folding headers). */
  LINE: 1 << 2,
} as const;

/** Parser state bits. */
const DO_WORD = 1 << 0;
const DO_GROUP = 1 << 1;
/** The token inserted to resynchronize when a comma is missing. */
const ADD_COMMA = TOK822_OP.COMMA;
const NO_MISSING_COMMA = 0;
/** Operators that end the phrase in front of a <route-addr>. */
const PHRASE_STOPPERS = '>;,:';
const LAST_OPERATOR = 0xff;

function isOpChar(ch: string): boolean {
  return TOK822_OPCHARS.includes(ch);
}

/** Collects text up to (not including) a character failing `accept`, honouring backslashes; returns [text, next index]. */
function collect(str: string, i: number, accept: (ch: string) => boolean): [string, number] {
  let text = '';
  while (i < str.length) {
    let ch = str[i]!;
    if (ch === '\\') {
      i += 1;
      if (i >= str.length) break;
      ch = str[i]!;
    } else if (!accept(ch)) {
      break;
    }
    text += isSpaceTabCrLf(ch) ? ' ' : ch;
    i += 1;
  }
  return [text, i];
}

/** A comment from just after its '(' to its matching ')', in external form; returns [text, next index]. */
function scanComment(str: string, i: number): [string, number] {
  let level = 1;
  let text = '(';
  while (i < str.length) {
    const ch = str[i]!;
    text += ch;
    i += 1;
    if (ch === '(') {
      level += 1;
    } else if (ch === ')') {
      level -= 1;
      if (level === 0) break;
    } else if (ch === '\\') {
      if (i >= str.length) break;
      text += str[i]!;
      i += 1;
    }
  }
  return [text, i];
}

/** An atom that needs quoting when printed is a quoted string. */
function atomKind(text: string): number {
  for (const ch of text) if (ch === ' ' || isCntrl(ch) || isOpChar(ch)) return TOK822.QSTRING;
  return TOK822.ATOM;
}

/** Tokenizes an external-form string into a flat list; returns [first, last] or null for no tokens. */
export function tokScanList(str: string, tokenLimit: number = TOK822_NO_TOKEN_LIMIT): { head: Tok822; tail: Tok822 } | null {
  let head: Tok822 | null = null;
  let tail: Tok822 | null = null;
  let count = 0;
  let i = 0;
  while (i < str.length) {
    const ch = str[i]!;
    i += 1;
    if (isSpaceTabCrLf(ch)) continue;
    let tp: Tok822;
    if (ch === '(') {
      const [text, next] = scanComment(str, i);
      tp = new Tok822(TOK822.COMMENT, text);
      i = next;
    } else if (ch === '[' || ch === '"') {
      const close = ch === '[' ? ']' : '"';
      const [text, next] = collect(str, i, (c) => c !== close);
      tp = new Tok822(ch === '[' ? TOK822.DOMLIT : TOK822.QSTRING, text);
      i = next < str.length ? next + 1 : next;
    } else if (ch !== '\\' && isOpChar(ch)) {
      tp = new Tok822(ch.charCodeAt(0));
    } else {
      const [text, next] = collect(str, i - 1, (c) => !isSpaceTabCrLf(c) && !isOpChar(c));
      tp = new Tok822(atomKind(text), text);
      i = next;
    }
    if (tail === null) head = tp;
    else tokAppend(tail, tp);
    tail = tp;
    count += 1;
    if (tokenLimit > 0 && count >= tokenLimit) break;
  }
  return head && tail ? { head, tail } : null;
}

/** Tokenizes an external-form string; the first token or null. */
export function tokScan(str: string, tokenLimit: number = TOK822_NO_TOKEN_LIMIT): Tok822 | null {
  return tokScanList(str, tokenLimit)?.head ?? null;
}

/**
 * One ADDR holding the tokens of str, unparsed (for data that is one
 * address and nothing else). As in Postfix the members keep a null owner,
 * so the printers put spaces between adjacent words.
 */
export function tokScanAddr(str: string): Tok822 {
  const addr = new Tok822(TOK822.ADDR);
  const list = tokScanList(str);
  addr.head = list?.head ?? null;
  addr.tail = list?.tail ?? null;
  return addr;
}

/** Puts the tokens strictly between left and right under a new group node, optionally preceded by a sync token; returns left. */
function group(groupType: number, left: Tok822, right: Tok822, syncType: number): Tok822 {
  const first = left.next;
  if (left !== right && first !== null && first !== right) {
    tokCutBefore(right);
    tokCutBefore(first);
    const node = new Tok822(groupType);
    tokSubAppend(node, first);
    tokAppend(left, node);
    // Relink right and what follows it directly: they are left's peers
    // already (same owner), and tokAppend() would walk them all, making
    // the parse quadratic in the number of addresses.
    node.next = right;
    right.prev = node;
    if (syncType !== 0) tokAppend(left, new Tok822(syncType));
  }
  return left;
}

/** Parses an external-form address list into a tree; null when there are no tokens. */
export function tokParse(str: string, tokenLimit: number = TOK822_NO_TOKEN_LIMIT): Tok822 | null {
  const list = tokScanList(str, tokenLimit);
  if (list === null) return null;
  // Sentinels at both ends keep every step free of end-of-list cases.
  const head = new Tok822(TOK822_SENTINEL);
  const tail = new Tok822(TOK822_SENTINEL);
  head.next = list.head;
  list.head.prev = head;
  list.tail.next = tail;
  tail.prev = list.tail;

  // Right to left: the address being built lies between tp and right.
  const moveCommentAside = (tp: Tok822, right: Tok822): { tp: Tok822; right: Tok822 } => {
    const before = tokUnlink(tp)!;
    return { tp: before, right: tokPrepend(right, tp) };
  };
  let state = DO_WORD;
  let right: Tok822 = tail;
  let tp: Tok822 = tail.prev!;
  while (tp.type !== TOK822_SENTINEL) {
    if (tp.type === TOK822.COMMENT) {
      ({ tp, right } = moveCommentAside(tp, right));
      continue;
    } else if (tp.type === TOK822_OP.SEMICOLON) {
      right = group(TOK822.ADDR, tp, right, ADD_COMMA);
      state = DO_GROUP | DO_WORD;
    } else if (tp.type === TOK822_OP.COLON && (state & DO_GROUP) !== 0) {
      tp.type = TOK822.STARTGRP;
      group(TOK822.ADDR, tp, right, NO_MISSING_COMMA);
      while (tp.type !== TOK822_SENTINEL && tp.type !== TOK822_OP.COMMA) tp = tp.prev!;
      right = tp;
      continue;
    } else if (tp.type === TOK822_OP.GT) {
      right = group(TOK822.ADDR, tp, right, ADD_COMMA);
      while (tp.type !== TOK822_SENTINEL && tp.type !== TOK822_OP.LT) {
        if (tp.type === TOK822.COMMENT) {
          ({ tp, right } = moveCommentAside(tp, right));
          continue;
        }
        tp = tp.prev!;
      }
      group(TOK822.ADDR, tp, right, NO_MISSING_COMMA);
      while (tp.type !== TOK822_SENTINEL && (tp.type > LAST_OPERATOR || !PHRASE_STOPPERS.includes(String.fromCharCode(tp.type)))) {
        tp = tp.prev!;
      }
      right = tp;
      state |= DO_WORD;
      continue;
    } else if (tp.type === TOK822.ATOM || tp.type === TOK822.QSTRING || tp.type === TOK822.DOMLIT) {
      if ((state & DO_WORD) === 0) right = group(TOK822.ADDR, tp, right, ADD_COMMA).next!;
      state &= ~DO_WORD;
    } else if (tp.type === TOK822_OP.COMMA) {
      right = group(TOK822.ADDR, tp, right, NO_MISSING_COMMA);
      state |= DO_WORD;
    } else {
      state |= DO_WORD;
    }
    tp = tp.prev!;
  }
  group(TOK822.ADDR, tp, right, NO_MISSING_COMMA);

  // Drop the sentinels.
  const first = head.next !== tail ? head.next : null;
  tokCutBefore(head.next!);
  tokCutBefore(tail);
  return first;
}

/** Does the printer put a space after tp? */
function appendSpace(tp: Tok822): boolean {
  const next = tp.next;
  if (next === null || tp.owner !== null) return false;
  if (tp.type === TOK822_OP.COMMA || tp.type === TOK822.STARTGRP || next.type === TOK822_OP.LT) return true;
  return isNonOperator(tp) && isNonOperator(next);
}

function isNonOperator(tp: Tok822): boolean {
  return (
    tp.type === TOK822.ATOM ||
    tp.type === TOK822.QSTRING ||
    tp.type === TOK822.COMMENT ||
    tp.type === TOK822.DOMLIT ||
    tp.type === TOK822.ADDR
  );
}

/** Backslash before each character of quoteSet. */
function copyQuoted(text: string, quoteSet: string): string {
  let out = '';
  for (const ch of text) out += quoteSet.includes(ch) ? `\\${ch}` : ch;
  return out;
}

function operatorText(tp: Tok822, who: string): string {
  if (tp.type >= TOK822.MINTOK) msgPanic(`${who}: unknown operator ${tp.type}`);
  return String.fromCharCode(tp.type);
}

/** Prints a token list in internal (unquoted) form; with `stop`, only the tokens before it. */
export function tokInternalize(tree: Tok822 | null, flags: number = TOK822_STR.NONE, stop: Tok822 | null = null): string {
  let out = '';
  for (let tp = tree; tp && tp !== stop; tp = tp.next) {
    switch (tp.type) {
      case TOK822_OP.COMMA:
        out += ',';
        if (flags & TOK822_STR.LINE) {
          out += '\n';
          continue;
        }
        break;
      case TOK822.ADDR:
        out += tokInternalize(tp.head);
        break;
      case TOK822.COMMENT:
      case TOK822.ATOM:
      case TOK822.QSTRING:
        out += tp.text;
        break;
      case TOK822.DOMLIT:
        out += `[${tp.text}]`;
        break;
      case TOK822.STARTGRP:
        out += ':';
        break;
      default:
        out += operatorText(tp, 'tokInternalize');
    }
    if (appendSpace(tp) && tp.next !== stop) out += ' ';
  }
  return out;
}

/** Prints a token list in external (quoted) form; each address's local part goes through quote822Local. */
export function tokExternalize(tree: Tok822 | null, flags: number = TOK822_STR.NONE): string {
  let out = '';
  for (let tp = tree; tp; tp = tp.next) {
    switch (tp.type) {
      case TOK822_OP.COMMA:
        out += ',';
        if (flags & TOK822_STR.LINE) {
          out += '\n';
          continue;
        }
        break;
      case TOK822.ADDR:
        // Quoting atoms one by one is not enough: the local part as a whole decides.
        out += quote822Local(tokInternalize(tp.head), QUOTE_FLAG.EIGHT_BIT_CLEAN);
        break;
      case TOK822.ATOM:
      case TOK822.COMMENT:
        out += tp.text;
        break;
      case TOK822.QSTRING:
        out += `"${copyQuoted(tp.text, '"\\\r\n')}"`;
        break;
      case TOK822.DOMLIT:
        out += `[${copyQuoted(tp.text, '\\\r\n')}]`;
        break;
      case TOK822.STARTGRP:
        out += ':';
        break;
      default:
        out += operatorText(tp, 'tokExternalize');
    }
    if (appendSpace(tp)) out += ' ';
  }
  return out;
}
