/*
 * mbox_conf - mailbox lock style names (Postfix mbox_conf.c)
 *
 * What it does: maps the names of mailbox_delivery_lock and
 * virtual_mailbox_lock ("flock", "fcntl", "dotlock") to MBOX_LOCK bits and
 * back, and parses a list of them.
 *
 * What it does not do: lock anything (mbox_open.ts).
 *
 * DIAGNOSTICS
 * mboxLockMask() returns { ok: false, why } naming the bad word
 * ("unrecognized mailbox_delivery_lock value: foo"); the caller decides
 * whether that is fatal (Postfix: msg_fatal at startup).
 */

/** Lock bits with Postfix's values (mbox_conf.h). */
export const MBOX_LOCK = {
  FLOCK: 1 << 0,
  FCNTL: 1 << 1,
  DOT: 1 << 2,
  /** Dotlock failure other than "exists" is only a warning (deliveries to arbitrary files). */
  DOT_MAY_FAIL: 1 << 3,
} as const;

const NAMES: ReadonlyArray<[string, number]> = [
  ['flock', MBOX_LOCK.FLOCK],
  ['fcntl', MBOX_LOCK.FCNTL],
  ['dotlock', MBOX_LOCK.DOT],
];

export function mboxLockMask(value: string, paramName = 'mailbox_delivery_lock'): { ok: true; mask: number } | { ok: false; why: string } {
  let mask = 0;
  for (const word of value.split(/[\s,]+/).filter((w) => w !== '')) {
    const hit = NAMES.find(([n]) => n === word.toLowerCase());
    if (!hit) return { ok: false, why: `unrecognized ${paramName} value: ${word}` };
    mask |= hit[1];
  }
  return { ok: true, mask };
}

/** Lock style names available on this system (postconf -l equivalent). */
export function mboxLockNames(): string[] {
  return NAMES.map(([n]) => n);
}
