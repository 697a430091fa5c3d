/*
 * smtpd_dsn - the DSN parameters of MAIL and RCPT (RFC 3461: RET, ENVID, NOTIFY, ORCPT)
 *
 * What it does: xtextUnquote() decodes RFC 3461 xtext ("+2B" is '+'),
 * dsnNotifyMask() turns "SUCCESS,DELAY" into Postfix's DSN_NOTIFY bits
 * (NEVER may not be combined), dsnRetCode() turns FULL/HDRS into
 * DSN_RET bits, as Postfix's dsn_mask.c and xtext.c do.
 *
 * What it does not do: reply or store anything (smtpd_mail.ts does).
 *
 * DIAGNOSTICS
 * dsnNotifyMask() logs Postfix's warning for an unknown keyword.
 */
import { msgWarn } from '../util/msg.js';

import { DSN_NOTIFY, DSN_RET } from '../global/dsn.js';

export { DSN_NOTIFY, DSN_RET };

/** Decoded xtext, or null when malformed (a '+' without two hex digits). */
export function xtextUnquote(text: string): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '+') {
      out += c;
      continue;
    }
    const hex = text.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
    out += String.fromCharCode(parseInt(hex, 16));
    i += 2;
  }
  return out;
}

/** NOTIFY=... as a bit mask; 0 when invalid. */
export function dsnNotifyMask(value: string): number {
  let mask = 0;
  for (const word of value.split(',')) {
    const bit = (DSN_NOTIFY as Record<string, number>)[word.toUpperCase()];
    if (bit === undefined || word === '') {
      msgWarn(`unknown DSN NOTIFY command value "${word}" in "${value}"`);
      return 0;
    }
    mask |= bit;
  }
  if ((mask & DSN_NOTIFY.NEVER) !== 0 && mask !== DSN_NOTIFY.NEVER) return 0;
  return mask;
}

/** RET=FULL|HDRS as DSN_RET bits; 0 when invalid. */
export function dsnRetCode(value: string): number {
  const v = value.toUpperCase();
  if (v === 'FULL') return DSN_RET.FULL;
  if (v === 'HDRS') return DSN_RET.HDRS;
  return 0;
}

/** All characters printable ASCII (Postfix allprint). */
export function allPrint(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}
