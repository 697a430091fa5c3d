/*
 * delivery_agent - the skeleton of every delivery agent (Postfix deliver_request_read/done + single_server)
 *
 * What it does: deliveryAgentMain() runs an agent (smtp, lmtp, local,
 * virtual, pipe, discard, error) as a single server under master: one
 * delivery request per connection, as Postfix agents. For each connection
 * serveDeliveryConnection():
 *   1. announces protocol=delivery_request_protocol (qmgr waits for it
 *      before it sends anything);
 *   2. reads the request (deliver_request.ts), each list bounded by
 *      ipc_timeout; a client that hangs up first is not an error;
 *   3. checks the queue name and id and that the queue file exists and is
 *      a finished queue file (mail_open_ok), stamps agentHandoff;
 *   4. calls the agent's deliver(req, ctx), which reports each recipient
 *      with sent()/bounceAppend()/deferAppend() and crosses off with
 *      deliverCompleted() (ctx.completed) after a 0;
 *   5. writes the reply (status plus hop DSN) and waits, bounded, for qmgr
 *      to close first (Postfix does the same).
 * A request that does not fit gets a DEFER reply without hop status and
 * a warning; a queue file that is gone or not finished a silent DEFER, as
 * Postfix; one that cannot be opened read-write a warning and DEFER with
 * the 4.3.0 hop status (Postfix's agent would die there). A deliver() that
 * throws does not end the process: the error is logged as a warning and
 * qmgr gets DEFER with a 4.3.0 hop DSN "unknown mail transport error" (so
 * it backs off the destination; the recipients stay in the queue file).
 *
 * DeliveryContext = the server context plus queueDir, queueFilePath(req),
 * status (the StatusContext for sent/bounceAppend/deferAppend) and
 * completed(req, rcpt) (deliver_completed for the request's queue file).
 *
 * Layering: this file is in src/global, below the server skeletons of
 * src/master, so the agent's main hands its skeleton in
 * (deliveryAgentMain(argv, { skeleton: singleServerMain, ... })) and the
 * context type is declared here structurally.
 *
 * What it does not do: deliver anything (the agents), read the message
 * content (agents read from ctx.queueFilePath(req) at req.dataOffset),
 * lock the queue file (Node has no flock; qmgr never hands out a file
 * twice), or talk to the bounce service directly (sent.ts, bounce.ts, ...).
 *
 * DIAGNOSTICS
 * Warnings as Postfix's deliver_request_get: "error receiving common
 * attributes", "error receiving recipient attributes", "no recipients in
 * delivery request for destination X", "open QUEUE ID: <error>";
 * "QUEUEID: delivery agent failure: ..." for a throwing deliver().
 */
import { closeSync, openSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Attr0Stream } from '../util/attr0_stream.js';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { deliverCompleted } from './deliver_completed.js';
import {
  DEL_STAT,
  type DeliverReply,
  type DeliverRequest,
  DELIVER_FRAME_LIMITS,
  encodeDeliverAnnouncement,
  readDeliverRequest,
  writeDeliverReply,
} from './deliver_request.js';
import { dsnMake } from './dsn.js';
import type { Endpoint } from './ipc/attr_clnt.js';
import type { StatusContext } from './log_adhoc.js';
import type { MailConfig } from './mail_conf.js';
import { mailOpenOk } from './mail_open_ok.js';
import { queuePath, splitQueueNames, type QueueHashOptions } from './mail_queue.js';
import type { Recipient } from './recipient_list.js';

/** What the server skeleton gives a service (structurally src/master/mail_server.ts ServiceContext). */
export interface AgentServiceContext {
  readonly config: MailConfig;
  readonly serviceName: string;
  readonly serviceType: string;
  readonly programName: string;
  readonly args: readonly string[];
  readonly signal: AbortSignal;
}

export interface DeliveryContext extends AgentServiceContext {
  /** queue_directory. */
  readonly queueDir: string;
  /** For sent()/bounceAppend()/deferAppend()/traceAppend(). */
  readonly status: StatusContext;
  /** queue_directory/<queue_name>/[hash/]<queue_id>. */
  queueFilePath(req: DeliverRequest): string;
  /** Crosses a recipient off in the request's queue file (after sent()/bounceAppend() returned 0); 0 ok, -1 failed (warned). */
  completed(req: DeliverRequest, rcpt: Recipient): Promise<number>;
}

export type DeliverFn = (req: DeliverRequest, ctx: DeliveryContext) => Promise<DeliverReply>;

export interface DeliveryAgentOptions {
  /** The server skeleton the agent runs in: src/master/mail_server.ts singleServerMain. */
  skeleton: SingleServerMain;
  programName: string;
  preInit?(ctx: AgentServiceContext): void | Promise<void>;
  deliver(req: DeliverRequest, ctx: DeliveryContext): Promise<DeliverReply>;
}

/** Extra knobs for in-process use (tests): where the bounce/defer/trace/flush services are. */
export interface DeliveryServeOptions {
  endpoint?: (service: string) => Endpoint;
  /** Override queue_directory. */
  queueDir?: string;
}

/** How long the agent waits for qmgr to close after the reply (Postfix waits up to ipc_timeout). */
export const DELIVER_CLOSE_WAIT_MS = 10_000;

/** The hop reason for a deliver() that threw (Postfix qmgr's text for a crashed agent). */
export const AGENT_FAILURE_REASON = 'unknown mail transport error';

