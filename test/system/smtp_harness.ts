/*
 * smtp_harness - drive smtp(8)/lmtp(8) in-process the way qmgr does, for the smtp_* and lmtp_* tests
 *
 * What it does: makeSmtpHarness() creates a temporary queue_directory
 * with a main.cf, writes queue files into the active queue with
 * queue_file_write.ts, and delivers them by sending a real delivery
 * request (deliverRequestCall) to the agent served by
 * serveDeliveryConnection() over an in-process stream pair. The bounce,
 * defer and trace services are in-process fakes that record each request
 * and answer status 0. Log lines of the agent are captured. Requests of
 * one mode share a session cache, as in one agent process. startDnsmasq()
 * runs dnsmasq on a free loopback port with the given records and
 * returns a DnsLookup over it plus a resolv.conf path.
 *
 * What it does not do: run master or qmgr (system tests of the whole
 * mail-out path are the lead's mail_out_* tests).
 *
 * DIAGNOSTICS
 * Throws when dnsmasq does not answer in time or a queue file cannot be
 * written; every wait is bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOUNCE_PROTOCOL, type BounceRequest } from '../../src/global/bounce_clnt.js';
import { DEL_REQ_FLAG_DEFLT, type DeliverReply, type DeliverRequest, deliverRequestCall } from '../../src/global/deliver_request.js';
import { serveDeliveryConnection } from '../../src/global/delivery_agent.js';
import { dnsLookup, type DnsLookup } from '../../src/global/dns_lookup.js';
import { createDuplexPair, inProcessEndpoint } from '../../src/global/ipc/attr_inproc.js';
import type { Endpoint } from '../../src/global/ipc/attr_clnt.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import { readQueueFile, type QueueFile } from '../../src/global/queue_file_read.js';
import { type QueueRecipient, writeQueueFile } from '../../src/global/queue_file_write.js';
import { msgAddSink, msgSinks, msgSetSinks, type MsgSink } from '../../src/util/msg.js';
import { createSmtpDeliver } from '../../src/smtp/smtp.js';
import type { SmtpSession } from '../../src/smtp/smtp_proto.js';
import { SessionCache } from '../../src/smtp/smtp_session_cache.js';
import type { SmtpMode } from '../../src/smtp/smtp_params.js';
import { freePort, waitFor } from '../lib/proc.js';

export const DNSMASQ = '/usr/sbin/dnsmasq';
/** Bound on one delivery request in these tests. */
export const DELIVERY_TIMEOUT_MS = 20_000;

export interface StatusRecord {
  service: string;
  req: BounceRequest;
}

export interface Message {
  sender: string;
  recipients: QueueRecipient[];
  lines: string[] | Buffer[];
  encoding?: string;
  smtputf8?: number;
  dsnEnvid?: string;
  dsnRet?: number;
}

export interface SmtpHarness {
  dir: string;
  queueDir: string;
  config: MailConfig;
  statusLog: StatusRecord[];
  logs: string[];
  /** Writes a message into the active queue; returns its request for nexthop. */
  queue(msg: Message, nexthop: string): Promise<{ req: DeliverRequest; path: string }>;
  /** Delivers as one agent process of `mode` would: requests share that mode's session cache. */
  deliver(mode: SmtpMode, req: DeliverRequest, dns?: DnsLookup): Promise<DeliverReply>;
  /** The session cache of `mode`'s agent. */
  sessionCache(mode: SmtpMode): SessionCache<SmtpSession>;
  /** The queue file as it is now. */
  reread(path: string): QueueFile;
  close(): void;
}

