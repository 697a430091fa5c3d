/*
 * master_avail - maxproc accounting for one service
 *
 * What it does: in Postern one worker process serves many clients, so
 * master.cf's maxproc limits the clients a service holds at once, not
 * its processes (DESIGN.md). ProcessLimit answers "may one more client
 * be handed out now?" and logs Postfix's warning, at most once per
 * PROCESS_LIMIT_WARN_INTERVAL_S, when a client has to wait because the
 * service is at its limit:
 *
 *   warning: service "smtp" (25) has reached its process limit "100":
 *   new clients may experience noticeable delays
 *
 * followed by Postfix's two advice lines.
 *
 * What it does not do: queue the waiting clients (master_spawn.ts keeps
 * them, bounded by MASTER_PENDING_LIMIT).
 *
 * DIAGNOSTICS
 * Warnings only.
 */
import { msgWarn } from '../util/msg.js';

/** Postfix warns about a service at its process limit at most this often. */
export const PROCESS_LIMIT_WARN_INTERVAL_S = 1000;

export class ProcessLimit {
  #lastWarn = -Infinity;

  constructor(
    private readonly serviceName: string,
    private readonly endpointLabel: string,
    public maxproc: number,
  ) {}

  /** True while fewer than maxproc clients are held (0 = unlimited). */
  hasRoom(active: number): boolean {
    return this.maxproc <= 0 || active < this.maxproc;
  }

  /** Called when a client must wait for a slot. */
  noteWaiting(now = Date.now()): void {
    if (now - this.#lastWarn < PROCESS_LIMIT_WARN_INTERVAL_S * 1000) return;
    this.#lastWarn = now;
    msgWarn(
      `service "${this.serviceName}" (${this.endpointLabel}) has reached its process limit "${this.maxproc}": ` +
        'new clients may experience noticeable delays',
    );
    msgWarn('to avoid this condition, increase the process count in master.cf or reduce the service time per client');
    msgWarn('see http://www.postfix.org/STRESS_README.html for examples of stress-adapting configuration settings');
  }
}
