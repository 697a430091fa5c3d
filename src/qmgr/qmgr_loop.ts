/*
 * qmgr_loop - the queue manager's event loop around the scheduler core (Postfix qmgr.c qmgr_loop)
 *
 * What it does: QmgrDaemon is the running queue manager. start() moves
 * what a previous qmgr left in the active queue back to incoming (crash
 * recovery), starts the incoming scan and the deferred scan, and repeats
 * the deferred scan every queue_run_delay. trigger() takes the bytes of
 * one or more qmgr requests (I/W: scan incoming, D: scan deferred, F:
 * forget dead destinations and lift defer_transports, A: ignore time
 * stamps), collapsed as Postfix does. Each turn of the loop starts every
 * delivery the scheduler allows (private/<transport>, qmgr_deliver.ts),
 * and feeds more messages into the active queue, one from incoming and
 * one from deferred per turn of the event loop (as Postfix's qmgr_loop),
 * while fewer than qmgr_message_active_limit messages and
 * qmgr_message_recipient_limit recipients are in core. A fed message's
 * recipients are resolved, grouped per transport/nexthop and given to the
 * scheduler; what the scheduler gives up on is deferred (qmgr_defer.ts);
 * when none of a message's recipients is left in the scheduler it is
 * disposed of (qmgr_active.ts: bounce, expire, warn, defer with backoff,
 * or remove). A timer follows the scheduler's nextWakeup().
 *
 * What it does not do: decide what to deliver next (the scheduler core,
 * qmgr_sched.ts), or talk to master (qmgr.ts does, via the trigger
 * server skeleton). A message is never removed while one of its
 * recipients is still in the scheduler or in a delivery.
 *
 * DIAGNOSTICS
 * Warnings from the modules it drives; a failed resolver (the rewrite
 * service down past ipc_timeout) defers the message.
 */
import { msgInfo, msgWarn } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_QUEUE } from '../global/mail_queue.js';
import { MAIL_SERVICE } from '../global/mail_proto.js';
import { parseQmgrTrigger } from './qmgr_trigger.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { resolveClient, type ResolveClient } from '../global/resolve_clnt.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { StatusContext } from '../global/log_adhoc.js';
import { QmgrScheduler, type DeferredWork, type SchedDelivery, type SchedMessage } from './qmgr_sched.js';
import type { Recipient } from '../global/recipient_list.js';
import { readTransportParams, type TransportParams } from './qmgr_transport_params.js';
import { QMGR_RCPT_BATCH_MAX, readQmgrParams, type QmgrParams } from './qmgr_params.js';
import { qmgrMove } from './qmgr_move.js';
import { QMGR_SCAN, QmgrScan, type ScanItem } from './qmgr_scan.js';
import { QMGR_MSG_DEFER, type QmgrMessage } from './qmgr_message.js';
import { ResolveCache, resolveRecipients, type ResolveSettings } from './qmgr_resolve.js';
import { qmgrActiveDone, qmgrActiveFeed, type ActiveContext } from './qmgr_active.js';
import { qmgrDeliver } from './qmgr_deliver.js';
import { qmgrDeferRecipients, qmgrDiscardDoubleBounce } from './qmgr_defer.js';

/** Resolves after the event loop has had a turn (timers, I/O, then this). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface QmgrDaemonOptions {
  config: MailConfig;
  params?: QmgrParams;
  /** Default: trivial-rewrite over private/rewrite. */
  resolver?: ResolveClient;
  /** Tests: where a transport's delivery agent is. */
  agentEndpoint?: (transport: string) => Endpoint;
  /** Tests: where the bounce/defer/trace services are. */
  bounceEndpoint?: (service: string) => Endpoint;
  /** Wall clock in ms (default Date.now). */
  now?: () => number;
  transportParams?: (transport: string) => TransportParams;
}

interface Tracked {
  message: QmgrMessage;
  /** What the scheduler knows of the current recipient batch. */
  sched: SchedMessage;
  /** Undelivered recipients not yet given to the scheduler (later batches). */
  rest: Recipient[];
  batches: number;
  /** Offsets of the recipients still in the scheduler or in a delivery. */
  pending: Set<number>;
  ready: boolean;
  finishing: boolean;
}

