/*
 * qmgr_sched_feedback - destination concurrency feedback values (Postfix qmgr_feedback.c)
 *
 * What it does: parseFeedback() turns a *_destination_concurrency_
 * {positive,negative}_feedback value into Postfix's internal form the way
 * qmgr_feedback_init() reads it with sscanf("%lf %1[/] %30s%c"): a plain
 * number ("1", "0.5"), a fraction ("1/4") or a value per concurrency
 * window ("1/concurrency"). Values outside [0, 1] or malformed ones yield
 * Postfix's warning text and fall back to 1. feedbackValue() is
 * QMGR_FEEDBACK_VAL(): the adjustment for the current window.
 * formatG() prints a double as C's "%g" does, for the feedback debug log.
 *
 * What it does not do: read main.cf (qmgr_transport_params.ts) or apply
 * the adjustment to a window (qmgr_sched_queue.ts).
 *
 * DIAGNOSTICS
 * A malformed or unreasonable value is reported in the result's warning
 * ("NAME: ignoring malformed or unreasonable feedback: VALUE"); the
 * caller logs it.
 */

/** QMGR_FEEDBACK_IDX_*: how the feedback depends on the window. */
export const FEEDBACK_IDX = { NONE: 0, WIN: 1 } as const;

/** CONC_FDBACK_NAME_WIN: the denominator that means "the current window". */
export const CONC_FDBACK_NAME_WIN = 'concurrency';

/** Postfix's INT_MAX bounds in qmgr_feedback_init(). */
const INT_MAX = 2147483647;
/** The %30s width of the denominator. */
const DENOM_MAX = 30;

export interface Feedback {
  /** FEEDBACK_IDX value. */
  index: number;
  /** The numerator (or the whole value with FEEDBACK_IDX.NONE). */
  base: number;
  /** Always 1 (legacy field of Postfix). */
  hysteresis: number;
}

/** C strtod()-style leading number (as %lf scans it): [value, chars consumed] or null. */
function scanDouble(text: string, from: number): [number, number] | null {
  const m = /^[ \t\n\v\f\r]*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))/i.exec(text.slice(from));
  if (!m) return null;
  const t = m[1].toLowerCase().replace(/^([+-]?)inf(inity)?$/, '$1Infinity');
  return [t.endsWith('nan') ? NaN : Number(t), m[0].length];
}

function inclusive(v: number, lo: number, hi: number): boolean {
  return v >= lo && v <= hi;
}

/** Postfix qmgr_feedback_init() on a value already looked up; name is what a warning names. */
export function parseFeedback(value: string, name: string): { feedback: Feedback; warning: string | null } {
  const fb: Feedback = { index: FEEDBACK_IDX.NONE, base: -1, hysteresis: 1 };
  const first = scanDouble(value, 0);
  if (first) {
    const [enumVal, used] = first;
    let p = used;
    while (p < value.length && /[ \t\n\v\f\r]/.test(value[p])) p++;
    if (p >= value.length || value[p] !== '/') {
      // sscanf returned 1: whatever follows the number is ignored.
      fb.base = enumVal;
    } else {
      p++;
      while (p < value.length && /[ \t\n\v\f\r]/.test(value[p])) p++;
      let q = p;
      while (q < value.length && q - p < DENOM_MAX && !/[ \t\n\v\f\r]/.test(value[q])) q++;
      const denom = value.slice(p, q);
      const junk = q < value.length;
      if (denom !== '' && !junk) {
        if (denom === CONC_FDBACK_NAME_WIN) {
          fb.index = FEEDBACK_IDX.WIN;
          fb.base = enumVal;
        } else if (inclusive(enumVal, 0, INT_MAX)) {
          const d = scanDouble(denom, 0);
          if (d && d[1] === denom.length && inclusive(d[0], 1 / INT_MAX, INT_MAX)) fb.base = enumVal / d[0];
        }
      }
    }
  }
  if (!inclusive(fb.base, 0, 1)) {
    return {
      feedback: { index: FEEDBACK_IDX.NONE, base: 1, hysteresis: 1 },
      warning: `${name}: ignoring malformed or unreasonable feedback: ${value}`,
    };
  }
  return { feedback: fb, warning: null };
}

/** QMGR_FEEDBACK_VAL(fb, window). */
export function feedbackValue(fb: Feedback, window: number): number {
  return fb.index === FEEDBACK_IDX.NONE ? fb.base : fb.base / window;
}

/** C printf "%g" (precision 6). */
export function formatG(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const exp = Math.floor(Math.log10(Math.abs(Number(v.toPrecision(6)))));
  if (exp < -4 || exp >= 6) {
    const [mant, e] = v.toExponential(5).split('e');
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const s = v.toFixed(Math.max(0, 5 - exp));
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}
