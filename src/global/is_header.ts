/*
 * is_header - can this text start a message header? (Postfix is_header.c)
 *
 * What it does: isHeader(text) returns the length of the header label
 * when `text` starts with a header: one or more printable ASCII
 * characters other than space, tab and ':', optionally followed by spaces
 * or tabs (RFC 822 obsolete syntax), then ':'. Otherwise 0. Works on a
 * string or on raw bytes (8-bit bytes never belong in a label).
 *
 * What it does not do: look at the header value, or classify the header
 * (header_opts.ts).
 *
 * DIAGNOSTICS
 * None: a pure predicate.
 */

/** Length of the header label at the start of `text`, 0 when it is not a header. */
export function isHeader(text: string | Buffer): number {
  const n = text.length;
  let len = 0;
  let state: 0 | 1 | 2 = 0; // 0 init, 1 in label, 2 blanks after label
  for (let i = 0; i < n; i++) {
    const c = typeof text === 'string' ? text.charCodeAt(i) : text[i]!;
    if (c === 0x3a) return state === 0 ? 0 : len;
    if (c === 0x20 || c === 0x09) {
      if (state === 0) return 0;
      state = 2;
      continue;
    }
    if (c === 0 || c > 0x7e || c < 0x20) return 0;
    if (state === 2) return 0;
    state = 1;
    len++;
  }
  return 0;
}
