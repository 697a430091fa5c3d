/*
 * cleanup_envelope - the envelope segment of a message (Postfix cleanup_envelope.c)
 *
 * What it does: processes each envelope record a client sends, in order,
 * and writes the queue file's envelope as Postfix does. The first record
 * makes the size record placeholder. Then:
 *   - 'T' (first one wins) is copied, followed by our own create_time
 *     attribute; a client's 'C' size and create_time are dropped;
 *   - 'f' (extra flags HOLD/DISCARD) and 'm' (milter count) are not
 *     queue file records;
 *   - 'A' attributes: malformed ones reject the message; empty values
 *     are ignored with a warning; the DSN ones (envelope_id, ret_flags,
 *     dsn_orig_rcpt, notify_flags) are checked and, for the per-recipient
 *     ones, held for the next recipient; rewrite_context picks the
 *     header rewriting context; queue_file_attribute_count_limit applies;
 *   - 'S' (only one) goes through cleanup_addr (rewrite, canonical,
 *     masquerade, sender BCC); 'F' full name (first wins); 'V' VERP;
 *   - at the first recipient-class record, the sender and time must be
 *     known and a 'W' record is added when delay_warning_time is set;
 *   - 'O' and the DSN attributes are held; 'R' goes through cleanup_addr
 *     (rewrite, mapping, virtual alias, duplicate filter, recipient BCC);
 *   - 'M' hands over to the message content (cleanup_message.ts).
 * Any other record allowed in an envelope is copied; a record type that
 * does not belong in an envelope rejects the message (CLEANUP_STAT.BAD).
 *
 * What it does not do: address mapping itself (cleanup_addr.ts, A's),
 * content, or the extracted segment.
 *
 * DIAGNOSTICS
 * Postfix's warnings: "QUEUEID: message rejected: ..." (missing sender
 * or time, multiple senders, malformed attribute, unexpected record
 * type, bad DSN records, attribute count), "ignoring ..." for bad
 * optional records.
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { formatSizeRecord, REC_TYPE, REC_TYPE_ENV_RECIPIENT, REC_TYPE_ENVELOPE, recTypeIn } from '../global/rec_type.js';
import { clog } from './cleanup_log.js';
import { cleanupOut } from './cleanup_out.js';
import { type CleanupState, CLEANUP_PRIV_FLAG, QMGR_READ_FLAG, dsnNotifyOk, dsnRetOk } from './cleanup_state.js';
import type { CleanupAddrHooks } from './cleanup_out_recipient.js';

/** Pseudo record types for DSN attributes (Postfix rec_attr_map()). */
export function recAttrMap(name: string): number {
  switch (name) {
    case 'envelope_id':
      return REC_TYPE.DSN_ENVID;
    case 'ret_flags':
      return REC_TYPE.DSN_RET;
    case 'dsn_orig_rcpt':
      return REC_TYPE.DSN_ORCPT;
    case 'notify_flags':
      return REC_TYPE.DSN_NOTIFY;
    case 'create_time':
      return REC_TYPE.CTIME;
    default:
      return 0;
  }
}

/** Postfix split_nameval(): "name=value" with blanks trimmed around the name. */
export function splitNameval(text: string): { name: string; value: string } | { error: string } {
  const s = text.replace(/^[ \t\r\n]+/, '');
  const eq = s.indexOf('=');
  if (eq < 0) return { error: 'missing \'=\' after attribute name' };
  const name = s.slice(0, eq).replace(/[ \t\r\n]+$/, '');
  if (name === '') return { error: 'missing attribute name' };
  const value = s.slice(eq + 1).replace(/^[ \t\r\n]+/, '').replace(/[ \t\r\n]+$/, '');
  return { name, value };
}

const ALL_DIGITS = /^[0-9]+$/;
const ALL_PRINT = /^[\x20-\x7e]*$/;

/** The first envelope record: write the size record placeholder. */
export function cleanupEnvelopeStart(state: CleanupState): void {
  cleanupOut(state, REC_TYPE.SIZE, formatSizeRecord([0, 0, 0, 0, 0, 0]));
}

function reject(state: CleanupState, text: string): void {
  clog.warn(`${state.queueId}: message rejected: ${text}`);
  state.errs |= CLEANUP_STAT.BAD;
}

