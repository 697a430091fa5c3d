/*
 * rec_type - the record types of a Postfix queue file (Postfix rec_type.h)
 *
 * What it does: names every record type byte that a queue file or the
 * cleanup content stream may hold (REC_TYPE.SIZE is 'C', REC_TYPE.RCPT
 * is 'R', ...), lists which types each of the three segments allows
 * (envelope, content, extracted) and which ones postdrop accepts, gives
 * the printable names that postcat(1) shows (recTypeName), and the
 * fixed field widths of the records that are updated in place (the size
 * record 'C', the warning time 'W', the pointer record 'p').
 *
 * What it does not do: read or write records (record.ts) or know the
 * order in which cleanup writes them (queue_file_write.ts).
 *
 * DIAGNOSTICS
 * None: constants and pure lookups. An unknown type byte has the name
 * "unknown_record_type", as in Postfix.
 */

/** Record type bytes, as Postfix defines them. Values are char codes. */
export const REC_TYPE = {
  SIZE: 0x43, // 'C' first record: content size, data offset, rcpt count, qmgr flags, content length, smtputf8
  TIME: 0x54, // 'T' arrival time "sec usec", required
  CTIME: 0x63, // 'c' create time, optional
  FULL: 0x46, // 'F' sender full name
  INSP: 0x49, // 'I' inspector transport
  FILT: 0x4c, // 'L' content filter (same byte as CONT)
  FROM: 0x53, // 'S' sender, required
  DONE: 0x44, // 'D' delivered recipient
  RCPT: 0x52, // 'R' recipient still to deliver
  ORCP: 0x4f, // 'O' original recipient
  DRCP: 0x2f, // '/' canceled recipient
  WARN: 0x57, // 'W' time of the next delay warning, fixed width
  ATTR: 0x41, // 'A' named attribute name=value
  KILL: 0x4b, // 'K' killed record
  RDR: 0x3e, // '>' redirect target
  FLGS: 0x66, // 'f' cleanup processing flags
  DELAY: 0x64, // 'd' cleanup delay upon arrival
  MESG: 0x4d, // 'M' start of message content
  CONT: 0x4c, // 'L' text without line end (continued in the next record)
  NORM: 0x4e, // 'N' text line
  DTXT: 0x77, // 'w' padding (was: deleted text)
  XTRA: 0x58, // 'X' start of extracted records
  RRTO: 0x72, // 'r' return-receipt, from headers
  ERTO: 0x65, // 'e' errors-to, from headers
  PRIO: 0x50, // 'P' priority
  PTR: 0x70, // 'p' pointer indirection, fixed width
  VERP: 0x56, // 'V' VERP delimiters
  DSN_RET: 0x3c, // '<' DSN full/hdrs
  DSN_ENVID: 0x69, // 'i' DSN envelope id
  DSN_ORCPT: 0x6f, // 'o' DSN original recipient
  DSN_NOTIFY: 0x6e, // 'n' DSN notify flags
  MILT_COUNT: 0x6d, // 'm' milter count
  END: 0x45, // 'E' terminator, required
} as const;

export type RecType = (typeof REC_TYPE)[keyof typeof REC_TYPE];

/*
 * The types allowed in each segment. The first character of each set is
 * the record that ends that segment (Postfix's convention).
 */
export const REC_TYPE_ENVELOPE = 'MCTcFILSDRO/WVA>K<ion';
export const REC_TYPE_CONTENT = 'XLNw';
export const REC_TYPE_EXTRACT = 'EDRO/PreAFIL>Kon';

/* What postdrop accepts from sendmail in each segment. */
export const REC_TYPE_POST_ENVELOPE = 'MFSRVAin';
export const REC_TYPE_POST_CONTENT = 'XLN';
export const REC_TYPE_POST_EXTRACT = 'EAR';

/* "Pure recipient" sequences at the end of the envelope / extracted segment. */
export const REC_TYPE_ENV_RECIPIENT = 'MDRO/Kon';
export const REC_TYPE_EXT_RECIPIENT = 'EDRO/Kon';

