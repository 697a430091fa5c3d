/*
 * local - Postfix local(8): deliver to local recipients (Postfix local/local.c)
 *
 * What it does: the local delivery agent, a single server under master
 * (master.cf "local unix - n n - - local") through D's delivery agent
 * framework. For each recipient of a request it runs the delivery
 * recursion (local_recipient.ts: aliases, .forward, mailbox, commands,
 * files, includes, forwarding, unknown users), sends the pending
 * forwarded copies, and crosses the recipient off when everything for it
 * was delivered or bounced (never after a deferral). The reply is DEFER
 * when any recipient is left. The Delivered-To: headers of the message
 * are read once per request for loop detection. Started as root it runs
 * as root and borrows the recipient's uid/gid for each mailbox, file,
 * .forward and :include: access (local_privs.ts) and starts commands
 * with the user's uid/gid; started unprivileged it delivers as itself.
 * localDeliver() is the request handler; tests call it with their own
 * LocalDeps (passwd file, trivial-rewrite in-process, service endpoints).
 *
 * What it does not do: biff notifications (biff is ignored), fcntl
 * mailbox locks (see mbox_open.ts), mark corrupt queue files for qmgr.
 *
 * DIAGNOSTICS
 * Configuration errors are fatal at startup with Postfix's texts. Every
 * delivery is logged through sent/bounce/defer (relay=local), e.g.
 * "status=sent (delivered to mailbox)", "status=bounced (unknown user:
 * \"x\")".
 */
