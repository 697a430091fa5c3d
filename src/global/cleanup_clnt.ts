/*
 * cleanup_clnt - client side of the cleanup(8) protocol (smtpd, pickup, qmqpd)
 *
 * What it does: cleanupOpen() connects to the cleanup service (by default
 * queue_directory/public/cleanup, where Postfix's master.cf puts it with
 * private=n), checks the announcement "protocol=cleanup_protocol" plus the
 * new queue_id in the same list, and sends the client's processing flags
 * (CLEANUP_FLAG bits) as one attribute list. After that the client writes
 * raw queue file records (record.ts: type byte, base-128 length, payload),
 * in the order Postfix's smtpd/pickup/qmqpd do: REC_TYPE.TIME, named
 * attributes (REC_TYPE.ATTR "name=value"), REC_TYPE.FROM, recipients
 * (REC_TYPE.ORCP / DSN records / REC_TYPE.RCPT), REC_TYPE.MESG, content as
 * REC_TYPE.NORM / REC_TYPE.CONT records, REC_TYPE.XTRA, extracted records,
 * and end() sends REC_TYPE.END and reads the one reply list: status
 * (CLEANUP_STAT bits) and reason (text; with CLEANUP_FLAG.SMTP_REPLY it may
 * be a whole SMTP reply).
 *
 * CLEANUP_PROTOCOL is the typed declaration both ends share: greeting
 * queue_id, request flags, reply status + reason.
 *
 * What it does not do: decide which records to write (the caller does),
 * split long lines (the caller's line reader does, as smtpd's smtp_get),
 * or log: failures come back as values for the caller to report.
 *
 * DIAGNOSTICS
 * cleanupOpen() resolves { ok: false, reason } when the service cannot be
 * reached or announces something else. record() after an error is a no-op;
 * drain() and end() never throw: a lost connection, a write or read
 * timeout or a malformed reply gives status CLEANUP_STAT.WRITE with a
 * reason naming the problem.
 */
import { attr } from '../util/attr0_scan.js';
import { type Attr0Stream } from '../util/attr0_stream.js';
import { CLEANUP_STAT } from './cleanup_user.js';
import { type Endpoint, DEF_IPC_TIMEOUT_MS, endpointLabel, openAttrStream } from './ipc/attr_clnt.js';
import { defineProtocol } from './ipc/protocol.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_CLASS, MAIL_SERVICE, mailPathname } from './mail_proto.js';
import { REC_TYPE } from './rec_type.js';
import { encodeRecord } from './record.js';

/** Longest reason text accepted in cleanup's reply. */
export const CLEANUP_REASON_MAX = 4096;

/**
 * The cleanup protocol's attribute lists. After the request (flags) the
 * client sends raw records, not attribute lists; the reply comes after
 * the client's REC_TYPE.END record.
 */
export const CLEANUP_PROTOCOL = defineProtocol({
  name: MAIL_ATTR_PROTO.CLEANUP,
  greeting: { [MAIL_ATTR.QUEUEID]: attr.str({ maxBytes: 100 }) },
  request: { [MAIL_ATTR.FLAGS]: attr.int() },
  reply: {
    [MAIL_ATTR.STATUS]: attr.int(),
    [MAIL_ATTR.WHY]: attr.str({ maxBytes: CLEANUP_REASON_MAX }),
  },
});

/** Buffered record bytes beyond which record() callers should await drain(). */
export const CLEANUP_CLNT_BUFFER = 64 * 1024;

export interface CleanupOpenOptions {
  queueDir: string;
  flags: number;
  /** Service name under queue_directory/public (default 'cleanup'). */
  service?: string;
  /** Overrides the socket path (tests, in-process). */
  endpoint?: Endpoint;
  /** Bound on connect, the announcement, each write and the reply (default ipc_timeout 3600s). */
  timeoutMs?: number;
}

export type CleanupOpenResult = { ok: true; session: CleanupSession } | { ok: false; reason: string };

export interface CleanupReply {
  status: number;
  reason: string;
}

