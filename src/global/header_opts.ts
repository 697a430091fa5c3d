/*
 * header_opts - message header classification (Postfix header_opts.c)
 *
 * What it does: the table of headers cleanup(8) treats specially, with
 * Postfix's type numbers (HDR.*) and flags (HDR_OPT: DROP, SENDER,
 * RECIP, RR for Resent- headers, EXTRACT, MIME). headerOptsFind(header)
 * looks up the label of a header line case-insensitively (blanks before
 * the ':' ignored). HeaderOptsTable also applies message_drop_headers:
 * every listed name gets HDR_OPT.DROP; names not in the table are added
 * as type HDR.OTHER with only DROP (as Postfix's header_drop_init()).
 *
 * What it does not do: parse header values or decide what the flags mean
 * (cleanup_message.ts does).
 *
 * DIAGNOSTICS
 * None. A text without ':' has no options (null).
 */

/** Header types (Postfix HDR_*): bit numbers in cleanup's headers-seen set. */
export const HDR = {
  OTHER: 0,
  APPARENTLY_TO: 1,
  BCC: 2,
  CC: 3,
  CONTENT_LENGTH: 4,
  CONTENT_TRANSFER_ENCODING: 5,
  CONTENT_TYPE: 6,
  DATE: 7,
  DELIVERED_TO: 8,
  ERRORS_TO: 9,
  FROM: 10,
  MESSAGE_ID: 11,
  RECEIVED: 12,
  REPLY_TO: 13,
  RESENT_BCC: 14,
  RESENT_CC: 15,
  RESENT_DATE: 16,
  RESENT_FROM: 17,
  RESENT_MESSAGE_ID: 18,
  RESENT_REPLY_TO: 19,
  RESENT_SENDER: 20,
  RESENT_TO: 21,
  RETURN_PATH: 22,
  RETURN_RECEIPT_TO: 23,
  SENDER: 24,
  TO: 25,
  MAIL_FOLLOWUP_TO: 26,
  CONTENT_DESCRIPTION: 27,
  CONTENT_DISPOSITION: 28,
  CONTENT_ID: 29,
  MIME_VERSION: 30,
  DISP_NOTIFICATION: 31,
} as const;

/** Header flags (Postfix HDR_OPT_*). */
export const HDR_OPT = {
  DROP: 1 << 0,
  SENDER: 1 << 1,
  RECIP: 1 << 2,
  RR: 1 << 3,
  EXTRACT: 1 << 4,
  MIME: 1 << 5,
  XRECIP: (1 << 2) | (1 << 4),
} as const;

export interface HeaderOpts {
  /** Preferred capitalization. */
  readonly name: string;
  readonly type: number;
  readonly flags: number;
}

