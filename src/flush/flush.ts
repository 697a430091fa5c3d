/*
 * flush - the fast flush server (Postfix flush(8))
 *
 * What it does: serves public/$flush_service_name with Postfix 3.7's
 * queue_flush_protocol (the announcement, then one request list: request
 * = add (site, queue_id), send_site (site), send_file (queue_id), rfrsh or
 * purge; the reply is status = FLUSH_STAT). Sites are lower-cased; add
 * and send_site are refused (FLUSH_STAT.DENY) for a site that does not
 * match fast_flush_domains. For rfrsh and purge the reply comes first and
 * the work after, as Postfix; a master wakeup ("W", when master.cf gives
 * the service a wakeup time such as 1000?) is a refresh. The logfiles
 * are flush_log.ts's. The smtp client side adds to the logs through
 * src/global/flush_clnt.ts (defer_append does, as Postfix); smtpd's ETRN,
 * "sendmail -qR" and "postqueue -s" send sites, "postqueue -i" files.
 *
 * What it does not do: deliver (qmgr does, once told to scan incoming).
 *
 * DIAGNOSTICS
 * Warnings for bad requests (the client gets FLUSH_STAT.BAD) and those of
 * flush_log.ts; "unexpected command-line argument" is fatal.
 */
import type { Socket } from 'node:net';
import { flushDomainList, FLUSH_PROTOCOL } from '../global/flush_clnt.js';
import { serveAttrConnection } from '../global/ipc/attr_serv.js';
import { requestHandlers } from '../global/ipc/protocol_requests.js';
import type { MailConfig } from '../global/mail_conf.js';
import { FLUSH_REQ, FLUSH_STAT, MAIL_ATTR, MAIL_CLASS, TRIGGER_REQ_WAKEUP } from '../global/mail_proto.js';
import { mailQueueIdOk, splitQueueNames } from '../global/mail_queue.js';
import { mailTrigger } from '../global/mail_trigger.js';
import { singleServerMain, type ServiceContext, type StreamServerOptions } from '../master/mail_server.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { FlushLogs } from './flush_log.js';

/** A request this short is a master trigger, not a protocol request (Postfix: at most 2 bytes). */
export const FLUSH_TRIGGER_MAX = 2;

/** The flush logs of one configuration. */
export function flushLogsFor(config: MailConfig): FlushLogs {
  const queueDir = config.get('queue_directory');
  const timeoutMs = config.getTime('trigger_timeout') * 1000;
  return new FlushLogs({
    queueDir,
    hash: { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) },
    domains: flushDomainList(config),
    purgeSeconds: config.getTime('fast_flush_purge_time'),
    triggerQmgr: (req) => mailTrigger(queueDir, MAIL_CLASS.PUBLIC, config.get('queue_service_name'), req, timeoutMs),
  });
}

/** Waits for the client's first bytes (or its end); null on timeout. */
function firstChunk(stream: Socket, timeoutMs: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const done = (b: Buffer | null): void => {
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
      resolve(b);
    };
    const onReadable = (): void => {
      const b = stream.read() as Buffer | null;
      if (b !== null) done(b);
    };
    const onEnd = (): void => done(Buffer.alloc(0));
    const timer = setTimeout(() => done(null), timeoutMs);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onEnd);
  });
}

/** One client: the announcement, one request, the reply; deferred refresh work after. */
export async function flushService(stream: Socket, ctx: ServiceContext, logs: FlushLogs): Promise<void> {
  const ipcMs = ctx.config.getTime('ipc_timeout') * 1000;
  const refreshSeconds = ctx.config.getTime('fast_flush_refresh_time');
  let after: number | null = null;
  stream.on('error', () => undefined);
  stream.write(FLUSH_PROTOCOL.announcement());
  const first = await firstChunk(stream, ipcMs);
  if (first === null) {
    msgWarn(`timeout while waiting for data from ${MAIL_CLASS.PUBLIC}/${ctx.serviceName}`);
    return;
  }
  if (first.length <= FLUSH_TRIGGER_MAX) {
    // A master trigger ("W"): refresh, as Postfix.
    if (first.length > 0 && first.toString('latin1').replace(/\0$/, '') === TRIGGER_REQ_WAKEUP) await logs.refresh(refreshSeconds);
    return;
  }
  stream.unshift(first);
  const handler = requestHandlers(FLUSH_PROTOCOL, {
    [FLUSH_REQ.ADD]: (r) => ({
      [MAIL_ATTR.STATUS]: mailQueueIdOk(r[MAIL_ATTR.QUEUEID]) ? logs.add(r[MAIL_ATTR.SITE].toLowerCase(), r[MAIL_ATTR.QUEUEID]) : FLUSH_STAT.BAD,
    }),
    [FLUSH_REQ.SEND_SITE]: async (r) => ({ [MAIL_ATTR.STATUS]: await logs.sendSite(r[MAIL_ATTR.SITE].toLowerCase()) }),
    [FLUSH_REQ.SEND_FILE]: async (r) => ({ [MAIL_ATTR.STATUS]: await logs.sendFile(r[MAIL_ATTR.QUEUEID]) }),
    [FLUSH_REQ.REFRESH]: () => {
      after = refreshSeconds;
      return { [MAIL_ATTR.STATUS]: FLUSH_STAT.OK };
    },
    [FLUSH_REQ.PURGE]: () => {
      after = 0;
      return { [MAIL_ATTR.STATUS]: FLUSH_STAT.OK };
    },
  });
  // The announcement went out above; serve the request without sending it again.
  await serveAttrConnection(stream, { ...FLUSH_PROTOCOL, announce: false }, handler, {
    label: `${MAIL_CLASS.PUBLIC}/${ctx.serviceName}`,
    idleTimeoutMs: ipcMs,
    writeTimeoutMs: ipcMs,
  });
  if (after !== null) await logs.refresh(after);
}

export function flushServerOptions(): StreamServerOptions {
  let logs: FlushLogs | null = null;
  return {
    programName: 'flush',
    preInit(ctx) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
      logs = flushLogsFor(ctx.config);
    },
    async service(stream, ctx) {
      logs ??= flushLogsFor(ctx.config);
      await flushService(stream, ctx, logs);
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  return singleServerMain(argv, flushServerOptions());
}

if (isMainModule(import.meta.url)) runMain(main);