import { open } from 'node:fs/promises';
import { isMainModule, runMain } from '../util/main_module.js';
import { strerror } from '../util/strerror.js';
import { msgFatal } from '../util/msg.js';
import { getpwnam as sysGetpwnam, getpwuid as sysGetpwuid, type PasswdEntry } from '../util/pwd_lookup.js';
import { singleServerMain } from '../master/mail_server.js';
import { deliveryAgentMain, type DeliveryContext } from '../global/delivery_agent.js';
import { DEL_REQ_FLAG, DEL_STAT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { dsnMake } from '../global/dsn.js';
import { sent } from '../global/sent.js';
import { bounceAppend } from '../global/bounce.js';
import { deferAppend } from '../global/defer.js';
import { traceAppend, statusClientOptions } from '../global/trace.js';
import { bounceOne } from '../global/bounce_clnt.js';
import { logAdhoc } from '../global/log_adhoc.js';
import { resolveClient, type ResolveClient } from '../global/resolve_clnt.js';
import { rewriteClient, type RewriteClient } from '../global/rewrite_clnt.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { MailConfig } from '../global/mail_conf.js';
import { readLocalParams, type LocalParams } from './local_params.js';
import { openLocalTables, type LocalTables } from './local_tables.js';
import { type LocalEnv, type LocalState, noUser, type Reporters } from './local_state.js';
import { deliverRecipient } from './local_recipient.js';
import { forwardFinish } from './local_forward.js';
import { deliveredHeaders } from './local_delivered.js';
import { exclusive, processIsRoot } from './local_privs.js';

export interface LocalDeps {
  getpwnam?: (name: string) => PasswdEntry | null;
  getpwuid?: (uid: number) => PasswdEntry | null;
  resolver?: ResolveClient;
  rewriter?: RewriteClient;
  cleanupEndpoint?: Endpoint;
  passEndpoint?: (transport: string) => Endpoint;
  /** Force privilege switching off (tests running as root that want plain delivery). */
  privileged?: boolean;
  /** Status reporting (tests record calls); default sent/bounceAppend/deferAppend/traceAppend. */
  reporters?: Reporters;
}

interface ProcessState {
  config: MailConfig;
  params: LocalParams;
  tables: LocalTables;
  resolver: ResolveClient;
  rewriter: RewriteClient;
}

let cached: ProcessState | null = null;

function processState(config: MailConfig, deps: LocalDeps): ProcessState {
  if (cached && cached.config === config && !deps.resolver && !deps.getpwnam) return cached;
  const params = readLocalParams(config, deps.getpwnam ?? ((n) => sysGetpwnam(n)));
  const st: ProcessState = {
    config,
    params,
    tables: openLocalTables(config, params),
    resolver: deps.resolver ?? resolveClient(config),
    rewriter: deps.rewriter ?? rewriteClient(config),
  };
  if (!deps.resolver && !deps.getpwnam) cached = st;
  return st;
}

function reporters(ctx: DeliveryContext): Reporters {
  const sc = ctx.status;
  return {
    sent: (req, rcpt, relay, dsn) => sent(sc, req, rcpt, relay, dsn),
    bounce: (req, rcpt, relay, dsn) => bounceAppend(sc, req, rcpt, relay, dsn),
    defer: (req, rcpt, relay, dsn) => deferAppend(sc, req, rcpt, relay, dsn),
    trace: (req, rcpt, relay, dsn) => traceAppend(sc, req, rcpt, relay, dsn),
    bounceOne: async (req, sender, rcpt, relay, dsn) => {
      const r = await bounceOne(statusClientOptions(sc), 0, req.queueName, req.queueId, req.encoding, req.smtputf8, sender, '', 0, rcpt, dsn);
      if (r !== 0) return deferAppend(sc, req, rcpt, relay, { ...dsn, action: 'delayed' }).then(() => -1);
      logAdhoc({ config: sc.config }, req.queueId, req.msgStats, rcpt, relay, dsn, 'bounced');
      return 0;
    },
  };
}

export async function localDeliver(req: DeliverRequest, ctx: DeliveryContext, deps: LocalDeps = {}): Promise<DeliverReply> {
  const ps = processState(ctx.config, deps);
  const queueFilePath = ctx.queueFilePath(req);
  const report = deps.reporters ?? reporters(ctx);
  const loop = deliveredHeaders(queueFilePath, req.dataOffset);
  if (!loop.ok) {
    for (const rcpt of req.recipients) await report.defer(req, rcpt, ctx.serviceName, dsnMake('4.3.0', `error reading message: ${loop.message}`, { action: 'delayed' }));
    return { status: DEL_STAT.DEFER, hop: null };
  }
  const env: LocalEnv = {
    req,
    queueFilePath,
    service: ctx.serviceName,
    params: ps.params,
    tables: ps.tables,
    report,
    resolver: ps.resolver,
    rewriter: ps.rewriter,
    loopInfo: loop.set,
    dupFilter: new Set(),
    getpwnam: deps.getpwnam ?? ((n) => sysGetpwnam(n)),
    getpwuid: deps.getpwuid ?? ((u) => sysGetpwuid(u)),
    privileged: deps.privileged ?? (processIsRoot() && process.geteuid!() === 0),
    forwards: new Map(),
    ...(deps.cleanupEndpoint ? { cleanupEndpoint: deps.cleanupEndpoint } : {}),
    ...(deps.passEndpoint ? { passEndpoint: deps.passEndpoint } : {}),
  };
  try {
    env.queueFile = await open(queueFilePath, 'r');
  } catch (e) {
    for (const rcpt of req.recipients) await report.defer(req, rcpt, ctx.serviceName, dsnMake('4.3.0', `error reading message: ${strerror(e)}`, { action: 'delayed' }));
    return { status: DEL_STAT.DEFER, hop: null };
  }
  try {
    return await deliverAll(env, req, ctx);
  } finally {
    await env.queueFile.close().catch(() => undefined);
  }
}

async function deliverAll(env: LocalEnv, req: DeliverRequest, ctx: DeliveryContext): Promise<DeliverReply> {
  let msgStat = 0;
  for (const rcpt of req.recipients) {
    env.dupFilter = new Set();
    env.forwards = new Map();
    const top: LocalState = {
      level: 0,
      msg: {
        rcpt: { ...rcpt },
        sender: req.sender,
        dsnEnvid: req.dsnEnvid,
        dsnRet: req.dsnRet,
        local: '',
        domain: null,
        user: '',
        extension: null,
        unmatched: null,
        owner: null,
        delivered: null,
        expType: 0,
        expFrom: null,
      },
    };
    let rcptStat = await deliverRecipient(env, top, noUser());
    rcptStat |= await forwardFinish(env, top, rcptStat);
    if (rcptStat === 0 && req.flags & DEL_REQ_FLAG.SUCCESS) rcptStat = await ctx.completed(req, rcpt);
    msgStat |= rcptStat;
  }
  return { status: msgStat === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: null };
}

export async function main(argv: string[]): Promise<number> {
  return deliveryAgentMain(argv, {
    skeleton: singleServerMain,
    programName: 'local',
    preInit(ctx) {
      try {
        processState(ctx.config, {});
      } catch (e) {
        msgFatal((e as Error).message);
      }
    },
    // Borrowed identities are process-wide: as root, one delivery at a time (local_privs.ts).
    deliver: (req, ctx) => (processIsRoot() ? exclusive(() => localDeliver(req, ctx)) : localDeliver(req, ctx)),
  });
}

if (isMainModule(import.meta.url)) runMain(main);