const TABLE: readonly HeaderOpts[] = [
  { name: 'Apparently-To', type: HDR.APPARENTLY_TO, flags: HDR_OPT.RECIP },
  { name: 'Bcc', type: HDR.BCC, flags: HDR_OPT.XRECIP },
  { name: 'Cc', type: HDR.CC, flags: HDR_OPT.XRECIP },
  { name: 'Content-Description', type: HDR.CONTENT_DESCRIPTION, flags: HDR_OPT.MIME },
  { name: 'Content-Disposition', type: HDR.CONTENT_DISPOSITION, flags: HDR_OPT.MIME },
  { name: 'Content-ID', type: HDR.CONTENT_ID, flags: HDR_OPT.MIME },
  { name: 'Content-Length', type: HDR.CONTENT_LENGTH, flags: 0 },
  { name: 'Content-Transfer-Encoding', type: HDR.CONTENT_TRANSFER_ENCODING, flags: HDR_OPT.MIME },
  { name: 'Content-Type', type: HDR.CONTENT_TYPE, flags: HDR_OPT.MIME },
  { name: 'Delivered-To', type: HDR.DELIVERED_TO, flags: 0 },
  { name: 'Disposition-Notification-To', type: HDR.DISP_NOTIFICATION, flags: HDR_OPT.SENDER },
  { name: 'Date', type: HDR.DATE, flags: 0 },
  { name: 'Errors-To', type: HDR.ERRORS_TO, flags: HDR_OPT.SENDER },
  { name: 'From', type: HDR.FROM, flags: HDR_OPT.SENDER },
  { name: 'Mail-Followup-To', type: HDR.MAIL_FOLLOWUP_TO, flags: HDR_OPT.SENDER },
  { name: 'Message-Id', type: HDR.MESSAGE_ID, flags: 0 },
  { name: 'MIME-Version', type: HDR.MIME_VERSION, flags: HDR_OPT.MIME },
  { name: 'Received', type: HDR.RECEIVED, flags: 0 },
  { name: 'Reply-To', type: HDR.REPLY_TO, flags: HDR_OPT.SENDER },
  { name: 'Resent-Bcc', type: HDR.RESENT_BCC, flags: HDR_OPT.XRECIP | HDR_OPT.RR },
  { name: 'Resent-Cc', type: HDR.RESENT_CC, flags: HDR_OPT.XRECIP | HDR_OPT.RR },
  { name: 'Resent-Date', type: HDR.RESENT_DATE, flags: HDR_OPT.RR },
  { name: 'Resent-From', type: HDR.RESENT_FROM, flags: HDR_OPT.SENDER | HDR_OPT.RR },
  { name: 'Resent-Message-Id', type: HDR.RESENT_MESSAGE_ID, flags: HDR_OPT.RR },
  { name: 'Resent-Reply-To', type: HDR.RESENT_REPLY_TO, flags: HDR_OPT.RECIP | HDR_OPT.RR },
  { name: 'Resent-Sender', type: HDR.RESENT_SENDER, flags: HDR_OPT.SENDER | HDR_OPT.RR },
  { name: 'Resent-To', type: HDR.RESENT_TO, flags: HDR_OPT.XRECIP | HDR_OPT.RR },
  { name: 'Return-Path', type: HDR.RETURN_PATH, flags: HDR_OPT.SENDER },
  { name: 'Return-Receipt-To', type: HDR.RETURN_RECEIPT_TO, flags: HDR_OPT.SENDER },
  { name: 'Sender', type: HDR.SENDER, flags: HDR_OPT.SENDER },
  { name: 'To', type: HDR.TO, flags: HDR_OPT.XRECIP },
];

/** Postfix's default message_drop_headers. */
export const DEF_DROP_HEADERS = 'bcc, content-length, resent-bcc, return-path';

/** The label of a header line, lower-cased, blanks before ':' removed; null without ':'. */
export function headerLabelKey(header: string): string | null {
  const colon = header.indexOf(':');
  if (colon < 0) return null;
  return header.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
}

/** The header table with one message_drop_headers setting applied. */
export class HeaderOptsTable {
  readonly #map = new Map<string, HeaderOpts>();

  constructor(dropHeaders: string = DEF_DROP_HEADERS) {
    for (const h of TABLE) this.#map.set(h.name.toLowerCase(), h);
    for (const raw of dropHeaders.split(/[\s,]+/)) {
      const name = raw.toLowerCase();
      if (!name) continue;
      const old = this.#map.get(name);
      this.#map.set(name, old ? { ...old, flags: old.flags | HDR_OPT.DROP } : { name, type: HDR.OTHER, flags: HDR_OPT.DROP });
    }
  }

  /** Options for the header whose text starts `header`, or null. */
  find(header: string): HeaderOpts | null {
    const key = headerLabelKey(header);
    return key === null ? null : (this.#map.get(key) ?? null);
  }
}

const defaultTable = new HeaderOptsTable();

/** Lookup with Postfix's default message_drop_headers. */
export function headerOptsFind(header: string): HeaderOpts | null {
  return defaultTable.find(header);
}
