/*
 * cleanup_out_recipient - write envelope addresses after address processing
 *
 * What it does: the bridge between cleanup's record processing and the
 * address stages of cleanup_addr.ts (engineer A's: rewriting, canonical
 * maps, masquerading, virtual alias expansion, duplicate filter, the BCC
 * maps). CleanupAddrHooks is what the envelope and extracted segments
 * call: sender(state, address) writes the 'S' record (and the sender BCC
 * recipients right after it, where Postfix's cleanup_addr_sender writes
 * them), recipient(state, ...) writes each resulting recipient as
 * Postfix's cleanup_out_recipient does (attribute notify_flags when set,
 * attribute dsn_orig_rcpt when set, 'O', 'R'; the recipient count goes
 * up per 'R') and remembers the first recipient, bcc(state, address)
 * does the same for always_bcc and header/body check BCC recipients.
 * A table lookup error (CleanupAddrError) sets its CLEANUP_STAT bit.
 *
 * What it does not do: the address logic itself (cleanup_addr.ts).
 *
 * DIAGNOSTICS
 * Warnings come from cleanup_addr.ts; an unexpected exception from it is
 * turned into CLEANUP_STAT.WRITE with "QUEUEID: address processing
 * error: <text>".
 */
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { REC_TYPE } from '../global/rec_type.js';
import { clog } from './cleanup_log.js';
import {
  type CleanupAddrCtx,
  type CleanupAddrDeps,
  type RecipientOut,
  CleanupAddrError,
  cleanupAddrBcc,
  cleanupAddrRecipient,
  cleanupAddrSender,
  cleanupDupFilter,
} from './cleanup_addr.js';
import { cleanupOut } from './cleanup_out.js';
import type { CleanupState } from './cleanup_state.js';

export interface CleanupAddrHooks {
  sender(state: CleanupState, address: string): Promise<void>;
  recipient(state: CleanupState, address: string, orcpt: string, dsnOrcpt: string, dsnNotify: number): Promise<void>;
  bcc(state: CleanupState, address: string): Promise<void>;
}

/** Writes one recipient group as Postfix's cleanup_out_recipient. */
export function writeRecipient(state: CleanupState, r: RecipientOut): void {
  if (r.dsnNotify) cleanupOut(state, REC_TYPE.ATTR, `notify_flags=${r.dsnNotify}`);
  if (r.dsnOrcpt) cleanupOut(state, REC_TYPE.ATTR, `dsn_orig_rcpt=${r.dsnOrcpt}`);
  cleanupOut(state, REC_TYPE.ORCP, r.orcpt);
  cleanupOut(state, REC_TYPE.RCPT, r.recipient);
  if (state.outOk()) state.rcptCount++;
}

/** Records an address-stage failure on the state: its status bit and, when it has one, Postfix's reason text. */
export function cleanupAddrFailed(state: CleanupState, err: unknown, what = 'address processing'): void {
  if (err instanceof CleanupAddrError) {
    state.errs |= err.status;
    if (err.reason !== null) state.reason = err.reason;
    return;
  }
  clog.warn(`${state.queueId}: ${what} error: ${err instanceof Error ? err.message : String(err)}`);
  state.errs |= CLEANUP_STAT.WRITE;
}

/** Per-message hooks: one duplicate filter per message. */
export function cleanupAddrHooks(deps: CleanupAddrDeps): CleanupAddrHooks {
  const dups = cleanupDupFilter(deps);
  // The address stages update the SMTPUTF8 flags in their context; carry them back.
  const run = async <T>(state: CleanupState, f: (ctx: CleanupAddrCtx) => Promise<T>): Promise<T> => {
    const ctx: CleanupAddrCtx = { queueId: state.queueId, flags: state.flags, smtputf8: state.smtputf8 };
    try {
      return await f(ctx);
    } finally {
      state.smtputf8 = ctx.smtputf8;
    }
  };
  return {
    async sender(state, address) {
      try {
        const r = await run(state, (ctx) => cleanupAddrSender(deps, ctx, dups, address));
        cleanupOut(state, REC_TYPE.FROM, r.sender);
        if (state.sender === null) state.sender = r.sender;
        for (const b of r.out) writeRecipient(state, b);
      } catch (err) {
        if (state.sender === null) state.sender = address;
        cleanupAddrFailed(state, err);
      }
    },
    async recipient(state, address, orcpt, dsnOrcpt, dsnNotify) {
      try {
        const r = await run(state, (ctx) => cleanupAddrRecipient(deps, ctx, dups, { recipient: address, orcpt, dsnOrcpt, dsnNotify }));
        // Postfix writes the 'O' record even with enable_original_recipient = no
        // (that setting only changes the duplicate filter key).
        for (const o of r.out) writeRecipient(state, o.orcpt === '' ? { ...o, orcpt } : o);
        // Postfix keeps the latest recipient (its logs say to=<last>).
        state.recip = r.address;
      } catch (err) {
        state.recip = address;
        cleanupAddrFailed(state, err);
      }
    },
    async bcc(state, address) {
      try {
        for (const o of await run(state, (ctx) => cleanupAddrBcc(deps, ctx, dups, address))) {
          writeRecipient(state, o.orcpt === '' ? { ...o, orcpt: o.recipient } : o);
        }
      } catch (err) {
        cleanupAddrFailed(state, err);
      }
    },
  };
}