/** Resets the per-recipient data after a recipient (or done/canceled) record. */
function clearRecipientData(state: CleanupState): void {
  state.origRcpt = null;
  state.dsnOrcpt = null;
  state.dsnNotify = 0;
}

/**
 * One envelope record. Returns 'message' when the 'M' record ends the
 * envelope, else 'envelope'.
 */
export async function cleanupEnvelopeRecord(
  state: CleanupState,
  hooks: CleanupAddrHooks,
  type: number,
  data: Buffer,
): Promise<'envelope' | 'message'> {
  const buf = data.toString('utf8');
  if (type === REC_TYPE.FLGS) {
    const extra = Number.parseInt(buf, 10) || 0;
    if (extra & ~CLEANUP_FLAG.MASK_EXTRA) clog.warn(`${state.queueId}: ignoring bad extra flags: 0x${extra.toString(16)}`);
    else state.flags |= extra;
    return 'envelope';
  }
  if (type === REC_TYPE.MILT_COUNT) return 'envelope';

  let mappedType = type;
  let mappedBuf = buf;
  let attrName = '';
  let attrValue = '';
  if (type === REC_TYPE.ATTR) {
    const nv = splitNameval(buf);
    if ('error' in nv) {
      reject(state, `malformed attribute: ${nv.error}: ${buf.slice(0, 100)}`);
      return 'envelope';
    }
    attrName = nv.name;
    attrValue = nv.value;
    if (attrValue === '') {
      clog.warn(`${state.queueId}: spurious null attribute value for "${attrName}" -- ignored`);
      return 'envelope';
    }
    const m = recAttrMap(attrName);
    if (m !== 0) {
      mappedType = m;
      mappedBuf = attrValue;
    }
  }
  if (!recTypeIn(REC_TYPE_ENVELOPE, type)) {
    reject(state, `unexpected record type ${type} in envelope`);
    return 'envelope';
  }

  if ((state.flags & CLEANUP_PRIV_FLAG.INRCPT) === 0 && recTypeIn(REC_TYPE_ENV_RECIPIENT, type)) {
    if (state.sender === null) {
      reject(state, 'missing sender envelope record');
      return 'envelope';
    }
    if (state.arrivalSec === 0) {
      reject(state, 'missing time envelope record');
      return 'envelope';
    }
    if ((state.flags & CLEANUP_PRIV_FLAG.WARN_SEEN) === 0 && state.sender !== '' && state.params.delayWarnTime > 0) {
      cleanupOut(state, REC_TYPE.WARN, String(state.arrivalSec + state.params.delayWarnTime).padStart(15, ' '));
    }
    state.flags |= CLEANUP_PRIV_FLAG.INRCPT;
  }

  if (type === REC_TYPE.RCPT) {
    if (state.sender === null) {
      reject(state, 'envelope recipient precedes sender');
      return 'envelope';
    }
    await hooks.recipient(state, buf, state.origRcpt ?? buf, state.dsnOrcpt ?? '', state.dsnNotify);
    clearRecipientData(state);
    return 'envelope';
  }
  if (type === REC_TYPE.DONE || type === REC_TYPE.DRCP) {
    clearRecipientData(state);
    return 'envelope';
  }
  if (mappedType === REC_TYPE.DSN_ORCPT) {
    if (state.dsnOrcpt !== null) {
      clog.warn(`${state.queueId}: ignoring out-of-order DSN original recipient record <${state.dsnOrcpt.slice(0, 200)}>`);
    }
    state.dsnOrcpt = mappedBuf;
    return 'envelope';
  }
  if (mappedType === REC_TYPE.DSN_NOTIFY) {
    if (state.dsnNotify) {
      clog.warn(`${state.queueId}: ignoring out-of-order DSN notify record <${state.dsnNotify}>`);
      state.dsnNotify = 0;
    }
    const n = ALL_DIGITS.test(mappedBuf) ? Number.parseInt(mappedBuf, 10) : 0;
    if (n === 0 || !dsnNotifyOk(n)) {
      clog.warn(`${state.queueId}: ignoring malformed DSN notify record <${buf.slice(0, 200)}>`);
    } else {
      state.dsnNotify = n;
      state.qmgrOpts |= QMGR_READ_FLAG.fromDsn(n);
    }
    return 'envelope';
  }
  if (type === REC_TYPE.ORCP) {
    if (state.origRcpt !== null) {
      clog.warn(`${state.queueId}: ignoring out-of-order original recipient record <${state.origRcpt.slice(0, 200)}>`);
    }
    state.origRcpt = buf;
    return 'envelope';
  }
  if (type === REC_TYPE.MESG) {
    state.flags &= ~CLEANUP_PRIV_FLAG.INRCPT;
    return 'message';
  }

  // Non-recipient records.
  if (state.flags & CLEANUP_PRIV_FLAG.INRCPT) state.qmgrOpts |= QMGR_READ_FLAG.MIXED_RCPT_OTHER;
  if (type === REC_TYPE.SIZE || mappedType === REC_TYPE.CTIME) return 'envelope';
  if (type === REC_TYPE.TIME) {
    if (state.arrivalSec === 0) {
      const m = /^\s*(\d+)(?:\s+(\d+))?/.exec(buf);
      state.arrivalSec = m ? Number(m[1]) : 0;
      state.arrivalUsec = m && m[2] ? Number(m[2]) : 0;
      cleanupOut(state, type, data);
    }
    cleanupOut(state, REC_TYPE.ATTR, `create_time=${Math.floor(Date.now() / 1000)}`);
    return 'envelope';
  }
  if (type === REC_TYPE.FULL) {
    if (state.fullname === null) {
      state.fullname = buf;
      cleanupOut(state, type, data);
    }
    return 'envelope';
  }
  if (type === REC_TYPE.FROM) {
    if (state.sender !== null) {
      reject(state, 'multiple envelope sender records');
      return 'envelope';
    }
    await hooks.sender(state, buf);
    return 'envelope';
  }
  if (mappedType === REC_TYPE.DSN_ENVID) {
    if (state.dsnEnvid !== null) {
      reject(state, 'multiple DSN envelope ID records');
      return 'envelope';
    }
    if (!ALL_PRINT.test(mappedBuf)) {
      reject(state, 'bad DSN envelope ID record');
      return 'envelope';
    }
    state.dsnEnvid = mappedBuf;
    cleanupOut(state, type, data);
    return 'envelope';
  }
  if (mappedType === REC_TYPE.DSN_RET) {
    if (state.dsnRet !== 0) {
      reject(state, 'multiple DSN RET records');
      return 'envelope';
    }
    const n = ALL_DIGITS.test(mappedBuf) ? Number.parseInt(mappedBuf, 10) : 0;
    if (n === 0 || !dsnRetOk(n)) {
      reject(state, `bad DSN RET record <${buf.slice(0, 200)}>`);
      return 'envelope';
    }
    state.dsnRet = n;
    cleanupOut(state, type, data);
    return 'envelope';
  }
  if (type === REC_TYPE.WARN) {
    if ((state.flags & CLEANUP_PRIV_FLAG.WARN_SEEN) === 0) {
      state.flags |= CLEANUP_PRIV_FLAG.WARN_SEEN;
      cleanupOut(state, type, data);
    }
    return 'envelope';
  }
  if (type === REC_TYPE.VERP) {
    if (state.verpDelims === null) {
      if (state.sender === null || state.sender === '') {
        clog.warn(`${state.queueId}: ignoring VERP request for null sender`);
      } else if (!/^[^\s]{2}$/.test(buf) || !state.params.config.get('verp_delimiter_filter').includes(buf[0]!) || !state.params.config.get('verp_delimiter_filter').includes(buf[1]!)) {
        clog.warn(`${state.queueId}: ignoring bad VERP request: "${buf.slice(0, 100)}"`);
      } else {
        state.verpDelims = buf;
        cleanupOut(state, type, data);
      }
    }
    return 'envelope';
  }
  if (type === REC_TYPE.ATTR) {
    if (state.attrCount >= state.params.attrCountLimit) {
      reject(state, `attribute count exceeds limit ${state.params.attrCountLimit}`);
      return 'envelope';
    }
    if (attrName === 'rewrite_context') {
      if (attrValue === 'local') state.hdrRewriteContext = 'local';
      else if (attrValue === 'remote') state.hdrRewriteContext = state.params.remoteRewriteDomain ? 'remote' : null;
      else {
        reject(state, `bad rewriting context: ${attrValue.slice(0, 100)}`);
        return 'envelope';
      }
    }
    if (!state.attr.has(attrName)) state.attrCount++;
    state.attr.set(attrName, attrValue);
    cleanupOut(state, type, data);
    return 'envelope';
  }
  cleanupOut(state, type, data);
  return 'envelope';
}
