/*
 * master_wakeup - periodic wakeup triggers for services (master.cf column 5)
 *
 * What it does: for a service with a wakeup time, sends the wakeup
 * request "W" (TRIGGER_REQ_WAKEUP) every wakeupSeconds, the first one at
 * once, as Postfix's master_wakeup.c does. A unix or pass service gets it
 * through its own socket (unix_trigger, so the worker sees exactly what
 * any other client would send and the wakeup starts the worker on
 * demand); a fifo service gets it injected where master reads the fifo;
 * an inet service through a loopback TCP connect to its first address.
 * A time with '?' ("wake up only when used") starts the timer only once
 * the service has been used (master_spawn's onFirstUse). Throttled
 * services are not woken.
 *
 * What it does not do: choose the data for other requests (qmgr's D/I/F
 * letters come from postqueue/postfix flush), or wake services that
 * have no wakeup time.
 *
 * DIAGNOSTICS
 * A wakeup that cannot be delivered is a warning
 * ("master_wakeup_timer_event: service NAME(ENDPOINT): reason").
 */
import { connect } from 'node:net';
import { TRIGGER_REQ_WAKEUP } from '../global/mail_proto.js';
import { unixTrigger } from '../util/unix_trigger.js';
import { msgVerbose, msgWarn } from '../util/msg.js';
import type { ServiceRuntime } from './master_spawn.js';

/** Postfix's BRIEFLY: a wakeup must not block master for long. */
export const WAKEUP_TIMEOUT_MS = 1000;

const timers = new Map<ServiceRuntime, NodeJS.Timeout>();

function inetTrigger(host: string, port: number, data: string): Promise<boolean> {
  return new Promise((resolve) => {
    const target = host === '::' || host === '0.0.0.0' ? (host === '::' ? '::1' : '127.0.0.1') : host;
    const sock = connect({ host: target, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, WAKEUP_TIMEOUT_MS);
    sock.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    sock.on('connect', () => {
      clearTimeout(timer);
      sock.end(data, () => resolve(true));
      sock.resume();
    });
  });
}

async function wakeOnce(rt: ServiceRuntime): Promise<void> {
  const spec = rt.spec;
  if (rt.throttled) return;
  msgVerbose(`master_wakeup_timer_event: service ${spec.endpoint.label}`);
  const why: { why?: string } = {};
  let ok = true;
  if (spec.type === 'fifo') {
    rt.addTrigger(Buffer.from(TRIGGER_REQ_WAKEUP, 'latin1'));
  } else if (spec.endpoint.kind === 'path') {
    ok = await unixTrigger(spec.endpoint.path, TRIGGER_REQ_WAKEUP, WAKEUP_TIMEOUT_MS, why);
  } else if (spec.endpoint.addrs.length > 0) {
    const a = spec.endpoint.addrs[0];
    ok = await inetTrigger(a.host, a.port, TRIGGER_REQ_WAKEUP);
  }
  if (!ok) msgWarn(`master_wakeup_timer_event: service ${spec.name}(${spec.endpoint.label}): ${why.why ?? 'connection failed'}`);
}

/** Starts the timer (first wakeup now). Safe to call again: restarts it. */
export function wakeupStart(rt: ServiceRuntime): void {
  wakeupStop(rt);
  const seconds = rt.spec.wakeupSeconds;
  if (seconds <= 0) return;
  const tick = (): void => {
    void wakeOnce(rt);
    timers.set(rt, setTimeout(tick, seconds * 1000));
  };
  tick();
}

/** Called at startup/reload: unconditional wakeups start now, '?' ones wait for first use. */
export function wakeupInit(rt: ServiceRuntime): void {
  if (rt.spec.wakeupSeconds <= 0) return wakeupStop(rt);
  if (rt.spec.wakeupOnlyWhenUsed && !rt.used) return;
  wakeupStart(rt);
}

export function wakeupStop(rt: ServiceRuntime): void {
  const t = timers.get(rt);
  if (t) clearTimeout(t);
  timers.delete(rt);
}
