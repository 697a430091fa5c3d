/*
 * recipient_list - one recipient as the queue manager hands it to a delivery agent (Postfix recipient_list.h)
 *
 * What it does: the Recipient record (original address, address, queue
 * file offset of its 'R' record, DSN ORCPT and NOTIFY) that travels from
 * qmgr to a delivery agent and from there to the bounce service.
 *
 * What it does not do: read queue files (queue_file_read.ts) or encode
 * the record on the wire (deliver_request.ts, bounce_clnt.ts).
 *
 * DIAGNOSTICS
 * None: types only.
 */

export interface Recipient {
  /** The address as the sender gave it (the queue file's 'O' record), or the address itself. */
  origAddress: string;
  /** The address to deliver to, internal form. */
  address: string;
  /** Offset of the recipient's 'R' record in the queue file, for deliver_completed(); -1 when none. */
  offset: number;
  /** DSN ORCPT parameter as received ("rfc822;user@example.com") or "". */
  dsnOrcpt: string;
  /** DSN NOTIFY bits (dsn.ts DSN_NOTIFY), 0 when not given. */
  dsnNotify: number;
}
