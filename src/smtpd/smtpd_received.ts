/*
 * smtpd_received - the Received: header smtpd puts on top of each message
 *
 * What it does: receivedHeader() returns the header as the lines
 * Postfix's data_cmd() writes (each one content record):
 *
 *   Received: from HELO (NAME [ADDR])
 *   \tby MYHOSTNAME (MAIL_NAME) with PROTO id QUEUEID
 *   \tfor <RCPT>; DATE                      (exactly one recipient)
 * or
 *   \tby MYHOSTNAME (MAIL_NAME) with PROTO id QUEUEID;
 *   \tDATE                                  (several recipients)
 *
 * HELO is the client name when no HELO was given; ADDR is "IPv6:..." for
 * IPv6 clients; PROTO is SMTP/ESMTP, or UTF8SMTP when the client asked
 * for SMTPUTF8, followed by RFC 3848's "A" when the client
 * authenticated; the recipient is quoted as RFC 822 requires; DATE is
 * mail_date.ts's form of the MAIL FROM time.
 *
 * What it does not do: the TLS comment lines and "(Authenticated
 * sender: ...)" (the security issue adds them).
 *
 * DIAGNOSTICS
 * None.
 */
import { mailDate } from '../global/mail_date.js';
import { quote822Local } from '../global/quote_822_local.js';

export interface ReceivedInfo {
  heloName: string | null;
  name: string;
  rfcAddr: string;
  myhostname: string;
  mailName: string;
  protocol: string;
  smtputf8: boolean;
  authenticated: boolean;
  tls: boolean;
  queueId: string | null;
  rcptCount: number;
  recipient: string | null;
  arrivalSec: number;
}

/** The Received: header lines; see the header. */
export function receivedHeader(r: ReceivedInfo): string[] {
  const lines = [`Received: from ${r.heloName ?? r.name} (${r.name} [${r.rfcAddr}])`];
  const esmtp = r.protocol === 'ESMTP';
  const sess = r.tls && esmtp ? 'S' : '';
  const auth = r.authenticated && esmtp ? 'A' : '';
  const proto = r.smtputf8 ? 'UTF8SMTP' : r.protocol;
  const id = r.queueId ? ` id ${r.queueId}` : '';
  const by = `\tby ${r.myhostname} (${r.mailName}) with ${proto}${sess}${auth}${id}`;
  if (r.rcptCount === 1 && r.recipient !== null) {
    lines.push(by, `\tfor <${quote822Local(r.recipient)}>; ${mailDate(r.arrivalSec)}`);
  } else {
    lines.push(`${by};`, `\t${mailDate(r.arrivalSec)}`);
  }
  return lines;
}