/** Opens a cleanup session: the queue id is known as soon as this resolves. */
export async function cleanupOpen(opts: CleanupOpenOptions): Promise<CleanupOpenResult> {
  const endpoint = opts.endpoint ?? mailPathname(opts.queueDir, MAIL_CLASS.PUBLIC, opts.service ?? MAIL_SERVICE.CLEANUP);
  const timeoutMs = opts.timeoutMs ?? DEF_IPC_TIMEOUT_MS;
  const r = await openAttrStream(CLEANUP_PROTOCOL, endpoint, timeoutMs);
  if (!r.ok) return { ok: false, reason: r.message };
  const queueId = r.greeting?.[MAIL_ATTR.QUEUEID] ?? '';
  if (!queueId) {
    r.io.destroy();
    return { ok: false, reason: `${endpointLabel(endpoint)}: empty queue_id in announcement` };
  }
  const session = new CleanupSession(r.io, queueId, endpointLabel(endpoint), timeoutMs);
  session.writeRaw(CLEANUP_PROTOCOL.encodeRequest({ [MAIL_ATTR.FLAGS]: opts.flags }));
  return { ok: true, session };
}

export class CleanupSession {
  readonly queueId: string;
  readonly label: string;
  #io: Attr0Stream;
  #timeoutMs: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #error: string | null = null;
  #done = false;

  constructor(io: Attr0Stream, queueId: string, label: string, timeoutMs: number) {
    this.#io = io;
    this.queueId = queueId;
    this.label = label;
    this.#timeoutMs = timeoutMs;
  }

  /** Bytes buffered and not yet handed to the socket. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /** The first write/connection problem, if any. */
  get error(): string | null {
    return this.#error;
  }

  /** Queues bytes already in wire form (used for the flags list). */
  writeRaw(bytes: Buffer): void {
    if (this.#error || this.#done) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
  }

  /** Queues one record. Strings are sent as UTF-8; pass a Buffer for raw 8-bit bytes. */
  record(type: number, data: string | Buffer): void {
    this.writeRaw(encodeRecord(type, data));
  }

  /** Queues a named attribute record (REC_TYPE.ATTR "name=value"). */
  attr(name: string, value: string): void {
    this.record(REC_TYPE.ATTR, `${name}=${value}`);
  }

  /** Hands buffered records to the socket and waits for it to accept them. */
  async drain(): Promise<void> {
    if (this.#error || this.#pending.length === 0) return;
    const bytes = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    const ok = await this.#io.writeBytes(bytes, this.#timeoutMs);
    if (!ok && !this.#error) {
      this.#error = this.#io.writeTimedOut
        ? `${this.label}: write timeout after ${this.#timeoutMs} ms`
        : `${this.label}: write error: connection closed`;
    }
  }

  /** Sends REC_TYPE.END and returns cleanup's status and reason. */
  async end(): Promise<CleanupReply> {
    if (this.#done) return { status: CLEANUP_STAT.WRITE, reason: `${this.label}: session already ended` };
    this.record(REC_TYPE.END, '');
    await this.drain();
    this.#done = true;
    if (this.#error) {
      this.#io.destroy();
      return { status: CLEANUP_STAT.WRITE, reason: this.#error };
    }
    const r = await this.#io.readFrame(this.#timeoutMs);
    if (!r.ok) {
      this.#io.destroy();
      return { status: CLEANUP_STAT.WRITE, reason: `${this.label}: reading reply: ${r.message}` };
    }
    const reply = CLEANUP_PROTOCOL.decodeReply(r.frame);
    this.#io.end();
    this.#io.destroy();
    if (!reply.ok) return { status: CLEANUP_STAT.WRITE, reason: `${this.label}: malformed reply: ${reply.message}` };
    return { status: reply.value[MAIL_ATTR.STATUS], reason: reply.value[MAIL_ATTR.WHY] };
  }

  /** Drops the connection: cleanup removes its queue file. */
  abort(): void {
    this.#done = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#io.destroy();
  }
}
