/*
 * qmgr_sched_snapshot - destination queue names, congestion warnings and the scheduler's state as plain data
 *
 * What it does: destinationQueueName() is the queue naming of Postfix's
 * qmgr_message_resolve(): the nexthop, or, for per-recipient delivery
 * (destination recipient limit 1, not the error/retry transports), the
 * recipient's local part without its address extension (split_addr with
 * recipient_delimiter) + "@" + nexthop, lowercased. schedSnapshot()
 * renders transports, jobs and queues as a sorted plain object for tests,
 * logs and golden files. clogWarnings() words Postfix's qmgr_entry_create()
 * warnings for a destination that holds more than a fifth of
 * qmgr_message_active_limit entries (the caller rate-limits them with
 * qmgr_clog_warn_time).
 *
 * What it does not do: change any state.
 *
 * DIAGNOSTICS
 * None.
 */
import { splitAddrIndex } from '../global/mail_addr_find.js';
import type { SchedQueue } from './qmgr_sched_queue.js';
import type { SchedTransport } from './qmgr_sched_transport.js';

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export function destinationQueueName(
  nexthop: string,
  address: string,
  perRecipient: boolean,
  opts: { recipientDelimiter?: string; doubleBounceSender?: string },
): string {
  let name = nexthop;
  if (perRecipient) {
    const at = address.lastIndexOf('@');
    let local = at >= 0 ? address.slice(0, at) : address;
    const delim = opts.recipientDelimiter ?? '';
    if (delim !== '') {
      const i = splitAddrIndex(local, delim, { doubleBounceSender: opts.doubleBounceSender });
      if (i >= 0) local = local.slice(0, i);
    }
    name = `${local}@${nexthop}`;
  }
  return name.toLowerCase();
}

export function schedSnapshot(now: number, messages: number, recipients: number, busy: number, transports: SchedTransport[]): object {
  return {
    now,
    messages,
    recipients,
    busy,
    transports: [...transports].sort(byName).map((t) => ({
      name: t.name,
      busy: t.busy,
      dead: t.deadDsn ? { until: t.deadUntil, status: t.deadDsn.status, reason: t.deadDsn.reason } : null,
      jobs: t.jobs().map((j) => ({
        queueId: j.message.msg.queueId,
        level: j.stackLevel,
        selected: j.selectedEntries,
        read: j.readEntries,
        slotsAvailable: j.slotsAvailable,
      })),
      current: t.jobCurrent?.message.msg.queueId ?? null,
      queues: [...t.queues.values()].sort(byName).map((q) => ({
        name: q.name,
        window: q.window,
        success: q.success,
        failure: q.failure,
        failCohorts: q.failCohorts,
        todo: q.todo.size,
        busy: q.busy.size,
        dsn: q.dsn ? q.dsn.reason : null,
      })),
    })),
  };
}

/** Postfix qmgr_entry_create()'s congestion warnings for q, or [] when it holds few entries. */
export function clogWarnings(q: SchedQueue, messages: number, activeLimit: number): string[] {
  const length = q.todoRefcount + q.busyRefcount;
  if (length <= Math.trunc(activeLimit / 5)) return [];
  const t = q.transport;
  const share = length / messages;
  const out = [`mail for ${q.nexthop} is using up ${length} of ${messages} active queue entries`];
  if (share < 0.9) out.push('this may slow down other mail deliveries');
  if (t.destConcurrencyLimit > 0 && t.destConcurrencyLimit <= q.busyRefcount + 1) {
    out.push(`you may need to increase the main.cf ${t.name}_destination_concurrency_limit from ${t.destConcurrencyLimit}`);
  } else if (q.window > activeLimit * share) {
    out.push(`you may need to increase the main.cf qmgr_message_active_limit from ${activeLimit}`);
  } else if (t.queueOrder.length > 1) {
    out.push(`you may need a separate master.cf transport for ${q.nexthop}`);
  } else {
    out.push(`you may need to reduce ${t.name} connect and helo timeouts`);
    out.push('so that Postfix quickly skips unavailable hosts');
    out.push('you may need to increase the main.cf minimal_backoff_time and maximal_backoff_time');
    out.push('so that Postfix wastes less time on undeliverable mail');
    out.push(`you may need to increase the master.cf ${t.name} process limit`);
  }
  out.push('please avoid flushing the whole queue when you have');
  out.push('lots of deferred mail, that is bad for performance');
  out.push('to turn off these warnings specify: qmgr_clog_warn_time = 0');
  return out;
}
