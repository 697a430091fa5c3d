/*
 * input_transp - receive_override_options, and what they take away from cleanup (Postfix input_transp)
 *
 * What it does: inputTranspMask() reads receive_override_options into a
 * mask of INPUT_TRANSP bits (no_unknown_recipient_checks,
 * no_address_mappings, no_header_body_checks, no_milters);
 * inputTranspCleanup() clears from a set of CLEANUP_FLAG bits the ones
 * the mask turns off: address mapping takes automatic BCC with it,
 * header/body checks the FILTER bit. As in Postfix, no_milters does not
 * touch the MILTER bit here: the program that runs milters asks the mask.
 *
 * What it does not do: decide the flags a program starts from (smtpd,
 * qmqpd and pickup each know theirs), or skip recipient checks (smtpd
 * asks the mask itself).
 *
 * DIAGNOSTICS
 * An unknown word is fatal, naming it, as the programs that read the
 * parameter at start are in Postfix.
 */
import { msgFatal } from '../util/msg.js';
import { CLEANUP_FLAG } from './cleanup_user.js';
import type { MailConfig } from './mail_conf.js';

export const INPUT_TRANSP = {
  UNKNOWN_RCPT: 1 << 0,
  ADDRESS_MAPPING: 1 << 1,
  HEADER_BODY: 1 << 2,
  MILTER: 1 << 3,
} as const;

const WORDS: Readonly<Record<string, number>> = {
  no_unknown_recipient_checks: INPUT_TRANSP.UNKNOWN_RCPT,
  no_address_mappings: INPUT_TRANSP.ADDRESS_MAPPING,
  no_header_body_checks: INPUT_TRANSP.HEADER_BODY,
  no_milters: INPUT_TRANSP.MILTER,
};

/** receive_override_options as INPUT_TRANSP bits. */
export function inputTranspMask(config: MailConfig): number {
  let mask = 0;
  for (const w of config.getList('receive_override_options')) {
    const bit = WORDS[w.toLowerCase()];
    if (bit === undefined) msgFatal(`invalid receive_override_options value: "${w}"`);
    mask |= bit;
  }
  return mask;
}

/** The cleanup flags left once the mask's features are turned off. */
export function inputTranspCleanup(flags: number, mask: number): number {
  let f = flags;
  if (mask & INPUT_TRANSP.ADDRESS_MAPPING) f &= ~(CLEANUP_FLAG.BCC_OK | CLEANUP_FLAG.MAP_OK);
  if (mask & INPUT_TRANSP.HEADER_BODY) f &= ~CLEANUP_FLAG.FILTER;
  return f;
}
