/*
 * master_cf_scan - the lexical layer of master.cf: logical lines, words, braces, name=value
 *
 * What it does: readLogicalLines() splits text into logical lines as
 * Postfix's readllines() does (a line that starts with white space
 * continues the previous one; empty, blank and '#' lines are skipped, also
 * inside an entry; a logical line that starts with white space is dropped
 * with Postfix's warning). splitMasterWords() is Postfix's mystrtokq():
 * words separated by blanks, never split inside balanced "{...}".
 * extractBraced() is extpar() with blank stripping, and splitNameValue()
 * is split_nameval(), both with Postfix's error texts.
 *
 * What it does not do: know what the eight columns mean (master_cf.ts).
 *
 * DIAGNOSTICS
 * readLogicalLines warns through its callback; the others return errors
 * as values.
 */
import { msgWarn } from '../util/msg.js';

/** Word separators in master.cf (Postfix's PCF_MASTER_BLANKS). */
export const MASTER_BLANKS = ' \t\r\n';
/** The grouping characters of Postfix 3.0+ ("{ ... }"). */
export const MASTER_BRACES = '{}';
/** How much of a bad logical line readllines() quotes in its warning. */
export const LOGICAL_LINE_QUOTE_LIMIT = 30;

export type WarnFn = (text: string) => void;

export interface LogicalLine {
  text: string;
  firstLine: number;
  lastLine: number;
}

/** C isspace() for one character. */
export function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

export function isBlankOrComment(line: string): boolean {
  let i = 0;
  while (i < line.length && isSpace(line[i])) i++;
  return i === line.length || line[i] === '#';
}

/**
 * Splits text into logical lines as readllines() does. Continuation lines
 * are joined without the newline; a logical line that starts with white
 * space is reported through warn and dropped.
 */
export function readLogicalLines(text: string, path: string, warn: WarnFn = msgWarn): LogicalLine[] {
  const physical = text.split('\n');
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop();
  const out: LogicalLine[] = [];
  let current: LogicalLine | null = null;
  const finish = (): void => {
    if (current === null) return;
    if (isSpace(current.text[0])) {
      const t = current.text;
      const more = t.length > LOGICAL_LINE_QUOTE_LIMIT ? '...' : '';
      warn(`${path}: logical line must not start with whitespace: "${t.slice(0, LOGICAL_LINE_QUOTE_LIMIT)}${more}"`);
    } else {
      out.push(current);
    }
    current = null;
  };
  physical.forEach((line, index) => {
    const lineNo = index + 1;
    if (isBlankOrComment(line)) return;
    if (current !== null && isSpace(line[0])) {
      current.text += line;
      current.lastLine = lineNo;
      return;
    }
    finish();
    current = { text: line, firstLine: lineNo, lastLine: lineNo };
  });
  finish();
  return out;
}

/** Postfix mystrtokq(): words separated by blanks, not split inside balanced braces. */
export function splitMasterWords(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    while (i < n && MASTER_BLANKS.includes(text[i])) i++;
    if (i >= n) break;
    const start = i;
    let level = 0;
    for (; i < n; i++) {
      const ch = text[i];
      if (ch === MASTER_BRACES[0]) level++;
      else if (level > 0 && ch === MASTER_BRACES[1]) level--;
      else if (level === 0 && MASTER_BLANKS.includes(ch)) break;
    }
    words.push(text.slice(start, i));
  }
  return words;
}

/** Length of the balanced "{...}" prefix of s, or 0 when unbalanced (Postfix balpar). */
function balancedLength(s: string): number {
  let level = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === MASTER_BRACES[0]) level++;
    else if (s[i] === MASTER_BRACES[1]) {
      level--;
      if (level === 0) return i + 1;
    }
  }
  return 0;
}

function trimSpaces(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a])) a++;
  while (b > a && isSpace(s[b - 1])) b--;
  return s.slice(a, b);
}

/**
 * Postfix extpar(..., EXTPAR_FLAG_STRIP): the text inside "{ ... }" with
 * surrounding blanks removed, and Postfix's error text when the braces are
 * not right (the text is then what Postfix would use anyway).
 */
export function extractBraced(word: string): { text: string; error?: string } {
  if (word[0] !== MASTER_BRACES[0]) {
    return { text: trimSpaces(word), error: `no '${MASTER_BRACES[0]}' at start of text in "${word}"` };
  }
  const len = balancedLength(word);
  if (len === 0) {
    return { text: trimSpaces(word.slice(1)), error: `missing '${MASTER_BRACES[1]}' in "${word}"` };
  }
  const inner = trimSpaces(word.slice(1, len - 1));
  if (len !== word.length) {
    return { text: inner, error: `syntax error after '${MASTER_BRACES[1]}' in "${word}"` };
  }
  return { text: inner };
}

/** Postfix split_nameval(): "name = value" with blanks trimmed, or its error text. */
export function splitNameValue(text: string): { name: string; value: string } | { error: string } {
  let i = 0;
  while (i < text.length && isSpace(text[i])) i++;
  if (i >= text.length || text[i] === '=') return { error: 'missing attribute name' };
  const nameStart = i;
  while (i < text.length && !isSpace(text[i]) && text[i] !== '=') i++;
  const name = text.slice(nameStart, i);
  while (i < text.length && isSpace(text[i])) i++;
  if (text[i] !== '=') return { error: "missing '=' after attribute name" };
  i++;
  while (i < text.length && isSpace(text[i])) i++;
  let end = text.length;
  while (end > i && isSpace(text[end - 1])) end--;
  return { name, value: text.slice(i, end) };
}