export function makeSmtpHarness(mainCf: Record<string, string> = {}): SmtpHarness {
  const dir = mkdtempSync(join(tmpdir(), 'postern-smtp-'));
  const queueDir = join(dir, 'queue');
  for (const q of ['active', 'incoming', 'deferred', 'bounce', 'defer', 'trace', 'private', 'public']) mkdirSync(join(queueDir, q), { recursive: true });
  const settings: Record<string, string> = {
    queue_directory: queueDir,
    myhostname: 'client.postern.test',
    smtp_connect_timeout: '5s',
    smtp_helo_timeout: '10s',
    ...mainCf,
  };
  writeFileSync(join(dir, 'main.cf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  const config = loadMailConfig({ configDir: dir });
  const statusLog: StatusRecord[] = [];
  const logs: string[] = [];
  const sink: MsgSink = { write: (sev, text) => logs.push(sev === 'info' ? text : `${sev}: ${text}`) };
  const before = [...msgSinks()];
  msgAddSink(sink);
  const endpoint = (service: string): Endpoint =>
    inProcessEndpoint(BOUNCE_PROTOCOL, (req) => {
      statusLog.push({ service, req });
      return { status: 0 };
    });
  const hash = { hashDepth: config.getInt('hash_queue_depth'), hashQueues: ['deferred', 'defer'] };
  const caches = new Map<SmtpMode, SessionCache<SmtpSession>>();
  const sessionCache = (mode: SmtpMode): SessionCache<SmtpSession> => {
    let c = caches.get(mode);
    if (!c) caches.set(mode, (c = new SessionCache<SmtpSession>()));
    return c;
  };
  return {
    dir,
    queueDir,
    config,
    statusLog,
    logs,
    async queue(msg, nexthop) {
      const w = await writeQueueFile(
        { queueDir, queueName: 'active', longQueueIds: false, ...hash },
        { sender: msg.sender, recipients: msg.recipients, lines: msg.lines },
      );
      const qf = readQueueFile(w.path);
      if (!qf.ok) throw new Error(qf.error.message);
      const f = qf.file;
      const now = Date.now();
      const req: DeliverRequest = {
        flags: DEL_REQ_FLAG_DEFLT,
        queueName: 'active',
        queueId: w.queueId,
        dataOffset: f.size!.dataOffset,
        dataSize: f.size!.contentSize,
        nexthop,
        encoding: msg.encoding ?? '',
        smtputf8: msg.smtputf8 ?? 0,
        sender: msg.sender,
        dsnEnvid: msg.dsnEnvid ?? '',
        dsnRet: msg.dsnRet ?? 0,
        msgStats: { incomingArrival: now - 10, activeArrival: now - 5, agentHandoff: 0, connSetupDone: 0, deliverDone: 0, reuseCount: 0 },
        clientName: '',
        clientAddr: '',
        clientPort: '',
        clientProto: '',
        clientHelo: '',
        saslMethod: '',
        saslUsername: '',
        saslSender: '',
        logIdent: w.queueId,
        rewriteContext: 'local',
        recipients: f.recipients.map((r) => ({
          origAddress: r.original ?? r.address,
          address: r.address,
          offset: r.offset,
          dsnOrcpt: r.dsnOrcpt ?? '',
          dsnNotify: r.dsnNotify ?? 0,
        })),
      };
      return { req, path: w.path };
    },
    async deliver(mode, req, dns) {
      const deliverFn = createSmtpDeliver(mode, { cache: sessionCache(mode), ...(dns ? { dns } : {}) });
      const ac = new AbortController();
      const agent: Endpoint = {
        label: `inproc/${mode}`,
        connect() {
          const [client, server] = createDuplexPair();
          const ctx = { config, serviceName: mode, serviceType: 'unix', programName: mode, args: [], signal: ac.signal };
          void serveDeliveryConnection(server, deliverFn, ctx, { endpoint, queueDir });
          return client;
        },
      };
      const r = await deliverRequestCall(agent, req, { timeoutMs: DELIVERY_TIMEOUT_MS });
      if (!r.ok) throw new Error(`delivery request failed: ${r.kind}: ${r.message}`);
      return r.reply;
    },
    reread(path) {
      const qf = readQueueFile(path);
      if (!qf.ok) throw new Error(qf.error.message);
      return qf.file;
    },
    sessionCache,
    close() {
      for (const c of caches.values()) c.closeAll();
      msgSetSinks(before);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Dnsmasq {
  dns: DnsLookup;
  resolvConf: string;
  stop(): Promise<void>;
}

/** Starts dnsmasq on 127.0.0.1:<free port> answering only from the given records (e.g. '--mx-host=a.test,mx.a.test,10'). */
export async function startDnsmasq(dir: string, records: string[], probeName: string): Promise<Dnsmasq> {
  const port = await freePort();
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver 127.0.0.1:${port}\n`);
  const child: ChildProcess = spawn(
    DNSMASQ,
    ['--no-resolv', '--no-hosts', '--keep-in-foreground', '--listen-address=127.0.0.1', `--port=${port}`, '--bind-interfaces', '--user=root', '--pid-file=', '--local=/test/', ...records],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const dns = dnsLookup({ resolvConf });
  await waitFor(`dnsmasq on port ${port}`, async () => child.exitCode === null && (await dns.query(probeName, 'MX')).status === 'ok', 10_000).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}: ${stderr}`);
  });
  return {
    dns,
    resolvConf,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