export class QmgrDaemon {
  readonly params: QmgrParams;
  readonly sched: QmgrScheduler;
  readonly incoming: QmgrScan;
  readonly deferred: QmgrScan;
  readonly #config: MailConfig;
  readonly #now: () => number;
  readonly #opts: QmgrDaemonOptions;
  readonly #messages = new Map<string, Tracked>();
  readonly #transportParams = new Map<string, TransportParams>();
  readonly #resolve: ResolveCache;
  readonly #resolveSettings: ResolveSettings;
  readonly #status: StatusContext;
  readonly #active: ActiveContext;
  readonly #smtputf8Enable: boolean;
  #inCoreRecipients = 0;
  #busy = 0;
  #feeding = false;
  #refilling = 0;
  #loopQueued = false;
  #stopped = false;
  #wakeupTimer: NodeJS.Timeout | null = null;
  #wakeupAt = Infinity;
  #deferredTimer: NodeJS.Timeout | null = null;
  #idleWaiters: Array<() => void> = [];

  constructor(opts: QmgrDaemonOptions) {
    this.#opts = opts;
    this.#config = opts.config;
    this.#now = opts.now ?? Date.now;
    this.params = opts.params ?? readQmgrParams(opts.config);
    const p = this.params;
    this.sched = new QmgrScheduler({
      clock: { now: this.#now },
      transportParams: (t) => this.#paramsFor(t),
      transportRetryMs: p.transportRetryTime * 1000,
      deadDestinationRetryMs: p.minBackoff * 1000,
      recipientDelimiter: p.recipientDelimiter,
      doubleBounceSender: p.doubleBounceSender,
      errorTransports: [MAIL_SERVICE.ERROR, MAIL_SERVICE.RETRY],
      log: (level, text) => (level === 'warn' ? msgWarn(text) : msgInfo(text)),
    });
    this.incoming = new QmgrScan(p.queueDir, MAIL_QUEUE.INCOMING);
    this.deferred = new QmgrScan(p.queueDir, MAIL_QUEUE.DEFERRED);
    this.#resolve = new ResolveCache(opts.resolver ?? resolveClient(opts.config), this.#now);
    this.#resolveSettings = {
      deferTransports: p.deferTransports,
      doubleBounceSender: p.doubleBounceSender,
      defaultFilterNexthop: opts.config.get('default_filter_nexthop'),
      myhostname: opts.config.get('myhostname'),
    };
    this.#smtputf8Enable = opts.config.getBool('smtputf8_enable');
    this.#status = { config: opts.config, queueDir: p.queueDir, endpoint: opts.bounceEndpoint };
    this.#active = {
      config: opts.config,
      params: p,
      bounce: { queueDir: p.queueDir, endpoint: opts.bounceEndpoint, timeoutMs: p.ipcTimeoutMs },
      now: this.#now,
    };
  }

  #paramsFor(transport: string): TransportParams {
    let tp = this.#transportParams.get(transport);
    if (!tp) {
      const limit = this.params.processLimits.get(transport) ?? this.params.defaultProcessLimit;
      tp = this.#opts.transportParams ? this.#opts.transportParams(transport) : readTransportParams(this.#config, transport, limit);
      this.#transportParams.set(transport, tp);
    }
    return tp;
  }

  /** Messages in core (fed, not yet disposed of). */
  get activeMessages(): number {
    return this.#messages.size;
  }

  get busyDeliveries(): number {
    return this.#busy;
  }

  /** Postfix qmgr_post_init: crash recovery, then the first scans. */
  async start(): Promise<void> {
    const p = this.params;
    await qmgrMove({ queueDir: p.queueDir, hash: p.hash }, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.INCOMING, Math.floor(this.#now() / 1000));
    this.incoming.request(QMGR_SCAN.START);
    this.#deferredRunEvent();
  }

  #deferredRunEvent(): void {
    if (this.#stopped) return;
    this.deferred.request(QMGR_SCAN.START);
    this.#kick();
    this.#deferredTimer = setTimeout(() => this.#deferredRunEvent(), this.params.queueRunDelay * 1000);
    this.#deferredTimer.unref?.();
  }

  /** One trigger from master or a client (Postfix qmgr_trigger_event). */
  trigger(data: Buffer): void {
    const { incoming, deferred } = parseQmgrTrigger(data);
    if ((incoming | deferred) & QMGR_SCAN.FLUSH_ONCE) this.sched.reviveAll();
    if (incoming) this.incoming.request(incoming);
    if (deferred) this.deferred.request(deferred);
    this.#kick();
  }

  /** Ends timers and feeding; deliveries in progress finish on their own. */
  stop(): void {
    this.#stopped = true;
    if (this.#wakeupTimer) clearTimeout(this.#wakeupTimer);
    if (this.#deferredTimer) clearTimeout(this.#deferredTimer);
    this.#wakeupTimer = this.#deferredTimer = null;
  }

  /** Resolves when nothing is being fed, delivered or disposed of (tests). */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return !this.#feeding && this.#refilling === 0 && this.#busy === 0 && !this.#loopQueued && ![...this.#messages.values()].some((t) => t.finishing) && !this.incoming.busy && !this.deferred.busy;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const f of w) f();
  }

  #kick(): void {
    if (this.#loopQueued || this.#stopped) return;
    this.#loopQueued = true;
    setImmediate(() => {
      this.#loopQueued = false;
      this.#loop();
    });
  }

  #roomForMore(): boolean {
    return this.#messages.size < this.params.activeLimit && this.#inCoreRecipients < this.params.rcptLimit;
  }

  #loop(): void {
    if (this.#stopped) return;
    this.#drain();
    if (!this.#feeding && this.#roomForMore() && (this.incoming.busy || this.deferred.busy)) void this.#feedLoop();
    this.#armWakeup();
    this.#checkIdle();
  }

  #drain(): void {
    for (;;) {
      const d = this.sched.select();
      if (d === null) break;
      this.#busy++;
      void this.#deliver(d).finally(() => {
        this.#busy--;
        this.#kick();
        this.#checkIdle();
      });
    }
  }

  #armWakeup(): void {
    const at = this.sched.nextWakeup();
    if (at === null || at >= this.#wakeupAt) return;
    if (this.#wakeupTimer) clearTimeout(this.#wakeupTimer);
    this.#wakeupAt = at;
    this.#wakeupTimer = setTimeout(() => {
      this.#wakeupTimer = null;
      this.#wakeupAt = Infinity;
      this.#kick();
    }, Math.max(0, at - this.#now()));
    this.#wakeupTimer.unref?.();
  }

  async #feedLoop(): Promise<void> {
    this.#feeding = true;
    try {
      while (!this.#stopped && this.#roomForMore()) {
        const a = await this.incoming.next();
        if (a) await this.#feedOne(MAIL_QUEUE.INCOMING, a);
        if (this.#stopped || !this.#roomForMore()) break;
        const b = await this.deferred.next();
        if (b) await this.#feedOne(MAIL_QUEUE.DEFERRED, b);
        if (!a && !b) break;
        // As Postfix's qmgr_loop(): deliveries start and I/O is served between feeds.
        await nextTurn();
      }
    } catch (err) {
      msgWarn(`qmgr: queue scan: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.#feeding = false;
      this.#kick();
      this.#checkIdle();
    }
  }

  async #feedOne(queue: string, item: ScanItem): Promise<void> {
    const message = qmgrActiveFeed(this.#active, queue, item.queueId, item.flags);
    if (!message) return;
    const t: Tracked = {
      message,
      sched: message,
      rest: message.recipients,
      batches: 0,
      pending: new Set(),
      ready: false,
      finishing: false,
    };
    message.recipients = [];
    this.#messages.set(message.queueId, t);
    if (message.qflags & QMGR_SCAN.FLUSH_EACH) this.sched.reviveAll();
    await this.#feedBatch(t);
  }

  /** Postfix's recipient_limit for one read: what is left of qmgr_message_recipient_limit, within bounds. */
  #batchSize(): number {
    const p = this.params;
    return Math.min(QMGR_RCPT_BATCH_MAX, Math.max(p.rcptLimit - this.#inCoreRecipients, p.rcptMinimum));
  }

  /** Resolves the next batch of a message's recipients and gives it to the scheduler. */
  async #feedBatch(t: Tracked): Promise<void> {
    const message = t.message;
    const batch = t.rest.slice(0, this.#batchSize());
    t.rest = t.rest.slice(batch.length);
    t.ready = false;
    // Each batch is a new job for the scheduler (Postfix re-reads the queue file for more recipients).
    if (t.batches++ > 0) t.sched = { queueId: message.queueId, arrival: message.arrival };
    try {
      const res = await resolveRecipients(message, this.#resolve, this.#resolveSettings, batch, t.batches === 1);
      for (const rcpt of res.doubleBounces) await qmgrDiscardDoubleBounce(this.#status, message, rcpt);
      for (const g of res.groups) {
        for (const r of g.recipients) {
          t.pending.add(r.offset);
          this.#inCoreRecipients++;
        }
        await this.#deferWork(this.sched.addRecipients(t.sched, g.transport, g.nexthop, g.recipients));
        this.#kick();
      }
    } catch (err) {
      // The rewrite service stayed unreachable: try this message again later.
      msgWarn(`${message.queueId}: cannot resolve recipients: ${err instanceof Error ? err.message : String(err)}`);
      message.flags |= QMGR_MSG_DEFER;
      t.rest = [];
    }
    this.sched.messageReady(t.sched);
    t.ready = true;
    this.#maybeFinish(t);
  }

  #release(t: Tracked, offsets: Iterable<number>): void {
    for (const off of offsets) if (t.pending.delete(off)) this.#inCoreRecipients--;
  }

  async #deferWork(work: readonly DeferredWork[]): Promise<void> {
    for (const w of work) {
      const t = this.#messages.get(w.message.queueId);
      if (!t) {
        msgWarn(`qmgr: deferred work for unknown message ${w.message.queueId}`);
        continue;
      }
      await qmgrDeferRecipients(this.#status, t.message, w.nexthop, w.recipients, w.dsn);
      this.#release(
        t,
        w.recipients.map((r) => r.offset),
      );
      this.#maybeFinish(t);
    }
  }

  async #deliver(d: SchedDelivery): Promise<void> {
    const t = this.#messages.get(d.message.queueId);
    if (!t) {
      msgWarn(`qmgr: delivery for unknown message ${d.message.queueId}`);
      this.sched.deliveryDone(d, { kind: 'ok' });
      return;
    }
    const res = await qmgrDeliver(t.message, d.recipients, {
      queueDir: this.params.queueDir,
      transport: d.transport,
      nexthop: d.nexthop,
      timeoutMs: this.params.daemonTimeoutMs,
      smtputf8Enable: this.#smtputf8Enable,
      dflags: (d.connLoad ? DEL_REQ_FLAG.CONN_LOAD : 0) | (d.connStore ? DEL_REQ_FLAG.CONN_STORE : 0),
      endpoint: this.#opts.agentEndpoint,
      now: this.#now,
    });
    if (res.deferred) t.message.flags |= QMGR_MSG_DEFER;
    const out = this.sched.deliveryDone(d, res.outcome);
    await this.#deferWork(out.deferred);
    if (res.outcome.kind === 'transport-fail') {
      // Postfix assumes the worst: every recipient of a failed delivery gets a defer log record.
      const logged = new Set(out.deferred.filter((w) => w.message.queueId === t.message.queueId).flatMap((w) => w.recipients.map((r) => r.offset)));
      const rest = d.recipients.filter((r) => !logged.has(r.offset));
      if (rest.length > 0) await qmgrDeferRecipients(this.#status, t.message, d.nexthop, rest, res.outcome.dsn);
    }
    this.#release(
      t,
      d.recipients.map((r) => r.offset),
    );
    this.#maybeFinish(t);
  }

  #maybeFinish(t: Tracked): void {
    if (!t.ready || t.finishing || t.pending.size > 0) return;
    if (t.rest.length > 0 && t.message.redirectAddr === '') {
      this.#refilling++;
      void this.#feedBatch(t).finally(() => {
        this.#refilling--;
        this.#kick();
        this.#checkIdle();
      });
      return;
    }
    t.finishing = true;
    void qmgrActiveDone(this.#active, t.message)
      .catch((err: unknown) => msgWarn(`${t.message.queueId}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        this.#messages.delete(t.message.queueId);
        this.#kick();
        this.#checkIdle();
      });
  }
}
