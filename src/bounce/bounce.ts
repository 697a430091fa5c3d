/*
 * bounce - the bounce(8), defer and trace services: per-message delivery status logs and notifications (Postfix bounce.c)
 *
 * What it does: one program serves the master.cf services bounce, defer
 * and trace (program bounce, single server): each client connection
 * carries one delivery status protocol request (src/global/bounce_clnt.ts
 * BOUNCE_PROTOCOL), answered with status=0 on success. The service name
 * is the log directory: APPEND writes queue_directory/<service>/<id>;
 * FLUSH sends a non-delivery notification from that log (bounce: bounced
 * recipients; defer: the message expired) and removes it; WARN sends a
 * delay warning from defer/; TRACE sends a success or verbose-delivery
 * notice from trace/; ONE (bounce service only) bounces one recipient
 * without a log; VERP sends one notice per recipient to the VERP-encoded
 * sender address (bounce_notify_verp.ts).
 * Notifications are submitted to cleanup with sender <> (or
 * double-bounce for postmaster notices) and are logged as Postfix logs
 * them ("QUEUEID: sender non-delivery notification: NEWID").
 * bounceRequestHandler() is the handler for in-process use
 * (inProcessEndpoint, tests).
 *
 * What it does not do: decide when to bounce, warn or expire (qmgr and
 * the delivery agents do), or log the per-recipient status=... lines
 * (the clients do).
 *
 * DIAGNOSTICS
 * A malformed request (bad queue name or id, wrong service for ONE) is
 * warned about with Postfix's wording and answered with status -1; with
 * BOUNCE_FLAG_CLEAN the log is removed when a request fails. A service
 * name that is not a valid queue name is fatal.
 *
 * PROTOCOL
 * See BOUNCE_PROTOCOL.describe() in src/global/bounce_clnt.ts.
 */
import type { Duplex } from 'node:stream';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgVerbose, msgWarn } from '../util/msg.js';
import { printable } from '../util/printable.js';
import { BOUNCE_CMD, BOUNCE_FLAG, BOUNCE_PROTOCOL, type BounceReply, type BounceRequest } from '../global/bounce_clnt.js';
import type { Dsn } from '../global/dsn.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import { inProcessEndpoint } from '../global/ipc/attr_inproc.js';
import { type AttrHandler, serveAttrConnection } from '../global/ipc/attr_serv.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mailQueueIdOk, mailQueueNameOk } from '../global/mail_queue.js';
import type { Recipient } from '../global/recipient_list.js';
import { type ServiceContext, singleServerMain } from '../master/mail_server.js';
import { bounceAppendService, bounceCleanupLog } from './bounce_append_service.js';
import { bounceNotifyService } from './bounce_notify_service.js';
import { bounceNotifyVerp } from './bounce_notify_verp.js';
import { bounceOneService } from './bounce_one_service.js';
import { type BounceContext, type BounceContextOptions, readBounceContext } from './bounce_service.js';
import { bounceTraceService } from './bounce_trace_service.js';
import { bounceWarnService } from './bounce_warn_service.js';

const neuter = (s: string): string => printable(s, true);

function neuterRcpt(r: Recipient): Recipient {
  return { ...r, address: neuter(r.address), origAddress: neuter(r.origAddress), dsnOrcpt: neuter(r.dsnOrcpt) };
}

function neuterDsn(d: Dsn): Dsn {
  return {
    status: neuter(d.status), action: neuter(d.action), reason: neuter(d.reason),
    dtype: neuter(d.dtype), dtext: neuter(d.dtext), mtype: neuter(d.mtype), mname: neuter(d.mname),
  };
}

