/*
 * cleanup_queue_file_cases - record streams for the cleanup oracle test
 *
 * What it does: builds the record streams smtpd, pickup and sendmail -t
 * send to cleanup(8) (time, named attributes, sender, DSN attributes and
 * recipients, 'M', content lines, 'X', extracted records, 'E') and lists
 * the message cases cleanup_queue_file_test.ts sends to the real cleanup
 * and to Postern's: missing headers of each kind, Resent- headers, Bcc
 * and Return-Path removal, long and folded headers, 8-bit text, empty
 * bodies, no or duplicate recipients, hop count and size limits,
 * extracted recipients, HOLD/DISCARD flags, DSN attributes.
 *
 * What it does not do: talk to anything.
 *
 * DIAGNOSTICS
 * None.
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../src/global/cleanup_user.js';
import { REC_TYPE } from '../../src/global/rec_type.js';

export type Rec = [number, string | Buffer];

export interface Case {
  name: string;
  records: Rec[];
  flags?: number;
  service?: string;
  expectStatus?: number;
}

/** A fixed arrival time, so both sides print the same. */
export const ARRIVAL = '1764361000 123456';

interface MsgOpts {
  sender?: string;
  recipients?: Array<string | { addr: string; notify?: number; orcpt?: string; o?: string }>;
  context?: 'local' | 'remote' | null;
  lines?: Array<string | Buffer>;
  extracted?: Rec[];
  envelopeExtra?: Rec[];
  pickup?: boolean;
  fullName?: string;
  received?: boolean;
}

const RECEIVED = 'Received: from client.example (localhost [127.0.0.1])\n\tby oracle.example (Postfix) with ESMTP id 4ABCDE\n\tfor <rcpt@example.com>; Sat, 28 Nov 2026 20:16:40 +0000 (UTC)';

function lines(text: string): string[] {
  return text.split('\n');
}

/** The record stream of one message. */
export function message(o: MsgOpts = {}): Rec[] {
  const recs: Rec[] = [[REC_TYPE.TIME, ARRIVAL]];
  if (o.fullName !== undefined) recs.push([REC_TYPE.FULL, o.fullName]);
  if (!o.pickup) {
    for (const [k, v] of [
      ['log_client_name', 'localhost'],
      ['log_client_address', '127.0.0.1'],
      ['log_client_port', '40000'],
      ['log_message_origin', 'localhost[127.0.0.1]'],
      ['log_helo_name', 'client.example'],
      ['log_protocol_name', 'ESMTP'],
      ['client_name', 'localhost'],
      ['reverse_client_name', 'localhost'],
      ['client_address', '127.0.0.1'],
      ['client_port', '40000'],
      ['helo_name', 'client.example'],
      ['protocol_name', 'ESMTP'],
    ]) {
      recs.push([REC_TYPE.ATTR, `${k}=${v}`]);
    }
  }
  const ctx = o.context === undefined ? 'remote' : o.context;
  if (ctx !== null) recs.push([REC_TYPE.ATTR, `rewrite_context=${ctx}`]);
  recs.push(...(o.envelopeExtra ?? []));
  recs.push([REC_TYPE.FROM, o.sender ?? 'sender@example.org']);
  for (const r of o.recipients ?? ['rcpt@example.com']) {
    if (typeof r === 'string') {
      recs.push([REC_TYPE.RCPT, r]);
      continue;
    }
    if (r.orcpt) recs.push([REC_TYPE.ATTR, `dsn_orig_rcpt=${r.orcpt}`]);
    if (r.notify) recs.push([REC_TYPE.ATTR, `notify_flags=${r.notify}`]);
    if (r.o) recs.push([REC_TYPE.ORCP, r.o]);
    recs.push([REC_TYPE.RCPT, r.addr]);
  }
  recs.push([REC_TYPE.MESG, '']);
  const content = o.lines ?? lines('From: Sender <sender@example.org>\nTo: rcpt@example.com\nSubject: test\nDate: Sat, 28 Nov 2026 20:16:40 +0000\nMessage-ID: <m1@example.org>\n\nbody line 1\nbody line 2');
  if (o.received !== false) for (const l of lines(RECEIVED)) recs.push([REC_TYPE.NORM, l]);
  for (const l of content) pushLine(recs, l);
  recs.push([REC_TYPE.XTRA, '']);
  recs.push(...(o.extracted ?? []));
  return recs;
}

