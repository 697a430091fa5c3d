/*
 * log_adhoc - the delivery log line (Postfix log_adhoc.c, util/format_tv.c)
 *
 * What it does: logAdhoc() logs, from the delivery agent's process,
 *
 *   QUEUEID: to=<rcpt>, orig_to=<orig>, relay=RELAY, conn_use=N,
 *     delay=D, delays=a/b/c/d, dsn=X.Y.Z, status=STATUS (reason)
 *
 * as Postfix does: orig_to only when it differs from the address (case
 * ignored), conn_use only for a reused connection, addresses in the form
 * info_log_address_format asks for, and the delays computed from MsgStats
 * with Postfix's rules for missing time stamps (no queue manager, no
 * delivery agent, no network connection) and formatted by formatTv():
 * large values rounded to whole seconds, small ones with two significant
 * digits but never more decimals than delay_logging_resolution_limit,
 * trailing zeros dropped.
 *
 * StatusContext is what the status reporting calls (sent.ts, bounce.ts,
 * defer.ts, trace.ts) need: the configuration and the queue directory.
 *
 * What it does not do: decide the status or talk to the bounce service
 * (sent.ts, bounce.ts, defer.ts), or read the clock except for "now" when
 * the agent gave no delivery-done time stamp.
 *
 * DIAGNOSTICS
 * None; the line goes out through msgInfo().
 */
import { msgInfo } from '../util/msg.js';
import type { Dsn } from './dsn.js';
import type { Endpoint } from './ipc/attr_clnt.js';
import type { MailConfig } from './mail_conf.js';
import type { MsgStats } from './msg_stats.js';
import { quote822Local } from './quote_822_local.js';
import type { Recipient } from './recipient_list.js';

/** What the status reporting calls need (sent, bounceAppend, deferAppend, traceAppend). */
export interface StatusContext {
  config: MailConfig;
  queueDir: string;
  /** The agent's program name for <program>_delivery_status_filter (default: the logging name, msgProgName()). */
  program?: string;
  /** Tests: where the bounce/defer/trace services are (default: queueDir/private/<service>). */
  endpoint?: (service: string) => Endpoint;
}

const MILLION = 1_000_000;
const POW10 = [1, 10, 100, 1000, 10000, 100000, 1000000] as const;
/** Postfix log_adhoc SIG_DIGS: significant digits of small delays. */
export const LOG_ADHOC_SIG_DIGS = 2;

/**
 * A time as Postfix's format_tv(): sec and usec non-negative, sigDig in
 * 1..6 significant digits for small values, maxDig in 0..6 decimals at most.
 */
export function formatTv(sec: number, usec: number, sigDig: number, maxDig: number): string {
  if (maxDig < 0 || maxDig > 6) throw new RangeError(`format_tv: bad maximum decimal count ${maxDig}`);
  if (sigDig < 1 || sigDig > 6) throw new RangeError(`format_tv: bad significant decimal count ${sigDig}`);
  if (sec < 0 || usec < 0 || usec > MILLION) throw new RangeError(`format_tv: bad time ${sec}s ${usec}us`);
  let ures = MILLION / POW10[maxDig]!;
  const wid = POW10[sigDig]!;
  if (ures < MILLION) {
    if (sec > 0) {
      let n = 1;
      while (sec >= n && n <= wid / 10) n *= 10;
      ures = (MILLION / wid) * n;
    } else {
      while (usec >= wid * ures) ures *= 10;
    }
  }
  if (ures > 1) {
    usec += Math.floor(ures / 2);
    if (usec >= MILLION) {
      sec += 1;
      usec -= MILLION;
    }
  }
  let out = String(sec);
  if (usec >= ures) {
    out += '.';
    let rem = usec;
    for (let n = MILLION / 10; rem >= ures && n >= 1; n /= 10) {
      out += String(Math.floor(rem / n));
      rem %= n;
    }
  }
  return out;
}

/** A signed seconds/microseconds difference, clamped at zero as Postfix's DELTA(). */
interface DeltaTime {
  sec: number;
  usec: number;
}

/** Splits ms-with-fraction into whole seconds and microseconds (struct timeval). */
function toTimeval(ms: number): DeltaTime {
  const t = Math.round(ms * 1000);
  const sec = Math.floor(t / MILLION);
  return { sec, usec: t - sec * MILLION };
}

