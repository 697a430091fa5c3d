/*
 * cleanup_extracted - the extracted segment of a message (Postfix cleanup_extracted.c)
 *
 * What it does: writes the 'X' record, then processes the records a
 * client sends after the content: recipients that `sendmail -t` took
 * from the headers ('R', with 'O' and the DSN attributes before them,
 * through the same address processing as envelope recipients), and other
 * extracted information ('A', 'r' return-receipt, 'e' errors-to, ...),
 * copied. At the first recipient-class record (or the 'E' record) it
 * writes what content inspection found: 'L' content filter (FILTER
 * action), '>' redirect (REDIRECT action) and the encoding attribute.
 * The 'E' record adds always_bcc (when the client allows BCC and there is
 * a recipient) and the header/body check BCC recipients, then ends the
 * file. Empty attribute values are ignored with a warning; a record type
 * that does not belong here rejects the message.
 *
 * What it does not do: address mapping (cleanup_out_recipient.ts and
 * A's cleanup_addr.ts), finishing the file (cleanup_api.ts).
 *
 * DIAGNOSTICS
 * Postfix's: "QUEUEID: message rejected: unexpected record type N in
 * extracted envelope", "message rejected: malformed attribute",
 * "spurious null attribute value", "ignoring out-of-order ...".
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { REC_TYPE, REC_TYPE_EXT_RECIPIENT, REC_TYPE_EXTRACT, recTypeIn } from '../global/rec_type.js';
import { clog } from './cleanup_log.js';
import { recAttrMap, splitNameval } from './cleanup_envelope.js';
import { cleanupOut } from './cleanup_out.js';
import type { CleanupAddrHooks } from './cleanup_out_recipient.js';
import { type CleanupState, CLEANUP_PRIV_FLAG, QMGR_READ_FLAG, dsnNotifyOk } from './cleanup_state.js';

/** Starts the extracted segment. */
export function cleanupExtractedStart(state: CleanupState): void {
  cleanupOut(state, REC_TYPE.XTRA, '');
}

function clearRecipientData(state: CleanupState): void {
  state.origRcpt = null;
  state.dsnOrcpt = null;
  state.dsnNotify = 0;
}

/** One extracted record; 'end' after the 'E' record. */
export async function cleanupExtractedRecord(
  state: CleanupState,
  hooks: CleanupAddrHooks,
  typeIn: number,
  data: Buffer,
): Promise<'extracted' | 'end'> {
  let type = typeIn;
  let buf = data.toString('utf8');
  if (type === REC_TYPE.FLGS) {
    const extra = Number.parseInt(buf, 10) || 0;
    if (extra & ~CLEANUP_FLAG.MASK_EXTRA) clog.warn(`${state.queueId}: ignoring bad extra flags: 0x${extra.toString(16)}`);
    else state.flags |= extra;
    return 'extracted';
  }
  if (!recTypeIn(REC_TYPE_EXTRACT, type)) {
    clog.warn(`${state.queueId}: message rejected: unexpected record type ${type} in extracted envelope`);
    state.errs |= CLEANUP_STAT.BAD;
    return 'extracted';
  }
  if (type === REC_TYPE.ATTR) {
    const nv = splitNameval(buf);
    if ('error' in nv) {
      clog.warn(`${state.queueId}: message rejected: malformed attribute: ${nv.error}: ${buf.slice(0, 100)}`);
      state.errs |= CLEANUP_STAT.BAD;
      return 'extracted';
    }
    if (nv.value === '') {
      clog.warn(`${state.queueId}: spurious null attribute value for "${nv.name}" -- ignored`);
      return 'extracted';
    }
    const m = recAttrMap(nv.name);
    if (m !== 0) {
      buf = nv.value;
      type = m;
    }
  }

  if ((state.flags & CLEANUP_PRIV_FLAG.INRCPT) === 0 && recTypeIn(REC_TYPE_EXT_RECIPIENT, type)) {
    if (state.filter !== null) cleanupOut(state, REC_TYPE.FILT, state.filter);
    if (state.redirect !== null) cleanupOut(state, REC_TYPE.RDR, state.redirect);
    const encoding = state.attr.get('encoding');
    if (encoding !== undefined) cleanupOut(state, REC_TYPE.ATTR, `encoding=${encoding}`);
    state.flags |= CLEANUP_PRIV_FLAG.INRCPT;
  }

  if (type === REC_TYPE.RCPT) {
    if (state.sender === null) {
      clog.warn(`${state.queueId}: message rejected: envelope recipient precedes sender`);
      state.errs |= CLEANUP_STAT.BAD;
      return 'extracted';
    }
    await hooks.recipient(state, buf, state.origRcpt ?? buf, state.dsnOrcpt ?? '', state.dsnNotify);
    clearRecipientData(state);
    return 'extracted';
  }
  if (type === REC_TYPE.DONE || type === REC_TYPE.DRCP) {
    clearRecipientData(state);
    return 'extracted';
  }
  if (type === REC_TYPE.DSN_ORCPT) {
    if (state.dsnOrcpt !== null) {
      clog.warn(`${state.queueId}: ignoring out-of-order DSN original recipient record <${state.dsnOrcpt.slice(0, 200)}>`);
    }
    state.dsnOrcpt = buf;
    return 'extracted';
  }
  if (type === REC_TYPE.DSN_NOTIFY) {
    if (state.dsnNotify) {
      clog.warn(`${state.queueId}: ignoring out-of-order DSN notify record <${state.dsnNotify}>`);
      state.dsnNotify = 0;
    }
    const n = /^[0-9]+$/.test(buf) ? Number.parseInt(buf, 10) : 0;
    if (n === 0 || !dsnNotifyOk(n)) clog.warn(`${state.queueId}: ignoring malformed dsn notify record <${buf.slice(0, 200)}>`);
    else {
      state.dsnNotify = n;
      state.qmgrOpts |= QMGR_READ_FLAG.fromDsn(n);
    }
    return 'extracted';
  }
  if (type === REC_TYPE.ORCP) {
    if (state.origRcpt !== null) clog.warn(`${state.queueId}: ignoring out-of-order original recipient record <${buf.slice(0, 200)}>`);
    state.origRcpt = buf;
    return 'extracted';
  }
  if (type === REC_TYPE.END) {
    state.flags &= ~CLEANUP_PRIV_FLAG.INRCPT;
    state.flags |= CLEANUP_PRIV_FLAG.END_SEEN;
    await cleanupExtractedFinish(state, hooks);
    return 'end';
  }
  if (state.flags & CLEANUP_PRIV_FLAG.INRCPT) state.qmgrOpts |= QMGR_READ_FLAG.MIXED_RCPT_OTHER;
  cleanupOut(state, type, type === typeIn ? data : buf);
  return 'extracted';
}

/** always_bcc, header/body check BCCs, and the 'E' record. */
async function cleanupExtractedFinish(state: CleanupState, hooks: CleanupAddrHooks): Promise<void> {
  const bcc = state.params.alwaysBcc;
  if (state.flags & CLEANUP_FLAG.BCC_OK && state.recip !== null && bcc !== '') await hooks.bcc(state, bcc);
  if (state.hbcRcpt.length > 0) {
    if (state.outOk() && state.recip !== null) {
      for (const a of state.hbcRcpt) await hooks.bcc(state, a);
    }
    state.hbcRcpt.length = 0;
  }
  cleanupOut(state, REC_TYPE.END, '');
}
