/*
 * cleanup_map1n - one-to-many address mapping (virtual_alias_maps) for cleanup(8)
 *
 * What it does: cleanupMap1nInternal() is Postfix's cleanup_map1n.c: it
 * expands one internal-form address through virtual_alias_maps into a
 * list, in place: each member is looked up (mailAddrMap, with
 * propagate_unmatched_extensions "virtual") and replaced by the first
 * address of its result, the others being appended to the list, until
 * it no longer matches. An address whose result contains the address
 * itself (case-insensitively) is kept and not expanded again, so
 * "a@x -> a@x, b@x" delivers to both. Limits, each ending the expansion
 * with the message not accepted (CLEANUP_STAT.DEFER, reason "4.6.0 Alias
 * expansion error"): more than virtual_alias_expansion_limit addresses,
 * more than virtual_alias_recursion_limit successive lookups for one
 * member, a result longer than virtual_alias_address_length_limit.
 *
 * cleanupOutRecipient() is cleanup_out_recipient.c: the expansion of one
 * recipient (flag MAP_OK), then the message's duplicate filter (whose key
 * leaves out the DSN attributes and original recipient when
 * enable_original_recipient is off; the O record is written either way);
 * a NOTIFY=SUCCESS recipient that expanded into something else yields an
 * "expanded" trace notice and loses SUCCESS (NEVER when nothing is left);
 * in an address verification request a recipient that expands into
 * several addresses is reported "deliverable" and not written.
 *
 * What it does not do: write records or talk to the trace service.
 *
 * DIAGNOSTICS
 *   QUEUEID: unreasonable TITLE map expansion size for ADDR -- message not accepted, try again later
 *   QUEUEID: unreasonable TITLE map nesting for ADDR -- message not accepted, try again later
 *   QUEUEID: unreasonable TITLE result RESULT... -- message not accepted, try again later
 *     (these three: CleanupAddrError status DEFER)
 *   QUEUEID: TITLE map lookup problem for ADDR -- message not accepted, try again later
 *     (CleanupAddrError status WRITE)
 * all with reason "4.6.0 Alias expansion error". ADDR is the address
 * being expanded, as Postfix logs it.
 */
import { DSN_NOTIFY } from '../global/dsn.js';
import { DictError } from '../global/dict_base.js';
import type { Maps } from '../global/maps.js';
import { clog } from './cleanup_log.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import type { CleanupAddrCtx, CleanupAddrDeps, RecipientOut } from './cleanup_addr.js';
import { DupFilter, recipientKey } from './cleanup_dup_filter.js';
import { ALIAS_EXPANSION_ERROR, CleanupAddrError, mailAddrMap, sameAddress } from './cleanup_map11.js';

export { DSN_NOTIFY };

/**
 * A DSN notice cleanup_out_recipient makes: "expanded" (2.0.0 alias
 * expanded) for the trace log when a NOTIFY=SUCCESS recipient expanded,
 * or, in an address verification request (ctx.mtaVerify), "deliverable"
 * (2.0.0 aliased to multiple recipients) for the verify service when the
 * recipient expanded into several addresses, none of which is written.
 */
export interface TraceNotice extends RecipientOut {
  service: 'trace' | 'verify';
  action: 'expanded' | 'deliverable';
  status: '2.0.0';
  text: 'alias expanded' | 'aliased to multiple recipients';
}

/** How much of an over-long result the warning shows (Postfix %.300s). */
export const MAP1N_RESULT_LOG_LIMIT = 300;

/** Length in bytes, as strlen() sees the address (envelope addresses are decoded UTF-8). */
function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Expand one internal-form address; the final list (the address itself when nothing matched). */
export async function cleanupMap1nInternal(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, address: string, maps: Maps): Promise<string[]> {
  const s = deps.settings;
  const argv = [address];
  const expandedToSelf = new DupFilter(0);
  const fail = (text: string, status: number): never => {
    clog.warn(text);
    throw new CleanupAddrError(text, status, ALIAS_EXPANSION_ERROR, maps.title);
  };
  for (let arg = 0; arg < argv.length; arg++) {
    if (argv.length > s.virtualExpansionLimit) {
      fail(`${ctx.queueId}: unreasonable ${maps.title} map expansion size for ${address} -- message not accepted, try again later`, CLEANUP_STAT.DEFER);
    }
    for (let count = 0; ; count++) {
      if (expandedToSelf.check(argv[arg]!)) break;
      if (count >= s.virtualRecursionLimit) {
        fail(`${ctx.queueId}: unreasonable ${maps.title} map nesting for ${address} -- message not accepted, try again later`, CLEANUP_STAT.DEFER);
      }
      let lookup: string[] | null;
      try {
        lookup = await mailAddrMap(deps, maps, argv[arg]!, s.extProp.virtual, 'internal', 'internal');
      } catch (err) {
        if (!(err instanceof DictError)) throw err;
        return fail(`${ctx.queueId}: ${maps.title} map lookup problem for ${address} -- message not accepted, try again later`, CLEANUP_STAT.WRITE);
      }
      if (lookup === null) break;
      const savedLhs = argv[arg]!;
      for (let i = 0; i < lookup.length; i++) {
        const result = lookup[i]!;
        if (byteLength(result) > s.virtualAddressLengthLimit) {
          fail(`${ctx.queueId}: unreasonable ${maps.title} result ${result.slice(0, MAP1N_RESULT_LOG_LIMIT)}... -- message not accepted, try again later`, CLEANUP_STAT.DEFER);
        }
        if (i === 0) argv[arg] = result;
        else argv.push(result);
        // An address may expand into itself once.
        if (sameAddress(savedLhs, result)) expandedToSelf.seen(savedLhs);
      }
    }
  }
  return argv;
}

/** cleanup_out_recipient: virtual alias expansion and the duplicate filter. */
export async function cleanupOutRecipient(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, dups: DupFilter, r: RecipientOut): Promise<{ out: RecipientOut[]; trace: TraceNotice[] }> {
  const enableOrcpt = deps.settings.enableOriginalRecipient;
  const orcpt = r.orcpt;
  const out: RecipientOut[] = [];
  const trace: TraceNotice[] = [];
  let dsnNotify = r.dsnNotify;
  let list = [r.recipient];
  if ((ctx.flags & CLEANUP_FLAG.MAP_OK) !== 0 && deps.maps.virtualAlias) {
    list = await cleanupMap1nInternal(deps, ctx, r.recipient, deps.maps.virtualAlias);
    if (list.length > 1 && ctx.mtaVerify) {
      const text = 'aliased to multiple recipients';
      return { out, trace: [{ dsnNotify, dsnOrcpt: r.dsnOrcpt, orcpt, recipient: r.recipient, service: 'verify', action: 'deliverable', status: '2.0.0', text }] };
    }
    if (dsnNotify & DSN_NOTIFY.SUCCESS && (list.length > 1 || list[0] !== r.recipient)) {
      trace.push({ dsnNotify, dsnOrcpt: r.dsnOrcpt, orcpt, recipient: r.recipient, service: 'trace', action: 'expanded', status: '2.0.0', text: 'alias expanded' });
      dsnNotify = dsnNotify === DSN_NOTIFY.SUCCESS ? DSN_NOTIFY.NEVER : dsnNotify & ~DSN_NOTIFY.SUCCESS;
    }
  }
  for (const recipient of list) {
    if (!dups.seen(recipientKey(enableOrcpt, r.dsnOrcpt, dsnNotify, orcpt, recipient))) {
      out.push({ dsnNotify, dsnOrcpt: r.dsnOrcpt, orcpt, recipient });
    }
  }
  return { out, trace };
}
