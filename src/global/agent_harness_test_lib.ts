/*
 * agent_harness_test_lib - drive a delivery agent in-process (pipe(8), virtual(8) tests)
 *
 * What it does: AgentHarness makes a temporary queue directory and a
 * MailConfig, writes finished queue files into the active queue with
 * queue_file_write.ts, serves the agent's deliver function through the
 * real serveDeliveryConnection() over an in-process stream pair, sends
 * the request with the real deliverRequestCall(), answers the bounce,
 * defer and trace services in-process (recording each request), and
 * captures the log lines. rereadRecipients() reads the queue file back to
 * see which recipients were crossed off.
 *
 * What it does not do: run master, qmgr or the real bounce(8).
 *
 * DIAGNOSTICS
 * Test helpers: failures throw.
 */
import { mkdirSync, rmSync, mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDuplexPair, inProcessEndpoint } from './ipc/attr_inproc.js';
import { BOUNCE_PROTOCOL, type BounceRequest } from './bounce_clnt.js';
import { serveDeliveryConnection, type DeliverFn } from './delivery_agent.js';
import { deliverRequestCall, emptyDeliverRequest, type DeliverReply, type DeliverRequest } from './deliver_request.js';
import type { Endpoint } from './ipc/attr_clnt.js';
import { MailConfig } from './mail_conf.js';
import { emptyMsgStats } from './msg_stats.js';
import { queueDirNames } from './mail_queue.js';
import { readQueueFile } from './queue_file_read.js';
import { writeQueueFile, type QueueRecipient } from './queue_file_write.js';
import { msgSetSinks, msgSinks, type MsgSink } from '../util/msg.js';

export interface HarnessMessage {
  sender: string;
  recipients: QueueRecipient[];
  lines: string[];
}

export class AgentHarness {
  readonly dir: string;
  readonly queueDir: string;
  readonly config: MailConfig;
  readonly logs: string[] = [];
  readonly bounceRequests: Array<{ service: string; req: BounceRequest }> = [];
  #savedSinks: readonly MsgSink[];

  constructor(params: Record<string, string> | ((dir: string) => Record<string, string>), opts: { serviceName?: string; args?: string[] } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'postern-agent-'));
    chmodSync(this.dir, 0o755);
    this.queueDir = join(this.dir, 'queue');
    mkdirSync(this.queueDir, { mode: 0o755 });
    for (const q of queueDirNames()) mkdirSync(join(this.queueDir, q), { recursive: true, mode: 0o755 });
    const p = typeof params === 'function' ? params(this.dir) : params;
    const entries = Object.entries({ queue_directory: this.queueDir, ...p }).map(([name, value], i) => ({ name, value, file: 'main.cf', line: i + 1 }));
    this.config = new MailConfig(this.dir, entries);
    this.serviceName = opts.serviceName ?? 'agent';
    this.args = opts.args ?? [];
    this.#savedSinks = msgSinks();
    msgSetSinks([{ write: (sev, text) => this.logs.push(sev === 'info' ? text : `${sev}: ${text}`) }]);
  }

  readonly serviceName: string;
  readonly args: string[];

  endpointFor(service: string): Endpoint {
    return inProcessEndpoint(BOUNCE_PROTOCOL, (req) => {
      this.bounceRequests.push({ service, req });
      return { status: 0 };
    });
  }

  async enqueue(msg: HarnessMessage): Promise<{ queueId: string; path: string }> {
    return writeQueueFile({ queueDir: this.queueDir, queueName: 'active', longQueueIds: false, hashDepth: 1, hashQueues: ['deferred', 'defer'] }, msg);
  }

  /** A request as qmgr would build it for the message's not-done recipients. */
  request(q: { queueId: string; path: string }, fields: Partial<DeliverRequest> = {}): DeliverRequest {
    const r = readQueueFile(q.path);
    if (!r.ok) throw new Error(r.error.message);
    const f = r.file;
    return emptyDeliverRequest({
      queueName: 'active',
      queueId: q.queueId,
      dataOffset: f.contentOffset,
      dataSize: f.size?.contentSize ?? 0,
      sender: f.sender ?? '',
      nexthop: 'example.com',
      msgStats: { ...emptyMsgStats(), incomingArrival: (f.arrival?.sec ?? 0) * 1000 + Math.floor((f.arrival?.usec ?? 0) / 1000), activeArrival: Date.now() },
      recipients: f.recipients.filter((x) => !x.done).map((x) => ({ origAddress: x.original ?? x.address, address: x.address, offset: x.offset, dsnOrcpt: x.dsnOrcpt ?? '', dsnNotify: x.dsnNotify ?? 0 })),
      ...fields,
    });
  }

  /** One request through the real protocol; serviceName/args default to the harness's own. */
  async deliver(deliver: DeliverFn, req: DeliverRequest, service?: { name: string; args: string[] }): Promise<DeliverReply> {
    const name = service?.name ?? this.serviceName;
    const ctx = { config: this.config, serviceName: name, serviceType: 'unix', programName: name, args: service?.args ?? this.args, signal: new AbortController().signal };
    const endpoint: Endpoint = {
      label: `inproc/${name}`,
      connect: () => {
        const [client, server] = createDuplexPair();
        void serveDeliveryConnection(server, deliver, ctx, { endpoint: (s) => this.endpointFor(s), queueDir: this.queueDir });
        return client;
      },
    };
    const r = await deliverRequestCall(endpoint, req, { timeoutMs: 30_000 });
    if (!r.ok) throw new Error(`deliverRequestCall: ${r.message}`);
    return r.reply;
  }

  /** Which recipients of the queue file are crossed off. */
  doneRecipients(path: string): string[] {
    const r = readQueueFile(path);
    if (!r.ok) throw new Error(r.error.message);
    return r.file.recipients.filter((x) => x.done).map((x) => x.address);
  }

  logLines(re: RegExp): string[] {
    return this.logs.filter((l) => re.test(l));
  }

  close(): void {
    msgSetSinks([...this.#savedSinks]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
