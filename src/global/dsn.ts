/*
 * dsn - the delivery status of one recipient or hop (Postfix dsn.h, dsn_mask.h)
 *
 * What it does: the Dsn record that delivery agents, the queue manager and
 * the bounce service pass around (RFC 3463 status, RFC 3464 action, the
 * human reason, the diagnostic type/text and the remote MTA type/name),
 * the DSN NOTIFY and RET bits with Postfix's values, and small builders.
 * The attribute names on the wire are Postfix's (MAIL_ATTR.DSN_*).
 *
 * What it does not do: log (log_adhoc.ts), send anything to the bounce
 * service (bounce_clnt.ts) or format a delivery status notification
 * (bounce(8)).
 *
 * DIAGNOSTICS
 * None: types and pure helpers.
 */

/** One delivery status (Postfix DSN). Empty strings mean "not known". */
export interface Dsn {
  /** RFC 3463 status "X.Y.Z". */
  status: string;
  /** RFC 3464 action: "delivered", "failed", "delayed", "relayed", "expanded" (or "" when implied). */
  action: string;
  /** Free text for logs and the human-readable DSN part ("host x said: 550 ..."). */
  reason: string;
  /** Diagnostic type: "smtp", "x-unix" or "". */
  dtype: string;
  /** Diagnostic text, e.g. the remote SMTP reply. */
  dtext: string;
  /** Remote MTA type: "dns" or "". */
  mtype: string;
  /** Remote MTA name. */
  mname: string;
}

/** DSN NOTIFY bits (Postfix DSN_NOTIFY_*). 0 means "not specified". */
export const DSN_NOTIFY = {
  NEVER: 1 << 0,
  SUCCESS: 1 << 1,
  FAILURE: 1 << 2,
  DELAY: 1 << 3,
} as const;
export const DSN_NOTIFY_ANY = DSN_NOTIFY.SUCCESS | DSN_NOTIFY.FAILURE | DSN_NOTIFY.DELAY;
export const DSN_NOTIFY_OK = DSN_NOTIFY.NEVER | DSN_NOTIFY_ANY;

/** DSN RET values (Postfix DSN_RET_*). 0 means "not specified". */
export const DSN_RET = {
  FULL: 1 << 0,
  HDRS: 1 << 1,
} as const;

/** A Dsn with the fields not given left empty. */
export function dsnMake(status: string, reason: string, fields: Partial<Omit<Dsn, 'status' | 'reason'>> = {}): Dsn {
  return {
    status,
    action: fields.action ?? '',
    reason,
    dtype: fields.dtype ?? '',
    dtext: fields.dtext ?? '',
    mtype: fields.mtype ?? '',
    mname: fields.mname ?? '',
  };
}

/** Postfix's classes: 2.x.x success, 4.x.x temporary, 5.x.x permanent. */
export function dsnClass(status: string): '2' | '4' | '5' | null {
  const c = status.charAt(0);
  return c === '2' || c === '4' || c === '5' ? c : null;
}
