/*
 * dict_file - read a line-oriented table file (Postfix readllines)
 *
 * What it does: readTableLines() reads a regexp/pcre/cidr/texthash
 * source file and returns its logical lines with the number of the
 * physical line each starts on, the way Postfix's readllines() does:
 * blank lines and lines whose first non-blank is '#' are skipped (also
 * inside a continued line); a line that starts with white space
 * continues the logical line before it (its leading white space kept);
 * trailing white space of a logical line is removed. Text is read as
 * bytes, one character per byte (latin1), like every address here.
 *
 * What it does not do: interpret the lines (each table type does), or
 * decide what a changed file means (dict_changed.ts records it).
 *
 * DIAGNOSTICS
 * A file that cannot be read throws DictOpenError("open FILE: reason"),
 * which dictOpen() turns into a surrogate table. A file larger than
 * DICT_FILE_MAX_BYTES is refused the same way.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { strerror } from '../util/strerror.js';
import { DictOpenError } from './dict_base.js';
import { dictWatchFile } from './dict_changed.js';

/** Refuse table source files beyond this size (a limit, not a Postfix rule). */
export const DICT_FILE_MAX_BYTES = 64 * 1024 * 1024;

export interface TableLine {
  text: string;
  /** Physical line number where the logical line starts. */
  line: number;
}

const LEADING_SPACE = /^[ \t\r\n\f\v]/;
const ALL_SPACE = /^[ \t\r\n\f\v]*$/;
const COMMENT = /^[ \t\r\n\f\v]*#/;
const TRAILING_SPACE = /[ \t\r\n\f\v]+$/;

/** Postfix readllines over text already in memory. */
export function tableLines(content: string): TableLine[] {
  const out: TableLine[] = [];
  const lines = content.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let current: TableLine | null = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (ALL_SPACE.test(raw) || COMMENT.test(raw)) continue;
    if (current && LEADING_SPACE.test(raw)) {
      current.text += raw;
      continue;
    }
    if (current) out.push(current);
    current = { text: raw, line: i + 1 };
  }
  if (current) out.push(current);
  for (const l of out) l.text = l.text.replace(TRAILING_SPACE, '');
  return out;
}

/**
 * Read and split a table file; throws DictOpenError when it cannot be
 * read. With `spec`, the file is watched for changes (dict_changed.ts).
 */
export function readTableLines(path: string, spec?: string): TableLine[] {
  let buf: Buffer;
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    if (st.size > DICT_FILE_MAX_BYTES) throw new DictOpenError(`open ${path}: file is larger than ${DICT_FILE_MAX_BYTES} bytes`);
    buf = readFileSync(fd);
    if (spec !== undefined) dictWatchFile(spec, path, st);
  } catch (err) {
    if (err instanceof DictOpenError) throw err;
    throw new DictOpenError(`open ${path}: ${strerror(err)}`);
  } finally {
    if (fd !== null) closeSync(fd);
  }
  return tableLines(buf.toString('latin1'));
}
