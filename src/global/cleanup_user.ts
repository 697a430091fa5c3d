/*
 * cleanup_user - the cleanup(8) client interface codes (Postfix cleanup_user.h)
 *
 * What it does: names the processing flags a client sends to cleanup(8)
 * (CLEANUP_FLAG: bounce bad mail, enable header/body checks, hold,
 * discard, automatic BCC, address mapping, milters, SMTP replies,
 * SMTPUTF8) and the status bits cleanup replies with (CLEANUP_STAT), and
 * maps a status to its SMTP code, enhanced status code and text as
 * Postfix's cleanup_strerror.c does: when several bits are set, the most
 * severe one in Postfix's order (DEFER, PROXY, BAD, RCPT, HOPS, SIZE,
 * CONT, WRITE, NOPERM) wins. cleanupStrflags() prints flags as Postfix's
 * cleanup_strflags() ("enable_header_body_filter enable_automatic_bcc").
 *
 * What it does not do: talk to cleanup (cleanup_clnt.ts).
 *
 * DIAGNOSTICS
 * None: constants and pure lookups. An unknown non-zero status (no known
 * bit) maps to the write-error entry rather than panicking as Postfix does.
 */

/** Client processing options (the "flags" attribute of the cleanup protocol). */
export const CLEANUP_FLAG = {
  NONE: 0,
  BOUNCE: 1 << 0,
  FILTER: 1 << 1,
  HOLD: 1 << 2,
  DISCARD: 1 << 3,
  BCC_OK: 1 << 4,
  MAP_OK: 1 << 5,
  MILTER: 1 << 6,
  SMTP_REPLY: 1 << 7,
  SMTPUTF8: 1 << 8,
  AUTOUTF8: 1 << 9,
  /** FILTER | MILTER */
  FILTER_ALL: (1 << 1) | (1 << 6),
  /** Normally set for mail from outside: FILTER_ALL | BCC_OK | MAP_OK. */
  MASK_EXTERNAL: (1 << 1) | (1 << 6) | (1 << 4) | (1 << 5),
  /** Normally set for notices and internally forwarded mail: MAP_OK. */
  MASK_INTERNAL: 1 << 5,
  /** Set on the fly while processing envelope or content: HOLD | DISCARD. */
  MASK_EXTRA: (1 << 2) | (1 << 3),
} as const;

/** Status bits of cleanup's reply. */
export const CLEANUP_STAT = {
  OK: 0,
  BAD: 1 << 0,
  WRITE: 1 << 1,
  SIZE: 1 << 2,
  CONT: 1 << 3,
  HOPS: 1 << 4,
  RCPT: 1 << 6,
  PROXY: 1 << 7,
  DEFER: 1 << 8,
  NOPERM: 1 << 9,
  /** Bits that make bouncing impossible even when asked to. */
  MASK_CANT_BOUNCE: (1 << 0) | (1 << 1) | (1 << 8) | (1 << 6),
  /** Bits that mean not every record of the message was examined. */
  MASK_INCOMPLETE: (1 << 0) | (1 << 1) | (1 << 2) | (1 << 8),
} as const;

export interface CleanupStatDetail {
  /** The status bit this entry describes (0 for success). */
  status: number;
  /** SMTP reply code (RFC 5321). */
  smtp: number;
  /** Enhanced status code (RFC 3463). */
  dsn: string;
  /** Free text. */
  text: string;
}

/* Most severe first: only one error can be reported. */
const STAT_MAP: readonly CleanupStatDetail[] = Object.freeze([
  { status: CLEANUP_STAT.DEFER, smtp: 451, dsn: '4.7.1', text: 'service unavailable' },
  { status: CLEANUP_STAT.PROXY, smtp: 451, dsn: '4.3.0', text: 'queue file write error' },
  { status: CLEANUP_STAT.BAD, smtp: 451, dsn: '4.3.0', text: 'internal protocol error' },
  { status: CLEANUP_STAT.RCPT, smtp: 550, dsn: '5.1.0', text: 'no recipients specified' },
  { status: CLEANUP_STAT.HOPS, smtp: 554, dsn: '5.4.0', text: 'too many hops' },
  { status: CLEANUP_STAT.SIZE, smtp: 552, dsn: '5.3.4', text: 'message file too big' },
  { status: CLEANUP_STAT.CONT, smtp: 550, dsn: '5.7.1', text: 'message content rejected' },
  { status: CLEANUP_STAT.WRITE, smtp: 451, dsn: '4.3.0', text: 'queue file write error' },
  { status: CLEANUP_STAT.NOPERM, smtp: 550, dsn: '5.7.1', text: 'service denied' },
]);

const STAT_SUCCESS: CleanupStatDetail = Object.freeze({ status: CLEANUP_STAT.OK, smtp: 250, dsn: '2.0.0', text: 'Success' });

/** The entry for the most severe bit in `status` (Postfix cleanup_stat_detail). */
export function cleanupStatDetail(status: number): CleanupStatDetail {
  if (status === CLEANUP_STAT.OK) return STAT_SUCCESS;
  for (const d of STAT_MAP) if ((d.status & status) !== 0) return d;
  return STAT_MAP[STAT_MAP.length - 2]!;
}

/** Printable text for a status (Postfix cleanup_strerror). */
export function cleanupStrerror(status: number): string {
  return cleanupStatDetail(status).text;
}

/* Flag names as Postfix's cleanup_strflags() prints them. */
const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [CLEANUP_FLAG.BOUNCE, 'enable_bad_mail_bounce'],
  [CLEANUP_FLAG.FILTER, 'enable_header_body_filter'],
  [CLEANUP_FLAG.HOLD, 'hold_message'],
  [CLEANUP_FLAG.DISCARD, 'discard_message'],
  [CLEANUP_FLAG.BCC_OK, 'enable_automatic_bcc'],
  [CLEANUP_FLAG.MAP_OK, 'enable_address_mapping'],
  [CLEANUP_FLAG.MILTER, 'enable_milters'],
  [CLEANUP_FLAG.SMTP_REPLY, 'enable_smtp_reply'],
  [CLEANUP_FLAG.SMTPUTF8, 'smtputf8_requested'],
  [CLEANUP_FLAG.AUTOUTF8, 'smtputf8_autodetect'],
];

/** Space-separated flag names ("none" for 0), as Postfix's cleanup_strflags(). */
export function cleanupStrflags(flags: number): string {
  if (flags === 0) return 'none';
  const names: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if ((flags & bit) !== 0) names.push(name);
  return names.join(' ');
}
