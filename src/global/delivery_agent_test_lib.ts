/*
 * delivery_agent_test_lib - a delivery agent on a real UNIX socket, with stand-in status services, for tests
 *
 * What it does: startAgentBench() makes a temporary queue_directory with
 * a main.cf, serves a delivery agent's deliver() with
 * serveDeliveryConnection() on queue_directory/private/<service> (as
 * master would), and answers the bounce, defer, trace and flush services
 * on their private/public sockets with recording stand-ins speaking the
 * real protocols (each can be told to fail or to be absent). It writes
 * queue files with queue_file_write.ts, sends requests with
 * deliverRequestCall() (what qmgr does), and collects the log lines the
 * agent wrote through msg.ts.
 *
 * What it does not do: run master or real Postfix daemons (the system
 * tests do), or check anything itself.
 *
 * DIAGNOSTICS
 * Throws (test failures) when a socket cannot be set up.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msgSetSinks, type MsgSink, setFatalHandler, FatalError } from '../util/msg.js';
import { BOUNCE_PROTOCOL, type BounceRequest } from './bounce_clnt.js';
import { type DeliverReply, type DeliverRequest, deliverRequestCall, emptyDeliverRequest } from './deliver_request.js';
import { type DeliverFn, serveDeliveryConnection } from './delivery_agent.js';
import type { IpcFailure } from './ipc/attr_clnt.js';
import { createAttrServer, type AttrServer } from './ipc/attr_serv.js';
import { loadMailConfig, type MailConfig } from './mail_conf.js';
import type { MsgStats } from './msg_stats.js';
import { readQueueFile, type QueueFile } from './queue_file_read.js';
import { writeQueueFile } from './queue_file_write.js';
import type { Recipient } from './recipient_list.js';

export type StandInMode = 'ok' | 'fail' | 'absent';

export interface AgentBenchOptions {
  /** master.cf service name the agent runs as (error(8) cares: error or retry). */
  service: string;
  programName: string;
  deliver: DeliverFn;
  main?: Record<string, string>;
  bounce?: StandInMode;
  defer?: StandInMode;
  trace?: StandInMode;
}

export interface AgentBench {
  readonly queueDir: string;
  readonly config: MailConfig;
  /** Requests the stand-ins received, by service. */
  readonly received: Record<'bounce' | 'defer' | 'trace', BounceRequest[]>;
  /** Log lines ("warning: ..." for warnings, info as is). */
  readonly log: string[];
  /** Writes a queue file in active/ with these recipients. */
  queueFile(rcpts: Array<{ address: string; original?: string; dsnNotify?: number }>): Promise<{ queueId: string; path: string; file: QueueFile }>;
  /** A request for a queue file's recipients (all, or those listed by index). */
  request(qf: { queueId: string; file: QueueFile }, nexthop: string, stats: MsgStats, pick?: number[]): DeliverRequest;
  call(req: DeliverRequest): Promise<{ ok: true; reply: DeliverReply } | IpcFailure>;
  /** Which recipients are crossed off now. */
  done(path: string): boolean[];
  close(): Promise<void>;
}

const CALL_TIMEOUT_MS = 10_000;

export async function startAgentBench(opts: AgentBenchOptions): Promise<AgentBench> {
  const root = mkdtempSync(join(tmpdir(), 'agent-bench-'));
  const queueDir = join(root, 'q');
  const confDir = join(root, 'etc');
  for (const d of ['private', 'public', 'active', 'incoming']) mkdirSync(join(queueDir, d), { recursive: true });
  mkdirSync(confDir);
  const main: Record<string, string> = { queue_directory: queueDir, ipc_timeout: '10s', ...opts.main };
  writeFileSync(join(confDir, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${v}\n`).join(''));
  const config = loadMailConfig({ configDir: confDir });
  const received: AgentBench['received'] = { bounce: [], defer: [], trace: [] };
  const log: string[] = [];
  const sink: MsgSink = { write: (sev, text) => log.push(sev === 'info' ? text : `${sev}: ${text}`) };
  msgSetSinks([sink]);
  setFatalHandler((severity, text) => {
    throw new FatalError(severity, text);
  });
  const standIns: AttrServer[] = [];
  for (const name of ['bounce', 'defer', 'trace'] as const) {
    const mode = opts[name] ?? 'ok';
    if (mode === 'absent') continue;
    const s = createAttrServer(BOUNCE_PROTOCOL, (req) => {
      received[name].push(req);
      return { status: mode === 'ok' ? 0 : -1 };
    });
    await s.listen(join(queueDir, 'private', name));
    standIns.push(s);
  }
  const agent: Server = createServer((sock) => {
    void serveDeliveryConnection(sock, opts.deliver, {
      config,
      serviceName: opts.service,
      serviceType: 'unix',
      programName: opts.programName,
      args: [],
      signal: new AbortController().signal,
    }).finally(() => sock.destroy());
  });
  const agentPath = join(queueDir, 'private', opts.service);
  await new Promise<void>((r) => agent.listen(agentPath, r));
  return {
    queueDir,
    config,
    received,
    log,
    async queueFile(rcpts) {
      const { queueId, path } = await writeQueueFile(
        { queueDir, queueName: 'active', longQueueIds: false, hashDepth: 1, hashQueues: ['deferred', 'defer'] },
        { sender: 'sender@example.org', recipients: rcpts, lines: ['Subject: test', '', 'body'] },
      );
      const r = readQueueFile(path);
      if (!r.ok) throw new Error(r.error.message);
      return { queueId, path, file: r.file };
    },
    request(qf, nexthop, stats, pick) {
      const list = pick ? pick.map((i) => qf.file.recipients[i]!) : qf.file.recipients;
      const recipients: Recipient[] = list.map((r) => ({
        origAddress: r.original ?? '',
        address: r.address,
        offset: r.offset,
        dsnOrcpt: r.dsnOrcpt ?? '',
        dsnNotify: r.dsnNotify ?? 0,
      }));
      return emptyDeliverRequest({ queueName: 'active', queueId: qf.queueId, dataOffset: qf.file.contentOffset, nexthop, sender: 'sender@example.org', msgStats: { ...stats }, recipients });
    },
    call(req) {
      return deliverRequestCall(agentPath, req, { timeoutMs: CALL_TIMEOUT_MS });
    },
    done(path) {
      const r = readQueueFile(path);
      if (!r.ok) throw new Error(r.error.message);
      return r.file.recipients.map((x) => x.done);
    },
    async close() {
      msgSetSinks([]);
      setFatalHandler(null);
      await new Promise<void>((r) => agent.close(() => r()));
      for (const s of standIns) await s.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Time stamps whose delays are fixed (those of test/system/discard_postfix_test.ts case 1, checked against the real discard). */
export function fixedStats(): MsgStats {
  const base = 1_700_000_000_000.25;
  return { incomingArrival: base, activeArrival: base + 999.999, agentHandoff: base + 10_949.999, connSetupDone: 0, deliverDone: base + 12_345.6, reuseCount: 0 };
}
/** What the real discard logs for fixedStats(). */
export const FIXED_STATS_DELAYS = 'delay=12, delays=1/10/0/1.4';
