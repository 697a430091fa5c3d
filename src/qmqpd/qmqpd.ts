/*
 * qmqpd - the QMQP server (Postfix qmqpd(8), QMQP_README)
 *
 * What it does: a single server (master.cf "628 inet n - n - - qmqpd")
 * that takes one QMQP request per connection: one netstring holding the
 * message content netstring, the sender netstring and recipient
 * netstrings. It checks qmqpd_authorized_clients (a namadr list; empty
 * by default: nobody) against the client's verified name and address,
 * opens a cleanup session, and writes what Postfix's qmqpd writes: the
 * arrival time, a content_filter record, the sender ('S'; a sender
 * "prefix@origin-@[]" asks for VERP: sender "prefix@origin" and VERP
 * delimiters "x=" where x is the character before '@', checked against
 * verp_delimiter_filter), the log_* and client attributes, each
 * recipient ('R'), then the content: a Received: header ("for <rcpt>"
 * only with one recipient), leading "From " lines as X-Mailbox-Line:
 * headers, an empty line when the content starts with white space, lines
 * as 'N' records and pieces of line_length_limit or an unterminated end
 * as 'L'. The reply is a netstring: 'K' + "Ok: queued as ID", 'Z' (try
 * again) or 'D' (hard; 'Z' under soft_bounce) with Postfix's texts,
 * after qmqpd_error_delay for anything but 'K'. qmqpd_timeout bounds
 * every read; the content may be up to message_size_limit, addresses up
 * to line_length_limit. qmqpdService() serves one connected stream (the
 * same code runs under master and in-process in tests).
 *
 * What it does not do: more than one request per connection (neither
 * does Postfix), or wait for a cleanup service that is down: it logs a
 * warning and drops the connection (Postfix's qmqpd dies with a fatal
 * error, which the client sees the same way).
 *
 * DIAGNOSTICS
 * Logs "connect from", "QUEUEID: client=NAMADDR", rejects as warnings
 * "QUEUEID: NAMADDR: Error: ...", "QUEUEID: NAMADDR: REASON while WHERE"
 * for netstring errors, timeouts and lost connections, "disconnect from".
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { cleanupOpen } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { inputTranspCleanup, inputTranspMask } from '../global/input_transp.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { MailConfig } from '../global/mail_conf.js';
import { REC_TYPE } from '../global/rec_type.js';
import { namadrListFromConfig, namadrListMatch, type NamadrList } from '../global/namadr_list.js';
import { singleServerMain, type ServiceContext } from '../master/mail_server.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgInfo, msgWarn } from '../util/msg.js';
import { encodeNetstring, NetstringError, NetstringReader } from './qmqpd_netstring.js';
import { qmqpdPeer, type QmqpdPeer } from './qmqpd_peer.js';
import { QMQPD_STAT, qmqpdStatusReply, writeQmqpContent, writeQmqpSender, type QmqpSession } from './qmqpd_state.js';

const NETSTRING_REASON: Record<string, string> = {
  eof: 'lost connection',
  time: 'read/write timeout',
  format: 'netstring format error',
  size: 'netstring length exceeds storage limit',
};

export interface QmqpdOptions {
  /** Tests: the cleanup endpoint. */
  cleanupEndpoint?: Endpoint;
  /** Tests: the peer, when the stream is no socket. */
  peer?: QmqpdPeer;
  /** Tests: the client list (default: qmqpd_authorized_clients). */
  clients?: NamadrList;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Serves one QMQP client on `stream`. */
