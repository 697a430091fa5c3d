/*
 * dict_texthash - the texthash: table (Postfix dict_thash)
 *
 * What it does: reads a postmap(1)-format source file ("key whitespace
 * value", # comments, continuation lines starting with white space)
 * into memory, as Postfix's texthash: does without building a database.
 * The key ends at the first white space outside double quotes (so
 * "a b"@example.com is one key; a backslash escapes inside quotes);
 * white space around the value is removed. Keys are folded to lower
 * case when the table folds (the default). The first of duplicate keys
 * wins, with Postfix's warning. Lines without a value, with an
 * unbalanced quote, or (with SMTPUTF8 on) with invalid UTF-8 are
 * reported and ignored.
 *
 * What it does not do: re-read the file when it changes, or build an
 * indexed database (postmap, the tables issue).
 *
 * DIAGNOSTICS
 * "FILE, line N: expected format: key whitespace value -- ignoring this
 * line", "FILE, line N: unbalanced '\"' in '...' -- ignoring this line",
 * "FILE, line N: duplicate entry: \"KEY\"", "FILE, line N: record is in
 * \"key: value\" format; is this an alias file?". An unreadable file
 * makes a surrogate ("open database FILE: reason").
 */
import { msgWarn } from '../util/msg.js';
import { type Dict, type DictOpenContext, DictOpenError, foldKey, mapDict } from './dict_base.js';
import { readTableLines, type TableLine } from './dict_file.js';
import { isValidUtf8Bytes } from './dict_utf8.js';

const SPACE = ' \t\r\n\f\v';

/** Split "key value" with quoted keys; null key = unbalanced quote. */
function splitKeyValue(text: string): { key: string; value: string } | { unbalanced: true } {
  let i = 0;
  let quoted = false;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < text.length) i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (SPACE.includes(ch)) break;
  }
  if (quoted) return { unbalanced: true };
  return { key: text.slice(0, i).trim(), value: text.slice(i).trim() };
}

export function parseTexthash(file: string, lines: readonly TableLine[], fold: boolean, utf8: boolean): Map<string, string> {
  const table = new Map<string, string>();
  for (const { text, line } of lines) {
    if (utf8 && !isValidUtf8Bytes(text)) {
      msgWarn(`${file}, line ${line}: non-UTF-8 input "${text}" -- ignoring this line`);
      continue;
    }
    const kv = splitKeyValue(text);
    if ('unbalanced' in kv) {
      msgWarn(`${file}, line ${line}: unbalanced '"' in '${text}' -- ignoring this line`);
      continue;
    }
    if (kv.key === '' || kv.value === '') {
      msgWarn(`${file}, line ${line}: expected format: key whitespace value -- ignoring this line`);
      continue;
    }
    if (kv.key.endsWith(':')) {
      msgWarn(`${file}, line ${line}: record is in "key: value" format; is this an alias file?`);
    }
    const key = foldKey(kv.key, fold, utf8);
    if (table.has(key)) {
      msgWarn(`${file}, line ${line}: duplicate entry: "${kv.key}"`);
      continue;
    }
    table.set(key, kv.value);
  }
  return table;
}

export function dictTexthashOpen(ctx: DictOpenContext): Dict {
  let lines: TableLine[];
  try {
    lines = readTableLines(ctx.name, ctx.spec);
  } catch (err) {
    if (err instanceof DictOpenError) throw new DictOpenError(err.message.replace(/^open /, 'open database '));
    throw err;
  }
  const table = parseTexthash(ctx.name, lines, ctx.fold, ctx.utf8);
  return mapDict(ctx, table);
}