function delta(later: number, earlier: number): DeltaTime {
  const a = toTimeval(later);
  const b = toTimeval(earlier);
  let sec = a.sec - b.sec;
  let usec = a.usec - b.usec;
  while (usec < 0) {
    usec += MILLION;
    sec -= 1;
  }
  while (usec >= MILLION) {
    usec -= MILLION;
    sec += 1;
  }
  if (sec < 0) return { sec: 0, usec: 0 };
  return { sec, usec };
}

const ZERO: DeltaTime = { sec: 0, usec: 0 };

function stamped(ms: number): boolean {
  return ms >= 1000; // tv_sec > 0
}

/** delay and the four delays (before qmgr, in qmgr, connection setup, transmission) as Postfix computes them. */
export function computeDelays(stats: MsgStats, nowMs: number): { delay: DeltaTime; pdelay: DeltaTime; adelay: DeltaTime; sdelay: DeltaTime; xdelay: DeltaTime } {
  const now = stamped(stats.deliverDone) ? stats.deliverDone : nowMs;
  const delay = delta(now, stats.incomingArrival);
  let pdelay = ZERO;
  let adelay = ZERO;
  let sdelay = ZERO;
  let xdelay = ZERO;
  if (stamped(stats.activeArrival)) {
    pdelay = delta(stats.activeArrival, stats.incomingArrival);
    if (stamped(stats.agentHandoff)) {
      adelay = delta(stats.agentHandoff, stats.activeArrival);
      if (stamped(stats.connSetupDone)) {
        sdelay = delta(stats.connSetupDone, stats.agentHandoff);
        xdelay = delta(now, stats.connSetupDone);
      } else {
        xdelay = delta(now, stats.agentHandoff);
      }
    } else {
      adelay = delta(now, stats.activeArrival);
    }
  } else {
    pdelay = delta(now, stats.incomingArrival);
  }
  return { delay, pdelay, adelay, sdelay, xdelay };
}

/** The address as info_log_address_format wants it in logs. */
export function logAddrForm(config: MailConfig | null, addr: string): string {
  if (addr === '' || !config || config.get('info_log_address_format').trim() === 'internal') return addr;
  return quote822Local(addr);
}

export interface LogAdhocOptions {
  /** main.cf: delay_logging_resolution_limit, info_log_address_format (null: the defaults). */
  config: MailConfig | null;
  /** Clock for "now" when stats.deliverDone is not set (tests). */
  now?: () => number;
}

/** The log line without logging it. */
export function formatLogAdhoc(
  opts: LogAdhocOptions,
  queueId: string,
  stats: MsgStats,
  rcpt: Recipient,
  relay: string,
  dsn: Dsn,
  status: string,
): string {
  const maxRes = opts.config ? opts.config.getInt('delay_logging_resolution_limit') : 2;
  const res = Math.min(6, Math.max(0, maxRes));
  let line = `${queueId}: to=<${logAddrForm(opts.config, rcpt.address)}>`;
  if (rcpt.origAddress && rcpt.address.toLowerCase() !== rcpt.origAddress.toLowerCase()) {
    line += `, orig_to=<${logAddrForm(opts.config, rcpt.origAddress)}>`;
  }
  line += `, relay=${relay}`;
  if (stats.reuseCount > 0) line += `, conn_use=${stats.reuseCount + 1}`;
  const d = computeDelays(stats, (opts.now ?? Date.now)());
  const f = (x: DeltaTime): string => formatTv(x.sec, x.usec, LOG_ADHOC_SIG_DIGS, res);
  line += `, delay=${f(d.delay)}, delays=${f(d.pdelay)}/${f(d.adelay)}/${f(d.sdelay)}/${f(d.xdelay)}`;
  line += `, dsn=${dsn.status}, status=${status} (${dsn.reason})`;
  return line;
}

/** Logs one delivery event as Postfix's log_adhoc(). */
export function logAdhoc(
  opts: LogAdhocOptions,
  queueId: string,
  stats: MsgStats,
  rcpt: Recipient,
  relay: string,
  dsn: Dsn,
  status: string,
): void {
  msgInfo(formatLogAdhoc(opts, queueId, stats, rcpt, relay, dsn, status));
}
