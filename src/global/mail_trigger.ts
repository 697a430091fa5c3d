/*
 * mail_trigger - wake up a mail service (Postfix mail_trigger)
 *
 * What it does: mailTrigger(queueDir, klass, service, data) finds the
 * endpoint queue_directory/<class>/<service>, looks at what it is, and
 * sends the request bytes through fifoTrigger() for a FIFO or
 * unixTrigger() for a UNIX socket, bounded by timeoutMs (default
 * trigger_timeout, 10s). Typical data: TRIGGER_REQ_WAKEUP for pickup,
 * QMGR_REQ.SCAN_INCOMING for qmgr.
 *
 * CoalescedTrigger shares one trigger among concurrent callers (cleanup
 * waking qmgr after each message): at most one request in flight and one
 * more after it, and callers never wait.
 *
 * What it does not do: read master.cf to learn the endpoint type (it asks
 * the file system, as Postfix does) or start a service that is down.
 *
 * DIAGNOSTICS
 * Never throws; resolves false on failure. Warnings, worded as Postfix's:
 * "unable to look up CLASS/SERVICE: REASON" and "CLASS/SERVICE is not a
 * socket or a fifo" (relative to queue_directory, as Postfix prints them).
 * Why an existing endpoint did not take the trigger is logged only with
 * -v, as in Postfix (the caller reports the failure in its own words).
 */
import { statSync } from 'node:fs';
import { fifoTrigger } from '../util/fifo_trigger.js';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { type TriggerWhy, unixTrigger } from '../util/unix_trigger.js';
import { type MailClass, mailPathname } from './mail_proto.js';

/** Postfix trigger_timeout default: 10s. */
export const DEF_TRIGGER_TIMEOUT_MS = 10 * 1000;

export async function mailTrigger(
  queueDir: string,
  klass: MailClass,
  service: string,
  data: Buffer | string,
  timeoutMs: number = DEF_TRIGGER_TIMEOUT_MS,
): Promise<boolean> {
  const path = mailPathname(queueDir, klass, service);
  // Postfix programs run inside queue_directory and name the endpoint relative to it.
  const shown = `${klass}/${service}`;
  let st;
  try {
    // Synchronous: one stat(2) costs less than a thread-pool round trip.
    st = statSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    msgWarn(`unable to look up ${shown}: ${describeErrno(e)}`);
    return false;
  }
  const out: TriggerWhy = {};
  let ok: boolean;
  if (st.isFIFO()) {
    ok = await fifoTrigger(path, data, timeoutMs, out);
  } else if (st.isSocket()) {
    ok = await unixTrigger(path, data, timeoutMs, out);
  } else {
    msgWarn(`${shown} is not a socket or a fifo`);
    return false;
  }
  if (!ok) msgVerbose(`mail_trigger: ${out.why ?? path}`);
  return ok;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  ENOTDIR: 'Not a directory',
  ELOOP: 'Too many levels of symbolic links',
};

/** strerror()-style text, as Postfix's %m prints it. */
function describeErrno(e: NodeJS.ErrnoException): string {
  return (e.code && ERRNO_TEXT[e.code]) || e.message;
}

/**
 * A trigger that many concurrent callers share: while one request is on
 * its way, further calls only note that another is wanted, and exactly
 * one more request follows when it is done. A busy cleanup finishing
 * hundreds of messages a second thus wakes qmgr with a handful of
 * connections instead of one per message, and never waits for them: a
 * trigger only says "look at the queue", and one sent after the last
 * message was finished covers every message before it.
 */
export class CoalescedTrigger {
  #inFlight = false;
  #again = false;

  constructor(
    private readonly queueDir: string,
    private readonly klass: MailClass,
    private readonly service: string,
    private readonly data: Buffer | string,
    private readonly timeoutMs: number = DEF_TRIGGER_TIMEOUT_MS,
  ) {}

  /** Asks for a trigger; returns at once. */
  fire(): void {
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    this.#inFlight = true;
    void this.#run();
  }

  async #run(): Promise<void> {
    do {
      this.#again = false;
      await mailTrigger(this.queueDir, this.klass, this.service, this.data, this.timeoutMs).catch(() => false);
    } while (this.#again);
    this.#inFlight = false;
  }
}
