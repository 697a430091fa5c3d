/*
 * printable - mask the bytes of a log record that a terminal or log
 * reader should not see (Postfix printable(3))
 *
 * What it does: replaces every byte that is not printable US-ASCII
 * (0x20..0x7e) with a replacement byte, '?' by default. When UTF-8 is
 * allowed (Postfix sets this from smtputf8_enable), a lead byte in
 * 0xc2..0xfe followed by at least one continuation byte (0x80..0xbf) is
 * kept together with all the continuation bytes that follow it; this is
 * the same loose test Postfix applies, not a full UTF-8 validation. So
 * "tab\there" becomes "tab?here", and "é" stays "é" only with UTF-8 on.
 *
 * What it does not do: truncate (the log sinks cap the length), escape
 * (the mask is lossy on purpose), or decode text: it works on bytes so
 * that an invalid byte counts as one '?', as in Postfix.
 *
 * DIAGNOSTICS
 * None: every input has an output.
 */

/** The byte Postfix writes in place of a non-printable one. */
export const PRINTABLE_REPLACEMENT = 0x3f; // '?'

const ASCII_PRINT_FIRST = 0x20;
const ASCII_PRINT_LAST = 0x7e;
const UTF8_LEAD_FIRST = 0xc2;
const UTF8_LEAD_LAST = 0xfe;
const UTF8_CONT_FIRST = 0x80;
const UTF8_CONT_LAST = 0xbf;

function isContinuation(byte: number | undefined): boolean {
  return byte !== undefined && byte >= UTF8_CONT_FIRST && byte <= UTF8_CONT_LAST;
}

/**
 * Masks non-printable bytes in place and returns the same buffer.
 * `utf8`: keep what looks like UTF-8 (Postfix util_utf8_enable).
 */
export function printableBytes(buf: Buffer, utf8 = false, replacement = PRINTABLE_REPLACEMENT): Buffer {
  for (let i = 0; i < buf.length; i++) {
    const ch = buf[i]!;
    if (ch >= ASCII_PRINT_FIRST && ch <= ASCII_PRINT_LAST) continue;
    if (utf8 && ch >= UTF8_LEAD_FIRST && ch <= UTF8_LEAD_LAST && isContinuation(buf[i + 1])) {
      while (isContinuation(buf[i + 1])) i++;
      continue;
    }
    buf[i] = replacement;
  }
  return buf;
}

/** String form: encodes as UTF-8, masks, and decodes again. */
export function printable(text: string, utf8 = false): string {
  return printableBytes(Buffer.from(text, 'utf8'), utf8).toString('utf8');
}
