/*
 * cleanup_bcc - automatic BCC lookups for cleanup(8) (sender_bcc_maps, recipient_bcc_maps)
 *
 * What it does: cleanupBccLookup() is the lookup half of Postfix's
 * automatic BCC: the (rewritten, mapped) envelope sender or recipient
 * is searched in sender_bcc_maps / recipient_bcc_maps with
 * mail_addr_find's partial-key order (no extension propagation), and the
 * result is taken as one external-form address and unquoted. The caller
 * (cleanup_addr.ts) then processes that address as a BCC recipient:
 * rewritten in the "local" context, recipient canonical mapping and
 * masquerading, virtual alias expansion, duplicate filter, written with
 * DSN NOTIFY=NEVER. always_bcc and header/body_checks BCC actions take
 * the same path at the end of the message (cleanupAddrFinish).
 *
 * What it does not do: the processing just described, or decide when a
 * lookup happens (flag BCC_OK and a non-empty address: cleanup_addr.ts).
 *
 * DIAGNOSTICS
 *   QUEUEID: TITLE map lookup problem -- message not accepted, try again later
 * then the promise rejects with CleanupAddrError (CLEANUP_STAT.WRITE).
 */
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { DictError } from '../global/dict_base.js';
import { mailAddrFind } from '../global/mail_addr_find.js';
import type { Maps } from '../global/maps.js';
import { unquote822Local } from '../global/quote_822_local.js';
import { clog } from './cleanup_log.js';
import type { CleanupAddrCtx, CleanupAddrDeps } from './cleanup_addr.js';
import { CleanupAddrError } from './cleanup_map11.js';

/** mail_addr_find_to_internal for a BCC map: the BCC address (internal form) or null. */
export async function cleanupBccLookup(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, maps: Maps, address: string): Promise<string | null> {
  try {
    const found = await mailAddrFind(maps, address, deps.findOptions);
    return found === null ? null : unquote822Local(found.result);
  } catch (err) {
    if (!(err instanceof DictError)) throw err;
    const text = `${ctx.queueId}: ${maps.title} map lookup problem -- message not accepted, try again later`;
    clog.warn(text);
    throw new CleanupAddrError(text, CLEANUP_STAT.WRITE, null, maps.title);
  }
}