export async function qmqpdService(stream: Duplex, config: MailConfig, opts: QmqpdOptions = {}): Promise<void> {
  const sock = stream as Partial<Socket>;
  const arrival = Date.now();
  // Take the stream over before anything else: under master it arrives flowing.
  const timeoutMs = config.getTime('qmqpd_timeout') * 1000;
  const reader = new NetstringReader(stream, timeoutMs);
  const peer = opts.peer ?? (await qmqpdPeer(sock.remoteAddress, sock.remotePort, config.getBool('qmqpd_client_port_logging')));
  msgInfo(`connect from ${peer.namaddr}`);
  const clients = opts.clients ?? namadrListFromConfig(config, 'qmqpd_authorized_clients');
  const errorDelayMs = config.getTime('qmqpd_error_delay') * 1000;
  const s: QmqpSession = { config, peer, queueId: null, where: null, err: CLEANUP_STAT.OK, whyRejected: '', arrival, sender: '', recipient: null, rcptCount: 0 };
  const reply = async (log: boolean, code: string, text: string): Promise<void> => {
    let status = code;
    if (status === QMQPD_STAT.HARD && config.getBool('soft_bounce')) status = QMQPD_STAT.RETRY;
    if (log) (status === QMQPD_STAT.OK ? msgInfo : msgWarn)(`${s.queueId}: ${peer.namaddr}: ${text}`);
    if (status !== QMQPD_STAT.OK) await sleep(errorDelayMs);
    if (!stream.destroyed) await new Promise<void>((r) => stream.write(encodeNetstring(status + text), () => r()));
  };
  let reason: string | null = null;
  try {
    if (!namadrListMatch(clients, peer.name, peer.addr)) {
      await reply(false, QMQPD_STAT.HARD, `Error: ${peer.namaddr} is not authorized to use this service`);
    } else {
      await receive(s, reader, reply, opts);
    }
  } catch (err) {
    if (!(err instanceof NetstringError)) throw err;
    reason = NETSTRING_REASON[err.kind]!;
    if ((err.kind === 'format' || err.kind === 'size') && s.where) {
      await reply(false, QMQPD_STAT.HARD, `${reason} while ${s.where}`).catch(() => {});
    }
  } finally {
    s.abort?.();
  }
  if (reason && s.where) msgInfo(`${s.queueId ?? 'NOQUEUE'}: ${peer.namaddr}: ${reason} while ${s.where}`);
  msgInfo(`disconnect from ${peer.namaddr}`);
}

async function receive(s: QmqpSession, reader: NetstringReader, reply: (log: boolean, code: string, text: string) => Promise<void>, opts: QmqpdOptions): Promise<void> {
  const config = s.config;
  const flags = inputTranspCleanup(CLEANUP_FLAG.MASK_EXTERNAL, inputTranspMask(config));
  const opened = await cleanupOpen({
    queueDir: config.get('queue_directory'),
    flags,
    service: config.get('cleanup_service_name'),
    endpoint: opts.cleanupEndpoint,
    timeoutMs: config.getTime('ipc_timeout') * 1000,
  });
  if (!opened.ok) {
    msgWarn(`unable to connect to the public ${config.get('cleanup_service_name')} service: ${opened.reason}`);
    return;
  }
  const cleanup = opened.session;
  s.abort = () => cleanup.abort();
  s.queueId = cleanup.queueId;
  msgInfo(`${s.queueId}: client=${s.peer.namaddr}`);
  const sec = Math.floor(s.arrival / 1000);
  cleanup.record(REC_TYPE.TIME, `${sec} ${(s.arrival % 1000) * 1000}`);
  const filter = config.get('content_filter');
  if (filter !== '') cleanup.record(REC_TYPE.FILT, filter);

  s.where = 'receiving QMQP packet header';
  await reader.getLength();
  s.where = 'receiving message content';
  const message = await reader.get(config.getInt('message_size_limit'));
  s.where = 'receiving sender address';
  const lineLimit = config.getInt('line_length_limit');
  writeQmqpSender(s, cleanup, await reader.get(lineLimit));
  s.where = 'receiving recipient address';
  for (;;) {
    const ch = await reader.getc();
    if (ch === 0x2c) break;
    reader.ungetc(ch);
    const rcpt = await reader.get(lineLimit);
    if (s.err === CLEANUP_STAT.OK) cleanup.record(REC_TYPE.RCPT, rcpt);
    s.rcptCount++;
    if (s.recipient === null) s.recipient = rcpt.toString('latin1');
    if (cleanup.buffered > 64 * 1024) await cleanup.drain();
  }
  if (s.err === CLEANUP_STAT.OK) writeQmqpContent(s, cleanup, message);
  if (s.err === CLEANUP_STAT.OK) {
    cleanup.record(REC_TYPE.XTRA, '');
    const r = await cleanup.end();
    s.err = r.status;
    s.whyRejected = r.reason;
  } else {
    cleanup.abort();
  }
  s.where = 'sending completion status';
  const [log, code, text] = qmqpdStatusReply(s);
  await reply(log, code, text);
}

export async function main(argv: string[]): Promise<number> {
  let clients: NamadrList | undefined;
  return singleServerMain(argv, {
    programName: 'qmqpd',
    preInit(ctx) {
      clients = namadrListFromConfig(ctx.config, 'qmqpd_authorized_clients');
    },
    async service(stream: Socket, ctx: ServiceContext) {
      await qmqpdService(stream, ctx.config, { clients });
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
