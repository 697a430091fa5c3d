/*
 * cleanup - canonicalize and enqueue mail (Postfix cleanup(8))
 *
 * What it does: every message that enters the mail system passes
 * through here. For each client (smtpd, pickup, qmqpd, ...) it creates
 * a file in the incoming queue, announces "protocol=cleanup_protocol"
 * with the new queue_id, reads the client's processing flags
 * (CLEANUP_FLAG), then reads queue file records (record.ts) and runs
 * them through the envelope, message content and extracted segments
 * (cleanup_envelope.ts, cleanup_message.ts, cleanup_extracted.ts) until
 * the 'E' record; after an error it keeps reading (and discarding) until
 * 'E'. It then finishes the file (cleanup_api.ts: size record, hold,
 * fsync, ready mode, qmgr trigger; or removal) and replies with status
 * (CLEANUP_STAT bits) and reason. The client learns that the message is
 * safe only after the fsync.
 *
 * main() runs it under master(8) as a single server (master.cf:
 * "cleanup unix n - n - 0 cleanup", i.e. queue_directory/public/cleanup);
 * one process serves many clients concurrently. cleanupService(config)
 * gives the same service for a stream in this process (createMailServer,
 * co-located daemons, tests); its endpoint() is an Endpoint for
 * cleanupOpen() that reaches the service without a socket.
 *
 * PROTOCOL
 * The server announces: protocol = cleanup_protocol, queue_id (one list).
 * The client sends: flags (int). Then raw records; after the client's 'E'
 * record the server sends: status (int), reason (str).
 *
 * What it does not do: bounce mail for CLEANUP_FLAG.BOUNCE clients (no
 * bounce service yet), milters.
 *
 * DIAGNOSTICS
 * Postfix's warnings ("QUEUEID: message rejected: ...", "record type N
 * not allowed - discarding this message", "read timeout on ...");
 * "QUEUEID: unexpected end of input from client" when a client goes
 * away; a queue file that cannot be created closes the connection with
 * a warning.
 */
import type { Duplex } from 'node:stream';
import { CLEANUP_PROTOCOL } from '../global/cleanup_clnt.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import { createDuplexPair } from '../global/ipc/attr_inproc.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { REC_TYPE } from '../global/rec_type.js';
import { RecordStreamDecoder } from '../global/record.js';
import { singleServerMain } from '../master/mail_server.js';
import { decodeAttr0 } from '../util/attr0.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { clog } from './cleanup_log.js';
import { type CleanupAddrDeps, cleanupAddrInit } from './cleanup_addr.js';
import { type CleanupApiOptions, cleanupAbort, cleanupFlush, cleanupOpenState } from './cleanup_api.js';
import { CleanupChecks } from './cleanup_checks.js';
import { cleanupEnvelopeRecord, cleanupEnvelopeStart } from './cleanup_envelope.js';
import { cleanupExtractedRecord, cleanupExtractedStart } from './cleanup_extracted.js';
import { CleanupMessage } from './cleanup_message.js';
import { cleanupAddrHooks } from './cleanup_out_recipient.js';
import { localAddrRewriter } from './cleanup_rewrite.js';
import { CLEANUP_MAX_RECORD, CleanupParams, type CleanupState } from './cleanup_state.js';
import { ChunkReader } from './cleanup_input.js';
import { MAIL_STREAM_BUFFER_SIZE } from '../global/mail_stream.js';

/** The flags list is tiny; anything longer before its end is garbage. */
export const CLEANUP_FLAGS_LIST_MAX = 1024;

export interface CleanupServiceOptions extends CleanupApiOptions {
  /** Address processing dependencies (default: in-process rewriting, no tables). */
  addr?: CleanupAddrDeps;
  /** Content inspection (default: built from main.cf). */
  checks?: CleanupChecks | null;
}

export interface CleanupService {
  readonly params: CleanupParams;
  /** Serves one client stream to its end. Never throws for client behaviour. */
  serve(stream: Duplex): Promise<void>;
  /** An Endpoint for cleanupOpen() that reaches this service in this process (no socket). */
  endpoint(): Endpoint;
}

/** Address processing dependencies for a configuration. */
export function cleanupAddrDepsFor(config: MailConfig): CleanupAddrDeps {
  return cleanupAddrInit(config, localAddrRewriter(config));
}

/** End of the first attr0 list (flags) in buf, or -1 when incomplete. */
function attrListEnd(buf: Buffer): number {
  let pos = 0;
  for (;;) {
    const nameEnd = buf.indexOf(0, pos);
    if (nameEnd < 0) return -1;
    if (nameEnd === pos) return pos + 1;
    const valueEnd = buf.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) return -1;
    pos = valueEnd + 1;
  }
}

/** Postfix REC_GET_HIDDEN_TYPE(): records a client may never send. */
function hiddenType(type: number): boolean {
  return type === REC_TYPE.DTXT || type === REC_TYPE.PTR;
}

type Phase = 'init' | 'envelope' | 'message-start' | 'message' | 'extracted-start' | 'extracted' | 'end';

