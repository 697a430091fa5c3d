/*
 * qmgr_trigger - what a qmgr trigger asks for (Postfix qmgr.c qmgr_trigger_event)
 *
 * What it does: parseQmgrTrigger() collapses the request letters of one
 * trigger into scan flags for the incoming and deferred scans, as
 * Postfix does: W and I start an incoming scan, D a deferred scan, F
 * forgets dead destinations and lifts defer_transports (for both), A
 * ignores queue file time stamps (for both). Unknown bytes are ignored
 * (logged with -v); the NUL that ends a request is no request.
 *
 * What it does not do: act on the flags (qmgr_loop.ts does).
 *
 * DIAGNOSTICS
 * "request ignored" with -v only.
 */
import { msgVerbose } from '../util/msg.js';
import { QMGR_REQ, TRIGGER_REQ_WAKEUP } from '../global/mail_proto.js';
import { QMGR_SCAN } from './qmgr_scan.js';

/** Postfix collapses the request bytes of one trigger into scan flags. */
export function parseQmgrTrigger(data: Buffer): { incoming: number; deferred: number } {
  let incoming = 0;
  let deferred = 0;
  const before = QMGR_SCAN.FLUSH_ONCE | QMGR_SCAN.FLUSH_DFXP;
  for (const ch of data.toString('latin1')) {
    if (ch === TRIGGER_REQ_WAKEUP || ch === QMGR_REQ.SCAN_INCOMING) incoming |= QMGR_SCAN.START;
    else if (ch === QMGR_REQ.SCAN_DEFERRED) deferred |= QMGR_SCAN.START;
    else if (ch === QMGR_REQ.FLUSH_DEAD) {
      incoming |= before;
      deferred |= before;
    } else if (ch === QMGR_REQ.SCAN_ALL) {
      incoming |= QMGR_SCAN.ALL;
      deferred |= QMGR_SCAN.ALL;
    } else if (ch !== '\0') msgVerbose(`request ignored: ${ch.charCodeAt(0)}`);
  }
  return { incoming, deferred };
}
