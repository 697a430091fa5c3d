/*
 * cleanup_checks_test_lib - run content inspection over one message the way cleanup(8) would, for tests
 *
 * What it does: inspectMessage() cuts message text into content records
 * as smtpd/postdrop do (N per line, L pieces of line_length_limit bytes
 * for longer lines), feeds them through MimeState with the options
 * CleanupChecks.mimeOptions() gives, applies header and body checks in
 * the callbacks as Postfix's cleanup_header_callback and
 * cleanup_body_callback do (checks first, then output; header lines
 * written one record per line; message_drop_headers left out of the
 * primary headers; nothing written once the state has an error), ends
 * with the MIME error verdict, and returns what would be stored, the
 * final state and every log line (info lines as they are, warnings
 * with "warning: " in front).
 *
 * What it does not do: the rest of cleanup (address rewriting, missing
 * headers, Received counting, the envelope); it is a test harness for
 * content inspection, not a cleanup server.
 *
 * DIAGNOSTICS
 * None: results are returned.
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { MimeState, headerName } from '../global/mime_state.js';
import { REC_TYPE } from '../global/rec_type.js';
import { type MsgSink, msgSetSinks, msgSinks } from '../util/msg.js';
import { printableBytes } from '../util/printable.js';
import type { CleanupChecks, CleanupChecksState } from './cleanup_checks.js';

/** Postfix's line_length_limit default: longer lines arrive as L pieces. */
export const SIM_LINE_LIMIT = 2048;

/** Cuts text (LF or CRLF line ends) into [type, text] content records. */
export function contentRecords(text: string, lineLimit = SIM_LINE_LIMIT): Array<[number, string]> {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: Array<[number, string]> = [];
  for (let line of lines) {
    while (line.length > lineLimit) {
      out.push([REC_TYPE.CONT, line.slice(0, lineLimit)]);
      line = line.slice(lineLimit);
    }
    out.push([REC_TYPE.NORM, line]);
  }
  return out;
}

export interface SimState extends CleanupChecksState {
  queueId: string;
  sender: string | null;
  recip: string | null;
  attr: Map<string, string>;
}

/** A fresh state with header/body filtering on (CLEANUP_FLAG.MASK_EXTERNAL). */
export function simState(init: Partial<Omit<SimState, 'attr'>> & { attr?: Record<string, string> } = {}): SimState {
  return {
    queueId: init.queueId ?? 'QUEUEID',
    flags: init.flags ?? CLEANUP_FLAG.MASK_EXTERNAL,
    errs: init.errs ?? 0,
    reason: init.reason ?? null,
    sender: init.sender === undefined ? 'sender@example.com' : init.sender,
    recip: init.recip === undefined ? 'rcpt@example.net' : init.recip,
    attr: new Map(Object.entries(init.attr ?? {})),
    filter: init.filter ?? null,
    redirect: init.redirect ?? null,
    hbcRcpt: init.hbcRcpt ?? [],
  };
}

export interface InspectResult {
  /** Stored content lines (an L piece joined to what follows, as postcat shows). */
  content: string[];
  /** Log lines in order: "QUEUEID: info: ..." or "warning: ...". */
  logs: string[];
  state: SimState;
  mimeErrors: number;
}

/** header_size_limit default. */
export const SIM_HEADER_LIMIT = 102400;

/**
 * The records cleanup writes for one logical header (Postfix
 * cleanup_out_header): one per line, a line that does not start with
 * white space gets a tab; a header longer than `limit` is cut at the
 * last line boundary when that keeps more than 90% of the limit, else
 * at exactly `limit` bytes.
 */
export function headerRecords(header: string, limit: number): string[] {
  const out: string[] = [];
  let buf = header;
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf('\n', pos);
    const end = nl < 0 ? buf.length : nl;
    let last = nl < 0;
    if (end > limit) {
      if (pos > 0.9 * limit) break;
      buf = buf.slice(0, limit);
      last = true;
    }
    const line = buf.slice(pos, Math.min(end, buf.length));
    out.push(pos === 0 || line[0] === ' ' || line[0] === '\t' ? line : `\t${line}`);
    if (last) break;
    pos = nl + 1;
  }
  return out;
}

/** message_drop_headers default. */
const DROP_HEADERS = new Set(['bcc', 'content-length', 'resent-bcc', 'return-path']);

/** Runs content inspection over `message` (see the header). */
export async function inspectMessage(
  checks: CleanupChecks,
  message: string,
  state: SimState = simState(),
  headerLimit = SIM_HEADER_LIMIT,
): Promise<InspectResult> {
  const logs: string[] = [];
  /* As the log sinks do (UTF-8 out, non-printable bytes as '?'), read back as bytes like the maillog. */
  const mask = (t: string): string => printableBytes(Buffer.from(t, 'utf8'), true).toString('latin1');
  const sink: MsgSink = { write: (sev, text) => void logs.push(mask(sev === 'info' ? text : `${sev}: ${text}`)) };
  const saved = msgSinks();
  msgSetSinks([sink]);
  const content: string[] = [];
  let partial = '';
  const out = (type: number, text: string): void => {
    if (type === REC_TYPE.CONT) partial += text;
    else {
      content.push(partial + text);
      partial = '';
    }
  };
  /* CLEANUP_OUT_OK: err_mask is MASK_INCOMPLETE for bouncing clients, every bit otherwise. */
  const errMask = (state.flags & CLEANUP_FLAG.BOUNCE) !== 0 ? CLEANUP_STAT.MASK_INCOMPLETE : ~0;
  const outOk = (): boolean => (state.errs & errMask) === 0 && (state.flags & CLEANUP_FLAG.DISCARD) === 0;
  const outHeader = (text: string): void => {
    for (const l of headerRecords(text, headerLimit)) out(REC_TYPE.NORM, l);
  };
  try {
    const mime: MimeState = new MimeState(checks.mimeOptions(state.flags), {
      header: async (kind, text) => {
        const r = await checks.header(state, kind, text);
        if (r.drop) return;
        if (r.prepend !== null && outOk()) outHeader(r.prepend);
        const name = (headerName(r.text) ?? '').toLowerCase();
        if (kind === 'primary' && DROP_HEADERS.has(name)) return;
        if (outOk()) outHeader(r.text);
      },
      headerEnd: async () => {},
      body: async (type, text, offset) => {
        if (!outOk()) return;
        const r = await checks.body(state, text, offset);
        if (r.drop) return;
        if (r.prepend !== null) out(REC_TYPE.NORM, r.prepend);
        out(type, r.text);
      },
      bodyEnd: async () => {},
      error: (code, text) => checks.mimeError(state, code, text),
    });
    for (const [type, text] of contentRecords(message)) await mime.update(type, checks.chars(state, text));
    await mime.finish();
    checks.mimeDone(state, mime.errors);
    return { content, logs, state, mimeErrors: mime.errors };
  } finally {
    msgSetSinks([...saved]);
  }
}
