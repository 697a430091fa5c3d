/*
 * qmgr_test_lib - an in-process queue manager with fake agents and a fake bounce service (tests only)
 *
 * What it does: makeQmgrHarness() builds a temporary configuration and
 * queue directory, writes queue files the way cleanup does
 * (writeQueueFile), and runs a QmgrDaemon whose delivery agents are
 * served in this process by D's serveDeliveryConnection() with a deliver
 * function the test picks per recipient local part ("ok…": sent and
 * crossed off, "defer…": defer_append, "bounce…": bounce_append and
 * crossed off, "site…": DEFER with a hop DSN), and whose bounce, defer
 * and trace services are a recording fake that keeps per-message logs
 * under queue_directory/{bounce,defer,trace} and removes them on flush.
 * Recipients resolve in process (localResolveClient). Log lines are
 * captured.
 *
 * What it does not do: start master or any real daemon.
 *
 * DIAGNOSTICS
 * None; helpers throw on setup errors.
 */
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { msgSetSinks } from '../util/msg.js';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { MAIL_QUEUE, queuePath, queueDirNames, splitQueueNames } from '../global/mail_queue.js';
import { createQueueFile, QUEUE_ATTR, writeQueueFile, type QueueRecipient } from '../global/queue_file_write.js';
import { localResolveClient } from '../global/resolve_clnt.js';
import { createDuplexPair, inProcessEndpoint } from '../global/ipc/attr_inproc.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import { BOUNCE_CMD, BOUNCE_PROTOCOL, type BounceRequest } from '../global/bounce_clnt.js';
import { DEL_STAT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { serveDeliveryConnection, type DeliveryContext } from '../global/delivery_agent.js';
import { sent } from '../global/sent.js';
import { deferAppend } from '../global/defer.js';
import { bounceAppend } from '../global/bounce.js';
import { dsnMake } from '../global/dsn.js';
import { QmgrDaemon } from './qmgr_loop.js';

export interface HarnessOptions {
  mainCf?: Record<string, string>;
  /** Make agents of these transports unreachable. */
  deadTransports?: string[];
}

export interface Harness {
  dir: string;
  queueDir: string;
  config: MailConfig;
  logs: string[];
  /** Requests each transport's agent received. */
  requests: Map<string, DeliverRequest[]>;
  /** Requests the fake bounce/defer/trace services received, with the service name. */
  bounceRequests: Array<{ service: string; req: BounceRequest }>;
  daemon: QmgrDaemon;
  enqueue(queue: string, sender: string, rcpts: Array<string | QueueRecipient>, opts?: { arrivalSec?: number; warnSec?: number; attrs?: Array<[string, string]> }): Promise<{ queueId: string; path: string }>;
  pathOf(queue: string, queueId: string): string;
  close(): void;
}

async function fakeDeliver(req: DeliverRequest, ctx: DeliveryContext): Promise<DeliverReply> {
  for (const rcpt of req.recipients) {
    const local = rcpt.address.split('@')[0] ?? '';
    if (local.startsWith('site')) {
      return { status: DEL_STAT.DEFER, hop: dsnMake('4.4.1', 'connect to fake: Connection refused', { action: 'delayed' }) };
    }
    if (local.startsWith('defer')) {
      await deferAppend(ctx.status, req, rcpt, 'fake', dsnMake('4.2.0', 'fake temporary failure', { action: 'delayed' }));
    } else if (local.startsWith('bounce')) {
      if ((await bounceAppend(ctx.status, req, rcpt, 'fake', dsnMake('5.1.1', 'fake user unknown', { action: 'failed' }))) === 0) await ctx.completed(req, rcpt);
    } else if ((await sent(ctx.status, req, rcpt, 'fake', dsnMake('2.0.0', 'delivered', { action: 'delivered' }))) === 0) {
      await ctx.completed(req, rcpt);
    }
  }
  const deferred = req.recipients.some((r) => r.address.startsWith('defer'));
  return { status: deferred ? DEL_STAT.DEFER : DEL_STAT.OK, hop: null };
}

export async function makeQmgrHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'qmgr-test-'));
  const queueDir = join(dir, 'queue');
  for (const d of queueDirNames()) mkdirSync(join(queueDir, d), { recursive: true });
  const settings: Record<string, string> = {
    queue_directory: queueDir,
    myhostname: 'mx.example.org',
    mydomain: 'example.org',
    mydestination: '$myhostname, localhost.$mydomain, localhost',
    default_transport: 'fake',
    relay_transport: 'fake',
    fast_flush_domains: '',
    alias_maps: '',
    minimal_backoff_time: '100s',
    maximal_backoff_time: '4000s',
    ...opts.mainCf,
  };
  writeFileSync(join(dir, 'main.cf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  writeFileSync(join(dir, 'master.cf'), 'fake unix - - n - 10 fake\nretry unix - - n - - error\nerror unix - - n - - error\n');
  const config = loadMailConfig({ configDir: dir });
  const logs: string[] = [];
  msgSetSinks([{ write: (sev, text) => void logs.push(sev === 'info' ? text : `${sev}: ${text}`) }]);
  const hash = { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
  const requests = new Map<string, DeliverRequest[]>();
  const bounceRequests: Array<{ service: string; req: BounceRequest }> = [];

  const bounceEndpoint = (service: string): Endpoint =>
    inProcessEndpoint(BOUNCE_PROTOCOL, (req: BounceRequest) => {
      bounceRequests.push({ service, req });
      const logDir = service === 'defer' ? MAIL_QUEUE.DEFER : service === 'trace' ? MAIL_QUEUE.TRACE : MAIL_QUEUE.BOUNCE;
      const log = queuePath(queueDir, logDir, req.queueId, hash);
      mkdirSync(dirname(log), { recursive: true });
      if (req.command === BOUNCE_CMD.APPEND) appendFileSync(log, `${req.rcpt.address} ${req.dsn.status} ${req.dsn.reason}\n`);
      else if (req.command === BOUNCE_CMD.FLUSH || req.command === BOUNCE_CMD.TRACE) rmSync(log, { force: true });
      return { status: 0 };
    });

  const agentEndpoint = (transport: string): Endpoint => ({
    label: `private/${transport}`,
    connect() {
      if (opts.deadTransports?.includes(transport)) throw new Error('No such file or directory');
      const [client, server] = createDuplexPair();
      const ctx = { config, serviceName: transport, serviceType: 'unix', programName: transport, args: [], signal: new AbortController().signal };
      const record = async (req: DeliverRequest, dctx: DeliveryContext): Promise<DeliverReply> => {
        const list = requests.get(transport) ?? [];
        list.push(req);
        requests.set(transport, list);
        if (transport === 'retry') {
          for (const r of req.recipients) await deferAppend(dctx.status, req, r, 'none', dsnMake(req.nexthop.split(' ')[0]!, req.nexthop.slice(6), { action: 'delayed' }));
          return { status: DEL_STAT.DEFER, hop: null };
        }
        return fakeDeliver(req, dctx);
      };
      void serveDeliveryConnection(server, record, ctx, { endpoint: bounceEndpoint, queueDir });
      return client;
    },
  });

  const daemon = new QmgrDaemon({ config, resolver: localResolveClient(config), agentEndpoint, bounceEndpoint });
  return {
    dir,
    queueDir,
    config,
    logs,
    requests,
    bounceRequests,
    daemon,
    async enqueue(queue, sender, rcpts, o = {}) {
      const recipients = rcpts.map((r) => (typeof r === 'string' ? { address: r } : r));
      const arrival = o.arrivalSec !== undefined ? { sec: o.arrivalSec, usec: 0 } : undefined;
      if (o.warnSec !== undefined) {
        // As cleanup lays it out with delay_warning_time set: the 'W' record after the time.
        const w = await createQueueFile({ queueDir, queueName: queue, longQueueIds: false, fsync: false, ...hash });
        await w.sizePlaceholder();
        await w.time(arrival?.sec ?? w.stream.sec, arrival?.usec ?? w.stream.usec);
        await w.warnTime(o.warnSec);
        await w.attr(QUEUE_ATTR.CREATE_TIME, arrival?.sec ?? w.stream.sec);
        await w.sender(sender);
        for (const r of recipients) await w.recipient(r);
        await w.beginContent();
        await w.line('Subject: test');
        await w.beginExtracted();
        await w.end();
        await w.finish();
        return { queueId: w.queueId, path: w.path };
      }
      return writeQueueFile(
        { queueDir, queueName: queue, longQueueIds: false, fsync: false, ...hash },
        { sender, recipients, lines: ['Subject: test', '', 'hello'], ...(arrival ? { arrival } : {}), ...(o.attrs ? { attrs: o.attrs } : {}) },
      );
    },
    pathOf(queue, queueId) {
      return queuePath(queueDir, queue, queueId, hash);
    },
    close() {
      daemon.stop();
      msgSetSinks([]);
      chmodSync(dir, 0o700);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
