/*
 * postmap_file - the -F option of postmap(1): values that are files, stored as base64 (Postfix dict_file)
 *
 * What it does: postmapFileToB64() reads the files a source value
 * names (separated by commas and/or white space), joins their contents
 * with a newline between files, and returns the base64 encoding that
 * postmap -F stores instead of the value. postmapFromB64() decodes a
 * stored value for postmap -F -q / -s, refusing malformed base64 the
 * way Postfix's base64_decode() does (characters outside the alphabet,
 * a length that is not a multiple of four, padding before the end).
 *
 * What it does not do: open tables or print anything; the callers
 * (postmap_build.ts, postmap_query.ts) turn the error texts into
 * Postfix's warnings.
 *
 * DIAGNOSTICS
 * Error texts returned, in Postfix's words: "open FILE: reason",
 * "read FILE: reason", "malformed BASE64 value: VALUE" (VALUE cut at
 * 30 bytes).
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { strerror } from '../util/strerror.js';

/** How much of a malformed value the error text quotes (Postfix "%.30s"). */
export const B64_QUOTE_LIMIT = 30;

/** Separators of the file list in a -F value. */
const FILE_LIST_SEPARATORS = /[,\s]+/;

const B64_ALPHABET = /^[A-Za-z0-9+/]*$/;

/** Files named by value → base64 of their contents joined by '\n'; or { error }. */
export function postmapFileToB64(value: string): { value: string } | { error: string } {
  const names = value.split(FILE_LIST_SEPARATORS).filter((n) => n !== '');
  const parts: Buffer[] = [];
  for (const name of names) {
    let fd: number;
    try {
      fd = openSync(name, 'r');
    } catch (err) {
      return { error: `open ${name}: ${strerror(err)}` };
    }
    try {
      if (parts.length > 0) parts.push(Buffer.from('\n'));
      parts.push(readFileSync(fd));
    } catch (err) {
      return { error: `read ${name}: ${strerror(err)}` };
    } finally {
      closeSync(fd);
    }
  }
  return { value: Buffer.concat(parts).toString('base64') };
}

/** A stored -F value back to bytes (latin1 string); or { error }. */
export function postmapFromB64(value: string): { value: string } | { error: string } {
  const malformed = { error: `malformed BASE64 value: ${value.slice(0, B64_QUOTE_LIMIT)}` };
  if (value.length % 4 !== 0) return malformed;
  const pad = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  if (!B64_ALPHABET.test(value.slice(0, value.length - pad))) return malformed;
  return { value: Buffer.from(value, 'base64').toString('latin1') };
}