export function hashOptionsOf(config: MailConfig): QueueHashOptions {
  return { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
}

/** The DeliveryContext for a server context. */
export function makeDeliveryContext(base: AgentServiceContext, opts: DeliveryServeOptions = {}): DeliveryContext {
  const queueDir = opts.queueDir ?? base.config.get('queue_directory');
  const hash = hashOptionsOf(base.config);
  const status: StatusContext = { config: base.config, queueDir, program: base.programName };
  if (opts.endpoint) status.endpoint = opts.endpoint;
  const pathOf = (req: DeliverRequest): string => queuePath(queueDir, req.queueName, req.queueId, hash);
  return {
    config: base.config,
    serviceName: base.serviceName,
    serviceType: base.serviceType,
    programName: base.programName,
    args: base.args,
    signal: base.signal,
    queueDir,
    status,
    queueFilePath: pathOf,
    async completed(req: DeliverRequest, rcpt: Recipient): Promise<number> {
      const r = await deliverCompleted(pathOf(req), rcpt.offset);
      if (r.ok) return 0;
      // Postfix's deliver_completed() is fatal here ("update queue file PATH: ..."); we warn and the request answers DEFER.
      msgWarn(`update queue file ${pathOf(req)}: ${r.message}`);
      return -1;
    },
  };
}

function ipcTimeoutMs(config: MailConfig): number {
  return config.getTime('ipc_timeout') * 1000;
}

const DEFER_NO_HOP: DeliverReply = { status: DEL_STAT.DEFER, hop: null };

/** One connection from qmgr: announce, read, deliver, reply. Never throws. */
export async function serveDeliveryConnection(stream: Duplex, deliver: DeliverFn, ctx: AgentServiceContext | DeliveryContext, opts: DeliveryServeOptions = {}): Promise<void> {
  const dctx = 'completed' in ctx ? ctx : makeDeliveryContext(ctx, opts);
  const timeoutMs = ipcTimeoutMs(dctx.config);
  const io = new Attr0Stream(stream, { limits: DELIVER_FRAME_LIMITS });
  try {
    if (!(await io.writeBytes(encodeDeliverAnnouncement(), timeoutMs))) return;
    const got = await readDeliverRequest(io, timeoutMs);
    if (!got.ok) {
      if (got.eof) {
        msgVerbose('delivery request: client went away before the request');
        return;
      }
      msgWarn(`deliver_request_get: ${got.message}`);
      await finish(io, DEFER_NO_HOP, timeoutMs);
      return;
    }
    const req = got.req;
    const reply = await runRequest(req, deliver, dctx);
    await finish(io, reply, timeoutMs);
  } catch (err) {
    msgWarn(`delivery request: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    io.destroy();
  }
}

/** Checks the request and the queue file, then runs deliver(); maps a throw to DEFER + 4.3.0 hop. */
export async function runRequest(req: DeliverRequest, deliver: DeliverFn, ctx: DeliveryContext): Promise<DeliverReply> {
  if (req.recipients.length === 0) {
    msgWarn(`${req.queueId}: no recipients in delivery request for destination ${req.nexthop}`);
    return DEFER_NO_HOP;
  }
  // As Postfix: a file that is not (or no longer) a finished queue file is a silent DEFER (mail_open_ok warns about odd ones).
  const verdict = mailOpenOk(ctx.queueDir, req.queueName, req.queueId, hashOptionsOf(ctx.config));
  for (const w of verdict.warnings) msgWarn(w);
  if (!verdict.ok || !verdict.path) {
    msgVerbose(`${req.queueId}: ${req.queueName}/${req.queueId}: not a deliverable queue file`);
    return DEFER_NO_HOP;
  }
  // Postfix opens the file read-write here and dies when it cannot; we check and defer with a hop status.
  try {
    closeSync(openSync(verdict.path, 'r+'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      msgWarn(`open ${req.queueName} ${req.queueId}: No such file or directory`);
      return DEFER_NO_HOP;
    }
    msgWarn(`open ${req.queueName} ${req.queueId}: ${err instanceof Error ? err.message : String(err)}`);
    return { status: DEL_STAT.DEFER, hop: dsnMake('4.3.0', AGENT_FAILURE_REASON) };
  }
  if (req.msgStats.agentHandoff === 0) req.msgStats.agentHandoff = Date.now();
  try {
    return await deliver(req, ctx);
  } catch (err) {
    msgWarn(`${req.queueId}: delivery agent failure: ${err instanceof Error ? err.message : String(err)}`);
    return { status: DEL_STAT.DEFER, hop: dsnMake('4.3.0', AGENT_FAILURE_REASON) };
  }
}

async function finish(io: Attr0Stream, reply: DeliverReply, timeoutMs: number): Promise<void> {
  if (!(await writeDeliverReply(io, reply, timeoutMs))) return;
  // As Postfix: let the client close first, within bounds.
  await io.readFrame(Math.min(timeoutMs, DELIVER_CLOSE_WAIT_MS));
}

/** The shape of src/master/mail_server.ts singleServerMain, as far as an agent uses it. */
export type SingleServerMain = (
  argv: string[],
  options: {
    programName: string;
    preInit?(ctx: AgentServiceContext): void | Promise<void>;
    service(stream: Duplex, ctx: AgentServiceContext): void | Promise<void>;
  },
) => Promise<number>;

/** Runs a delivery agent under master: a single server, one request per connection. */
export async function deliveryAgentMain(argv: string[], opts: DeliveryAgentOptions): Promise<number> {
  const serverOpts: Parameters<SingleServerMain>[1] = {
    programName: opts.programName,
    service: (stream, ctx) => serveDeliveryConnection(stream, opts.deliver, ctx),
  };
  if (opts.preInit) serverOpts.preInit = opts.preInit;
  return opts.skeleton(argv, serverOpts);
}
