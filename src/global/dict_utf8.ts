/*
 * dict_utf8 - UTF-8 checks and case folding for table keys (Postfix dict_utf8)
 *
 * What it does: keys and values are byte strings (one character per
 * byte). isValidUtf8Bytes() tells whether such a string holds valid
 * UTF-8 (ASCII always is). foldUtf8Key() lowercases a key the way
 * Postfix folds fixed-table keys with SMTPUTF8 on: ASCII letters
 * always, and other letters after decoding valid UTF-8 (JavaScript's
 * upper then lower case, then final sigma → σ and ß → ss: ICU's full
 * case folding for the letters that matter). printableKey()
 * shows a key in warnings with each byte of invalid UTF-8 as '?'.
 *
 * What it does not do: normalise Unicode.
 *
 * DIAGNOSTICS
 * None.
 */

const NON_ASCII = /[\x80-\xff]/;

/** Is this byte string valid UTF-8? */
export function isValidUtf8Bytes(text: string): boolean {
  if (!NON_ASCII.test(text)) return true;
  const buf = Buffer.from(text, 'latin1');
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** Lowercase a byte-string key: ASCII, and valid UTF-8 beyond it. */
export function foldUtf8Key(key: string): string {
  const ascii = key.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (!NON_ASCII.test(ascii) || !isValidUtf8Bytes(ascii)) return ascii;
  // Upper then lower case approximates ICU's full case folding
  // (ligatures, ß → ss) better than lower case alone; JavaScript's lower
  // case then brings back a final sigma and makes ẞ a ß, which full case
  // folding turns into σ and ss.
  const text = Buffer.from(ascii, 'latin1')
    .toString('utf8')
    .replace(/[^\u0131]+/g, (s) => s.toUpperCase().toLowerCase())
    .replace(/[ςß]/g, (c) => (c === 'ς' ? 'σ' : 'ss'));
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A key for a warning: invalid UTF-8 bytes shown as '?', as Postfix does. */
export function printableKey(text: string): string {
  const buf = Buffer.from(text, 'latin1');
  let out = '';
  for (let i = 0; i < buf.length; ) {
    const b = buf[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    const seq = len > 0 ? buf.subarray(i, i + len) : null;
    if (seq && seq.length === len && isValidUtf8Bytes(seq.toString('latin1'))) {
      out += seq.toString('latin1');
      i += len;
    } else {
      out += '?';
      i++;
    }
  }
  return out;
}