/** One content line as smtpd sends it: pieces of line_length_limit bytes as 'L', the rest as 'N'. */
function pushLine(recs: Rec[], l: string | Buffer): void {
  const buf = typeof l === 'string' ? Buffer.from(l, 'latin1') : l;
  let pos = 0;
  while (buf.length - pos > 2048) {
    recs.push([REC_TYPE.CONT, buf.subarray(pos, pos + 2048)]);
    pos += 2048;
  }
  recs.push([REC_TYPE.NORM, buf.subarray(pos)]);
}

const NOHDR_BODY = lines('\nbody only');

export const CASES: Case[] = [
  { name: 'complete message, remote context', records: message() },
  { name: 'no headers at all, remote context: nothing added', records: message({ lines: NOHDR_BODY }) },
  { name: 'no headers at all, local context: Message-Id, Date, From, To added', records: message({ context: 'local', lines: NOHDR_BODY }) },
  { name: 'no rewrite_context attribute (pickup): local', records: message({ context: null, pickup: true, lines: NOHDR_BODY }), flags: CLEANUP_FLAG.MASK_INTERNAL },
  { name: 'always_add_missing_headers, remote context', service: 'cleanup_add', records: message({ lines: NOHDR_BODY }) },
  { name: 'missing Message-ID only, local', records: message({ context: 'local', lines: lines('From: a@example.org\nTo: b@example.com\nDate: Sat, 28 Nov 2026 20:16:40 +0000\n\nx') }) },
  { name: 'missing Date only, local', records: message({ context: 'local', lines: lines('From: a@example.org\nTo: b@example.com\nMessage-ID: <x@y>\n\nx') }) },
  { name: 'missing From with full name, local', records: message({ context: 'local', fullName: 'Joe  Q. Public', lines: lines('To: b@example.com\n\nx') }) },
  { name: 'missing From with plain full name, local', records: message({ context: 'local', fullName: 'Joe Public', lines: lines('To: b@example.com\n\nx') }) },
  { name: 'null sender and missing From, local', records: message({ context: 'local', sender: '', lines: lines('To: b@example.com\n\nx') }) },
  { name: 'Cc only: no undisclosed header', records: message({ context: 'local', lines: lines('From: a@example.org\nCc: c@example.com\n\nx') }) },
  { name: 'Resent- headers, local', records: message({ context: 'local', lines: lines('From: a@example.org\nTo: b@example.com\nResent-From: r@example.org\nResent-To: t@example.com\n\nx') }) },
  { name: 'Bcc, Resent-Bcc, Return-Path and Content-Length dropped', records: message({ lines: lines('Return-Path: <x@y>\nFrom: a@example.org\nTo: b@example.com\nBcc: secret@example.com\nResent-Bcc: s2@example.com\nContent-Length: 12\nSubject: s\n\nx') }) },
  { name: 'long header line (5000 bytes)', records: message({ lines: [`Subject: ${'x'.repeat(5000)}`, 'From: a@example.org', '', 'b'] }) },
  { name: 'long body line (5000 bytes)', records: message({ lines: ['From: a@example.org', '', 'y'.repeat(5000), 'end'] }) },
  { name: 'folded header lines', records: message({ lines: lines('Subject: one\n two\n\tthree\nFrom: a@example.org\nX-Thing : spaced\n\nb') }) },
  { name: '8-bit header and body', records: message({ lines: [Buffer.from('Subject: caf\xe9', 'latin1'), 'From: a@example.org', '', Buffer.from('na\xefve \xe2\x82\xac', 'latin1')] }) },
  { name: 'headers only, no body', records: message({ lines: lines('From: a@example.org\nSubject: s') }) },
  { name: 'no content at all (so no Received: either)', records: message({ lines: [], received: false }) },
  { name: 'no Received: header', records: message({ received: false }) },
  { name: 'no recipients', records: message({ recipients: [] }), expectStatus: CLEANUP_STAT.RCPT },
  { name: 'duplicate recipients', records: message({ recipients: ['a@example.com', 'b@example.com', 'a@example.com', 'A@Example.COM'] }) },
  { name: 'DSN attributes', records: message({ envelopeExtra: [[REC_TYPE.ATTR, 'envelope_id=ENV123'], [REC_TYPE.ATTR, 'ret_flags=2']], recipients: [{ addr: 'a@example.com', notify: 6, orcpt: 'rfc822;A@example.com' }, { addr: 'b@example.com', notify: 1 }] }) },
  { name: 'original recipient record', records: message({ recipients: [{ addr: 'a@example.com', o: 'alias@example.com' }] }) },
  { name: 'unqualified sender and recipient', records: message({ sender: 'joe', recipients: ['bob'] }) },
  { name: 'unqualified header addresses, local context', records: message({ context: 'local', lines: lines('From: joe\nTo: bob, "Carol X" <carol>\nCc: dave (comment)\n\nx') }) },
  { name: 'hopcount exceeded', service: 'cleanup_hops', records: message({ lines: [...Array.from({ length: 6 }, (_, i) => `Received: by hop${i}.example`), 'From: a@example.org', '', 'x'] }), expectStatus: CLEANUP_STAT.HOPS },
  { name: 'message_size_limit exceeded', service: 'cleanup_small', records: message({ lines: ['From: a@example.org', '', ...Array.from({ length: 100 }, () => 'z'.repeat(70))] }), expectStatus: CLEANUP_STAT.SIZE },
  { name: 'delay_warning_time adds a W record', service: 'cleanup_warn', records: message() },
  { name: 'extracted recipients (sendmail -t)', flags: CLEANUP_FLAG.MASK_INTERNAL, records: message({ context: 'local', pickup: true, recipients: [], lines: lines('From: a@example.org\nTo: t1@example.com, t2@example.com\nCc: c1@example.com\nBcc: b1@example.com\n\nx'), extracted: [[REC_TYPE.RCPT, 't1@example.com'], [REC_TYPE.RCPT, 't2@example.com'], [REC_TYPE.RCPT, 'c1@example.com'], [REC_TYPE.RCPT, 'b1@example.com']] }) },
  { name: 'flags 0 (no mapping, no checks)', flags: 0, records: message() },
  { name: 'HOLD extra flag', records: message({ envelopeExtra: [[REC_TYPE.FLGS, String(CLEANUP_FLAG.HOLD)]] }) },
  { name: 'DISCARD extra flag', records: message({ envelopeExtra: [[REC_TYPE.FLGS, String(CLEANUP_FLAG.DISCARD)]] }), expectStatus: 0 },
  { name: 'garbage line in the headers', records: message({ lines: lines('From: a@example.org\nthis is not a header\nSubject: late\n\nb') }) },
  { name: 'MIME multipart with part headers', records: message({ lines: lines('From: a@example.org\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="BB"\n\npreamble\n--BB\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\npart one\n--BB--\nepilogue') }) },
  { name: 'Content-Transfer-Encoding 8bit in the primary headers', records: message({ lines: lines('From: a@example.org\nContent-Transfer-Encoding: 8bit\n\nb') }) },
  { name: 'encoding attribute from the client', records: message({ envelopeExtra: [[REC_TYPE.ATTR, 'encoding=8bit']] }) },
  { name: 'bare CR in a body line', records: message({ lines: ['From: a@example.org', '', 'a\rb', 'c\r'] }) },
  { name: 'empty attribute value', records: message({ envelopeExtra: [[REC_TYPE.ATTR, 'sasl_username=']] }) },
  { name: 'record type not allowed in the envelope', records: [[REC_TYPE.TIME, ARRIVAL], [REC_TYPE.FROM, 's@example.org'], [REC_TYPE.XTRA, '']], expectStatus: CLEANUP_STAT.BAD },
  { name: 'missing sender', records: [[REC_TYPE.TIME, ARRIVAL], [REC_TYPE.RCPT, 'r@example.com'], [REC_TYPE.MESG, ''], [REC_TYPE.XTRA, '']], expectStatus: CLEANUP_STAT.BAD },
  { name: 'canonical, masquerade, virtual alias, always_bcc', service: 'cleanup_map', records: message({ sender: 'joe@example.org', recipients: ['virt@example.com', 'self@example.com', 'user@host.sub.example.net', 'x1@example.com'], context: 'local', lines: lines('From: joe@example.org\nTo: user@host.sub.example.net\n\nx') }) },
  { name: 'mapping off without MAP_OK', service: 'cleanup_map', flags: CLEANUP_FLAG.FILTER, records: message({ sender: 'joe@example.org', recipients: ['virt@example.com'] }) },
  ...['X-Reject: 1', 'X-Defer: 1', 'X-Drop: 1', 'X-Prepend: 1', 'X-Replace: old', 'X-Hold: 1', 'X-Discard: 1', 'X-Filter: 1', 'X-Redirect: 1', 'X-Bcc: 1', 'X-Warn: 1'].map(
    (h): Case => ({ name: `header_checks: ${h}`, service: 'cleanup_hbc', records: message({ lines: ['From: a@example.org', h, 'Subject: s', '', 'body'] }) }),
  ),
  ...['BODY-REJECT', 'BODY-DROP', 'BODY-REPLACE'].map(
    (b): Case => ({ name: `body_checks: ${b}`, service: 'cleanup_hbc', records: message({ lines: ['From: a@example.org', '', 'first', b, 'last'] }) }),
  ),
  { name: 'enable_original_recipient = no', service: 'cleanup_noorcpt', records: message({ recipients: [{ addr: 'a@example.com', o: 'one@example.com' }, { addr: 'a@example.com', o: 'two@example.com' }, 'b@example.com'] }) },
  { name: 'duplicates with different original recipients', records: message({ recipients: [{ addr: 'a@example.com', o: 'one@example.com' }, { addr: 'a@example.com', o: 'two@example.com' }, { addr: 'a@example.com', o: 'one@example.com' }] }) },
  { name: 'header_from_format = obsolete', service: 'cleanup_obs', records: message({ context: 'local', fullName: 'Joe (the) Public', lines: lines('To: b@example.com\n\nx') }) },
  { name: 'full name with specials, standard format', records: message({ context: 'local', fullName: 'Public, Joe Q.', lines: lines('To: b@example.com\n\nx') }) },
  { name: 'SMTPUTF8 autodetect with 8-bit header and sender', flags: CLEANUP_FLAG.MASK_EXTERNAL | CLEANUP_FLAG.AUTOUTF8, records: message({ sender: 'jos\xc3\xa9@example.org', lines: [Buffer.from('Subject: caf\xc3\xa9', 'latin1'), '', 'x'] }) },
  { name: 'SMTPUTF8 requested by the client', flags: CLEANUP_FLAG.MASK_EXTERNAL | CLEANUP_FLAG.SMTPUTF8, records: message() },
  { name: 'mbox From_ line first', records: message({ received: false, lines: lines('From sender@example.org Sat Nov 28 20:16:40 2026\nReceived: by x\nSubject: s\n\nb') }) },
  { name: 'Resent- headers with always_add_missing_headers', service: 'cleanup_add', records: message({ lines: lines('From: a@example.org\nResent-From: r@example.org\n\nx') }) },
  { name: 'header_size_limit: long folded header cut at a line boundary', service: 'cleanup_hdr', records: message({ lines: ['From: a@example.org', 'X-Long: start', ...Array.from({ length: 40 }, (_, i) => `\tcontinued line ${i} ${'w'.repeat(30)}`), 'Subject: after', '', 'b'] }) },
  { name: 'header_size_limit: one long line cut', service: 'cleanup_hdr', records: message({ lines: ['From: a@example.org', `X-Long: ${'v'.repeat(3000)}`, 'Subject: after', '', 'b'] }) },
  { name: 'VERP delimiters', records: message({ envelopeExtra: [[REC_TYPE.VERP, '+=']] }) },
  { name: 'bad VERP delimiters ignored', records: message({ envelopeExtra: [[REC_TYPE.VERP, 'xy']] }) },
  { name: 'large message (about 300 KB) and many recipients', records: message({ recipients: Array.from({ length: 300 }, (_, i) => `r${i}@example.com`), lines: ['From: a@example.org', '', ...Array.from({ length: 4000 }, (_, i) => `line ${i} ${'q'.repeat(70)}`)] }) },
  { name: 'header_checks off without FILTER', service: 'cleanup_hbc', flags: CLEANUP_FLAG.MAP_OK, records: message({ lines: ['From: a@example.org', 'X-Reject: 1', '', 'BODY-REJECT'] }) },
];