/** True when `type` is one of the characters of `set`. */
export function recTypeIn(set: string, type: number): boolean {
  return type >= 0 && type <= 0xff && set.includes(String.fromCharCode(type));
}

/*
 * Fixed-width fields. The size record holds six numbers printed with
 * "%15ld" and one space between them; the warning time and a pointer are
 * one "%15ld" each. Updating them in place never changes a record length.
 */
export const REC_TYPE_SIZE_FIELD_WIDTH = 15;
export const REC_TYPE_SIZE_FIELD_COUNT = 6;
export const REC_TYPE_WARN_WIDTH = 15;
export const REC_TYPE_PTR_PAYL_SIZE = 15;

/** Formats one number right-aligned in `width` columns, like printf "%15ld". */
export function padNumber(value: number, width: number): string {
  const text = String(Math.trunc(value));
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

/** The payload of a size record: "%15ld %15ld %15ld %15ld %15ld %15ld". */
export function formatSizeRecord(fields: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < REC_TYPE_SIZE_FIELD_COUNT; i++) out.push(padNumber(fields[i] ?? 0, REC_TYPE_SIZE_FIELD_WIDTH));
  return out.join(' ');
}

/** The payload of a warning-time record: "%15ld". */
export function formatWarnRecord(when: number): string {
  return padNumber(when, REC_TYPE_WARN_WIDTH);
}

/** The payload of a time record: "%ld %ld" (seconds, microseconds). */
export function formatTimeRecord(sec: number, usec: number): string {
  return `${Math.trunc(sec)} ${Math.trunc(usec)}`;
}

/** Printable names, in the order Postfix 3.7 looks them up ('L' is content_filter first). */
const REC_TYPE_NAMES: ReadonlyArray<readonly [number, string]> = [
  [REC_TYPE.SIZE, 'message_size'],
  [REC_TYPE.TIME, 'message_arrival_time'],
  [REC_TYPE.CTIME, 'queue_file_create_time'],
  [REC_TYPE.FULL, 'sender_fullname'],
  [REC_TYPE.INSP, 'content_inspector'],
  [REC_TYPE.FILT, 'content_filter'],
  [REC_TYPE.FROM, 'sender'],
  [REC_TYPE.DONE, 'done_recipient'],
  [REC_TYPE.DRCP, 'canceled_recipient'],
  [REC_TYPE.RCPT, 'recipient'],
  [REC_TYPE.ORCP, 'original_recipient'],
  [REC_TYPE.WARN, 'warning_message_time'],
  [REC_TYPE.ATTR, 'named_attribute'],
  [REC_TYPE.PTR, 'pointer_record'],
  [REC_TYPE.KILL, 'killed_record'],
  [REC_TYPE.MESG, 'message_content'],
  [REC_TYPE.CONT, 'unterminated_text'],
  [REC_TYPE.NORM, 'regular_text'],
  [REC_TYPE.DTXT, 'padding'],
  [REC_TYPE.XTRA, 'extracted_info'],
  [REC_TYPE.RRTO, 'return_receipt'],
  [REC_TYPE.ERTO, 'errors_to'],
  [REC_TYPE.PRIO, 'priority'],
  [REC_TYPE.VERP, 'verp_delimiters'],
  [REC_TYPE.END, 'message_end'],
  [REC_TYPE.RDR, 'redirect_to'],
  [REC_TYPE.FLGS, 'flags'],
  [REC_TYPE.DSN_RET, 'dsn_return_flags'],
  [REC_TYPE.DSN_ENVID, 'dsn_envelope_id'],
  [REC_TYPE.DSN_ORCPT, 'dsn_original_recipient'],
  [REC_TYPE.DSN_NOTIFY, 'dsn_notify_flags'],
];

/** The name postcat prints for a record type ("recipient", "unknown_record_type"). */
export function recTypeName(type: number): string {
  for (const [t, name] of REC_TYPE_NAMES) if (t === type) return name;
  return 'unknown_record_type';
}
