/*
 * mkmap_source - read the source text of a postmap/postalias table (Postfix readllines)
 *
 * What it does: mkmapReadSource() reads a source file (or standard
 * input, for postmap -i / postalias -i) as bytes, one character per
 * byte. mkmapLogicalLines() splits it into logical lines as Postfix's
 * readllines() does: empty, white-space-only and '#' lines are dropped
 * (also between a line and its continuation), a line that starts with
 * white space continues the logical line before it (appended as is,
 * its leading white space kept), each logical line carries the number
 * of the physical line it starts on; a logical line that itself starts
 * with white space (nothing to continue) is dropped with Postfix's
 * warning. mkmapSplitEntry() splits a postmap(1) source line into key
 * and value: the key ends at the first white space that is not inside
 * double quotes and not escaped by a backslash (the key keeps its
 * quotes and backslashes, as Postfix's postmap does); white space
 * around the value is removed. msgPrintable() is the '?' substitution
 * Postfix's logging applies to text it quotes.
 *
 * What it does not do: parse aliases(5) "name: value" lines (postalias
 * does, over these logical lines), fold keys (the table does), or
 * write anything.
 *
 * DIAGNOSTICS
 * mkmapReadSource() ends the program with "fatal: open FILE: reason";
 * mkmapLogicalLines() warns "FILE: logical line must not start with
 * whitespace: \"TEXT\"" (TEXT cut at 30 bytes, "..." appended).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { msgFatal, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { DICT_FILE_MAX_BYTES } from './dict_file.js';
import { isValidUtf8Bytes } from './dict_utf8.js';

/** How much of a bad logical line the warning quotes (Postfix "%.30s"). */
export const MKMAP_QUOTE_LIMIT = 30;

export interface SourceLine {
  /** The logical line, continuation lines appended. */
  text: string;
  /** Physical line number where it starts (1-based). */
  line: number;
}

/**
 * The command-line arguments as byte strings (one character per byte).
 * Node decodes argv as UTF-8 and turns invalid bytes into U+FFFD; the
 * kernel's copy (/proc/self/cmdline) still has them, so a postmap -q
 * key in Latin-1 is looked up as the bytes the user typed. Falls back
 * to re-encoding argv as UTF-8 when that copy does not match.
 */
export function mkmapRawArgv(argv: readonly string[]): string[] {
  const encoded = argv.map((a) => Buffer.from(a, 'utf8').toString('latin1'));
  let cmdline: string[];
  try {
    cmdline = readFileSync('/proc/self/cmdline').toString('latin1').split('\0');
  } catch {
    return encoded;
  }
  if (cmdline[cmdline.length - 1] === '') cmdline.pop();
  const tail = cmdline.slice(cmdline.length - argv.length);
  if (tail.length !== argv.length) return encoded;
  for (let i = 0; i < tail.length; i++) {
    if (Buffer.from(tail[i]!, 'latin1').toString('utf8') !== argv[i]) return encoded;
  }
  return tail;
}

/** A byte-string argument (a file name) back to the string Node's fs functions expect. */
export function mkmapArgPath(arg: string): string {
  return Buffer.from(arg, 'latin1').toString('utf8');
}

/** C isspace(): the white space Postfix's parsers skip. */
export function isSpaceChar(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
}

/**
 * Read a whole source file as a byte string, at most DICT_FILE_MAX_BYTES;
 * fatal with Postfix's text when it cannot be opened or read.
 */
export function mkmapReadSource(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return msgFatal(`open ${path}: ${strerror(err)}`);
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        return msgFatal(`read ${path}: ${strerror(err)}`);
      }
      if (n === 0) break;
      total += n;
      if (total > DICT_FILE_MAX_BYTES) msgFatal(`read ${path}: input is larger than ${DICT_FILE_MAX_BYTES} bytes`);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** Standard input as a byte string (empty when it is closed). */
export function mkmapReadStdin(): string {
  try {
    return readFileSync(0).toString('latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN' || (err as NodeJS.ErrnoException).code === 'EOF') return '';
    return msgFatal(`read stdin: ${strerror(err)}`);
  }
}

function isBlankOrComment(raw: string): boolean {
  let i = 0;
  while (i < raw.length && isSpaceChar(raw[i])) i++;
  return i === raw.length || raw[i] === '#';
}

/** Postfix readllines() over text already read; `path` names the source in warnings. */
export function mkmapLogicalLines(content: string, path: string): SourceLine[] {
  const out: SourceLine[] = [];
  const lines = content.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let current: SourceLine | null = null;
  const flush = (): void => {
    if (current === null) return;
    if (isSpaceChar(current.text[0])) {
      const t = current.text;
      msgWarn(`${path}: logical line must not start with whitespace: "${msgPrintable(t.slice(0, MKMAP_QUOTE_LIMIT))}${t.length > MKMAP_QUOTE_LIMIT ? '...' : ''}"`);
    } else {
      out.push(current);
    }
    current = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (isBlankOrComment(raw)) continue;
    if (current !== null && isSpaceChar(raw[0])) {
      current.text += raw;
      continue;
    }
    flush();
    current = { text: raw, line: i + 1 };
  }
  flush();
  return out;
}

/** A postmap(1) source line split: the key as written and the trimmed value. */
export type SourceEntry = { key: string; value: string } | { error: 'unbalanced' | 'format' };

/** Postfix postmap's key/value split ("key whitespace value", quoted keys). */
export function mkmapSplitEntry(text: string): SourceEntry {
  let inQuotes = false;
  let i = 0;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      if (++i >= text.length) break;
    } else if (isSpaceChar(ch)) {
      if (!inQuotes) break;
    } else if (ch === '"') {
      inQuotes = !inQuotes;
    }
  }
  if (inQuotes) return { error: 'unbalanced' };
  const key = text.slice(0, Math.min(i, text.length));
  let v = i + 1;
  while (v < text.length && isSpaceChar(text[v])) v++;
  let end = text.length;
  while (end > v && isSpaceChar(text[end - 1])) end--;
  const value = v < end ? text.slice(v, end) : '';
  if (key === '' || value === '') return { error: 'format' };
  return { key, value };
}

/**
 * Postfix's printable(): what a log line may show of quoted text.
 * Printable ASCII stays; with utf8, valid UTF-8 sequences stay too;
 * every other byte becomes '?'.
 */
export function msgPrintable(text: string, utf8 = true): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      out += text[i];
      continue;
    }
    if (utf8 && c >= 0xc2 && c <= 0xf4) {
      const len = c <= 0xdf ? 2 : c <= 0xef ? 3 : 4;
      const seq = text.slice(i, i + len);
      if (seq.length === len && isValidUtf8Bytes(seq)) {
        out += seq;
        i += len - 1;
        continue;
      }
    }
    out += '?';
  }
  return out;
}
