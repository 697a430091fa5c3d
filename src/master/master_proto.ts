/*
 * master_proto - the messages between master(8) and its worker processes
 *
 * What it does: names the messages that travel over the Node IPC channel
 * between master and a worker it forked (the role of Postfix's status
 * pipe plus the listen descriptors), and the command-line options master
 * passes to a worker. master.ts and mail_server.ts both import it, so the
 * two ends cannot drift apart.
 *
 *   master -> worker   { t: 'conn', id }  + a paused net.Socket handle
 *                      { t: 'listen', slot }  + a listening net.Server:
 *                                         accept on it yourself, at most
 *                                         maxproc clients at once
 *                                         (ENV_PROCESS_LIMIT; master_lend.ts)
 *                      { t: 'trigger', data }   (fifo input, wakeup)
 *                      { t: 'stop' }    finish current clients, then exit
 *   worker -> master   { t: 'ready' }   initialised; may receive
 *                                         clients and listeners
 *                      { t: 'done', id }  that client (from 'conn') has gone
 *                      { t: 'retire', why }  wants no new clients
 *                                         (max_idle, max_use, table changed)
 *                      { t: 'unlisten', slot }  + the net.Server it was
 *                                         lent: the worker takes no more
 *                      { t: 'limit' }   a client accepted on a lent
 *                                         listener waits: maxproc busy
 *
 * What it does not do: carry mail data (daemons speak attr0 among
 * themselves), or validate messages beyond their shape (isMasterMessage).
 *
 * DIAGNOSTICS
 * None here; a malformed message is reported by the receiving side.
 */

export const MASTER_MSG = {
  CONN: 'conn',
  LISTEN: 'listen',
  UNLISTEN: 'unlisten',
  LIMIT: 'limit',
  TRIGGER: 'trigger',
  STOP: 'stop',
  READY: 'ready',
  DONE: 'done',
  RETIRE: 'retire',
} as const;

export type MasterToWorker =
  | { t: typeof MASTER_MSG.CONN; id: number }
  | { t: typeof MASTER_MSG.LISTEN; slot: number }
  | { t: typeof MASTER_MSG.TRIGGER; data: string /* base64 */ }
  | { t: typeof MASTER_MSG.STOP };

export type WorkerToMaster =
  | { t: typeof MASTER_MSG.READY }
  | { t: typeof MASTER_MSG.DONE; id: number }
  | { t: typeof MASTER_MSG.UNLISTEN; slot: number }
  | { t: typeof MASTER_MSG.LIMIT }
  | { t: typeof MASTER_MSG.RETIRE; why: 'max_idle' | 'max_use' | 'table_changed' };

/**
 * The worker command-line options master adds in front of the master.cf
 * arguments, as Postfix's master does (-n name -t type, -u when the
 * service is unprivileged, -v). The configuration directory travels in
 * MAIL_CONFIG, as in Postfix. (Postfix's -c means chroot; Postern does
 * not chroot and does not pass it.)
 */
export const WORKER_OPT = {
  SERVICE_NAME: '-n',
  SERVICE_TYPE: '-t',
  VERBOSE: '-v',
  OVERRIDE: '-o',
  UNPRIVILEGED: '-u',
} as const;

/** Environment master sets for a worker: the configuration directory, as Postfix does. */
export const ENV_MAIL_CONFIG = 'MAIL_CONFIG';
/** And the service's master.cf process limit (maxproc, 0 = unlimited), which max_use is counted against. */
export const ENV_PROCESS_LIMIT = 'POSTERN_PROCESS_LIMIT';

export interface LooseMessage {
  t: string;
  id?: unknown;
  data?: unknown;
  why?: unknown;
  slot?: unknown;
}

export function isMasterMessage(m: unknown): m is LooseMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