/** The cleanup service for one configuration. */
export function cleanupService(config: MailConfig, opts: CleanupServiceOptions = {}): CleanupService {
  const params = new CleanupParams(config);
  const addr = opts.addr ?? cleanupAddrDepsFor(config);
  const checks = opts.checks === undefined ? new CleanupChecks(config) : opts.checks;

  async function serve(stream: Duplex): Promise<void> {
    let state: CleanupState;
    try {
      state = await cleanupOpenState(params, opts);
    } catch (err) {
      clog.warn(`cleanup: cannot create queue file: ${err instanceof Error ? err.message : String(err)}`);
      stream.destroy();
      return;
    }
    const input = new ChunkReader(stream, params.ipcTimeoutMs);
    let finished = false;
    try {
      // As Postfix: a client that cannot hear the announcement may still have sent a whole message.
      await input.write(CLEANUP_PROTOCOL.announcement({ [MAIL_ATTR.QUEUEID]: state.queueId })).catch(() => undefined);
      finished = await readMessage(state, input);
    } catch (err) {
      clog.warn(`${state.queueId}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!finished) {
      await cleanupAbort(state);
      stream.destroy();
      return;
    }
    // From here on the file may be committed: never remove it because the client went away.
    const status = await cleanupFlush(state, opts);
    const reason = state.flags & CLEANUP_FLAG.SMTP_REPLY && state.smtpReply ? state.smtpReply : (state.reason ?? '');
    try {
      await input.write(CLEANUP_PROTOCOL.encodeReply({ [MAIL_ATTR.STATUS]: status, [MAIL_ATTR.WHY]: reason }));
      input.end();
    } catch (err) {
      clog.warn(`${state.queueId}: cannot send status to client: ${err instanceof Error ? err.message : String(err)}`);
      stream.destroy();
    }
  }

  /** Reads flags and records up to 'E'. False when the client went away. */
  async function readMessage(state: CleanupState, input: ChunkReader): Promise<boolean> {
    // The flags list.
    let head = Buffer.alloc(0);
    let end = -1;
    while ((end = attrListEnd(head)) < 0) {
      if (head.length > CLEANUP_FLAGS_LIST_MAX) break;
      const chunk = await input.read();
      if (chunk === null) return false;
      head = Buffer.concat([head, chunk]);
    }
    const frame = end > 0 ? decodeAttr0(head.subarray(0, end)).frames[0] : undefined;
    const req = frame ? CLEANUP_PROTOCOL.decodeRequest(frame) : null;
    if (req && req.ok) state.control(req.value[MAIL_ATTR.FLAGS]);
    else {
      state.errs |= CLEANUP_STAT.BAD;
      state.control(0);
    }
    const decoder = new RecordStreamDecoder(Math.max(CLEANUP_MAX_RECORD, params.lineLimit, params.headerSizeLimit));
    if (end > 0) decoder.push(head.subarray(end));
    else decoder.push(head);

    const hooks = cleanupAddrHooks(addr);
    let phase: Phase = 'init';
    let message: CleanupMessage | null = null;
    let processing = true;
    for (;;) {
      const r = decoder.next();
      if (r.kind === 'partial') {
        const chunk = await input.read();
        if (chunk === null) {
          if (input.timedOut) clog.warn(`${state.queueId}: read timeout on ${input.label}`);
          return false;
        }
        decoder.push(chunk);
        continue;
      }
      if (r.kind === 'error') {
        clog.warn(`${state.queueId}: ${r.message}`);
        return false;
      }
      const { type, data } = r;
      if (processing && hiddenType(type)) {
        clog.warn(`${state.queueId}: record type ${type} not allowed - discarding this message`);
        state.errs |= CLEANUP_STAT.BAD;
        processing = false;
      }
      if (processing && state.outOk()) {
        if (phase === 'init') {
          cleanupEnvelopeStart(state);
          phase = 'envelope';
        }
        if (phase === 'envelope') {
          if ((await cleanupEnvelopeRecord(state, hooks, type, data)) === 'message') phase = 'message-start';
        } else if (phase === 'message-start' || phase === 'message') {
          if (phase === 'message-start') {
            message = new CleanupMessage(state, { addr, checks });
            phase = 'message';
          }
          if ((await message!.record(type, data)) === 'extracted') phase = 'extracted-start';
        } else if (phase === 'extracted-start' || phase === 'extracted') {
          if (phase === 'extracted-start') {
            cleanupExtractedStart(state);
            phase = 'extracted';
          }
          if ((await cleanupExtractedRecord(state, hooks, type, data)) === 'end') phase = 'end';
        }
        if (state.out.buffered >= MAIL_STREAM_BUFFER_SIZE) await state.out.flush();
      } else {
        processing = false;
      }
      if (type === REC_TYPE.END) return true;
    }
  }

  const endpoint = (): Endpoint => ({
    label: 'in-process cleanup',
    connect(): Duplex {
      const [client, server] = createDuplexPair();
      void serve(server);
      return client;
    },
  });

  return { params, serve, endpoint };
}

export async function main(argv: string[]): Promise<number> {
  let service: CleanupService | null = null;
  return singleServerMain(argv, {
    programName: 'cleanup',
    preInit(ctx) {
      service = cleanupService(ctx.config);
    },
    async service(stream) {
      await service!.serve(stream);
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