async function execute(ctx: BounceContext, service: string, req: BounceRequest): Promise<number> {
  if (!mailQueueIdOk(req.queueId)) {
    msgWarn(`malformed queue id: ${printable(req.queueId)}`);
    return -1;
  }
  if (req.command === BOUNCE_CMD.APPEND) {
    const rcpt = neuterRcpt(req.rcpt);
    const dsn = neuterDsn(req.dsn);
    msgVerbose(`bounce_append_proto: flags=0x${req.flags.toString(16)} service=${service} id=${req.queueId} org_to=${rcpt.origAddress} to=${rcpt.address} off=${rcpt.offset} stat=${dsn.status} act=${dsn.action} why=${dsn.reason}`);
    return bounceAppendService(ctx, service, req.queueId, rcpt, dsn);
  }
  if (!mailQueueNameOk(req.queueName)) {
    msgWarn(`malformed queue name: ${printable(req.queueName)}`);
    return -1;
  }
  const encoding = neuter(req.encoding);
  const sender = neuter(req.sender);
  const envid = neuter(req.dsnEnvid);
  msgVerbose(`bounce_notify_proto: flags=0x${req.flags.toString(16)} service=${service} queue=${req.queueName} id=${req.queueId} encoding=${encoding} smtputf8=${req.smtputf8} sender=${sender} envid=${envid} ret=0x${req.dsnRet.toString(16)}`);
  switch (req.command) {
    case BOUNCE_CMD.FLUSH:
      return bounceNotifyService(ctx, req.flags, service, req.queueName, req.queueId, encoding, req.smtputf8, sender, envid, req.dsnRet);
    case BOUNCE_CMD.VERP: {
      const delims = neuter(req.verpDelims);
      if (delims.length !== 2) {
        msgWarn(`malformed verp delimiter string: ${delims}`);
        return -1;
      }
      if (sender === '' || sender.toLowerCase() === ctx.doubleBounce.toLowerCase()) {
        msgWarn('request to send VERP-style notification of bounced mail');
        return bounceNotifyService(ctx, req.flags, service, req.queueName, req.queueId, encoding, req.smtputf8, sender, envid, req.dsnRet);
      }
      return bounceNotifyVerp(ctx, req.flags, service, req.queueName, req.queueId, encoding, req.smtputf8, sender, envid, req.dsnRet, delims);
    }
    case BOUNCE_CMD.WARN:
      return bounceWarnService(ctx, req.flags, service, req.queueName, req.queueId, encoding, req.smtputf8, sender, envid, req.dsnRet);
    case BOUNCE_CMD.TRACE:
      return bounceTraceService(ctx, req.flags, service, req.queueName, req.queueId, encoding, req.smtputf8, sender, envid, req.dsnRet);
    case BOUNCE_CMD.ONE:
      if (service !== 'bounce') {
        msgWarn(`wrong service name "${service}" for one-recipient bouncing`);
        return -1;
      }
      return bounceOneService(ctx, req.flags, req.queueName, req.queueId, encoding, req.smtputf8, sender, envid, req.dsnRet, neuterRcpt(req.rcpt), neuterDsn(req.dsn));
  }
}

/** The request handler of one service (bounce, defer or trace). */
export function bounceRequestHandler(ctx: BounceContext, service: string): AttrHandler<typeof BOUNCE_PROTOCOL> {
  if (!mailQueueNameOk(service)) msgFatal(`malformed service name: ${service}`);
  return async (req: BounceRequest): Promise<BounceReply> => {
    let status: number;
    try {
      status = await execute(ctx, service, req);
    } catch (err) {
      msgWarn(`${req.queueId}: ${service} request failed: ${err instanceof Error ? err.message : String(err)}`);
      status = -1;
    }
    if (status !== 0 && (req.flags & BOUNCE_FLAG.CLEAN) !== 0 && mailQueueIdOk(req.queueId)) await bounceCleanupLog(ctx, service, req.queueId);
    return { status };
  };
}

/** Serves one client connection of a service. */
export async function bounceServeConnection(ctx: BounceContext, service: string, stream: Duplex): Promise<void> {
  await serveAttrConnection(stream, BOUNCE_PROTOCOL, bounceRequestHandler(ctx, service), { label: `private/${service}`, idleTimeoutMs: ctx.ipcTimeoutMs, writeTimeoutMs: ctx.ipcTimeoutMs });
}

/** In-process endpoints for the three services (tests, co-located services). */
export function bounceEndpoints(config: MailConfig, opts: BounceContextOptions = {}): { ctx: BounceContext; endpoint(service: string): Endpoint } {
  const ctx = readBounceContext(config, opts);
  return { ctx, endpoint: (service: string) => inProcessEndpoint(BOUNCE_PROTOCOL, bounceRequestHandler(ctx, service), { label: `inproc/${service}` }) };
}

export async function main(argv: string[]): Promise<number> {
  let ctx: BounceContext | null = null;
  return singleServerMain(argv, {
    programName: 'bounce',
    preInit(sctx: ServiceContext) {
      if (sctx.args.length > 0) msgFatal(`unexpected command-line argument: ${sctx.args[0]}`);
      if (!mailQueueNameOk(sctx.serviceName)) msgFatal(`malformed service name: ${sctx.serviceName}`);
      ctx = readBounceContext(sctx.config);
    },
    async service(stream, sctx: ServiceContext) {
      if (!ctx) ctx = readBounceContext(sctx.config);
      await bounceServeConnection(ctx, sctx.serviceName, stream);
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
