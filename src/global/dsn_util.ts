/*
 * dsn_util - checks on RFC 3463 status codes (Postfix dsn_util.c)
 *
 * What it does: dsnValid() tells whether a text is a well-formed
 * "X.Y.Z" status as Postfix's dsn_valid() accepts it (class 2, 4 or 5,
 * subject 1-3 digits, detail 1-3 digits, then the end or white space); dsnSplit() takes the status
 * and the free text apart at the start of a string ("5.1.1 text"), as
 * Postfix's dsn_split() does for error(8) next-hops and agents' replies.
 *
 * DsnFilter and deliveryStatusFilter() are Postfix's delivery status
 * filter (dsn_filter.c; <program>_delivery_status_filter, default
 * $default_delivery_status_filter, for smtp, lmtp, local, pipe and
 * virtual): sent.ts, bounce.ts and defer.ts apply it to every status.
 *
 * What it does not do: build Dsn records (dsn.ts) or log deliveries.
 *
 * DIAGNOSTICS
 * The filter warns about a result with a status of the wrong class or an
 * empty text ("PARAM: bad status code: ...") and about table errors, and
 * then leaves the status as it was.
 */
import { msgWarn } from '../util/msg.js';
import type { Dsn } from './dsn.js';
import type { MailConfig } from './mail_conf.js';
import { Maps } from './maps.js';

/** Postfix DSN_SIZE bound: the longest status text accepted. */
export const DSN_STATUS_MAX = 1 + 1 + 3 + 1 + 3;

/** Length of the status at the start of text ("5.1.1 ..." gives 5), 0 when there is none. */
export function dsnValid(text: string): number {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?=$|[ \t\n\v\f\r])/.exec(text);
  if (!m) return 0;
  return m[0].length;
}

/**
 * Splits "X.Y.Z text" into the status and the text after white space;
 * without a valid status the default status is used and the whole text
 * is the reason (Postfix dsn_split()).
 */
export function dsnSplit(defStatus: string, text: string): { status: string; text: string } {
  const s = text.replace(/^[ \t\r\n]+/, '');
  const len = dsnValid(s);
  if (len > 0) return { status: s.slice(0, len), text: s.slice(len).replace(/^[ \t\r\n]+/, '') };
  return { status: defStatus, text: s };
}

/** The agents that have a <program>_delivery_status_filter parameter (Postfix 3.0+). */
export const DSN_FILTER_PROGRAMS: ReadonlySet<string> = new Set(['smtp', 'lmtp', 'local', 'pipe', 'virtual']);

function isNdrStatus(s: string): boolean {
  return dsnValid(s) > 0 && (s[0] === '4' || s[0] === '5');
}

/**
 * A delivery status filter (Postfix dsn_filter.c): the tables are asked
 * with "X.Y.Z reason"; a result "X.Y.Z new reason" replaces the status and
 * reason if it stays in the same class group (2 for 2, 4 or 5 for 4 or 5)
 * and has a text; any other result is ignored with a warning.
 */
export class DsnFilter {
  readonly maps: Maps;

  constructor(paramName: string, value: string, config: MailConfig) {
    this.maps = new Maps(paramName, value, { config });
  }

  async lookup(dsn: Dsn): Promise<Dsn | null> {
    if (!dsnValid(dsn.status)) return null;
    let result: string | null;
    try {
      result = await this.maps.find(`${dsn.status} ${dsn.reason}`);
    } catch (err) {
      msgWarn(`${this.maps.title}: lookup error: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
    if (result === null) return null;
    const s = result.replace(/^[ \t\r\n]+/, '');
    const len = dsnValid(s);
    const status = len > 0 ? s.slice(0, len) : '';
    const text = len > 0 ? s.slice(len).replace(/^[ \t\r\n]+/, '') : '';
    const ok = isNdrStatus(dsn.status) ? isNdrStatus(status) : status[0] === '2';
    if (!ok) {
      msgWarn(`${this.maps.title}: bad status code: ${result}`);
      return null;
    }
    if (text === '') {
      msgWarn(`${this.maps.title}: empty text: ${result}`);
      return null;
    }
    return { ...dsn, status, reason: text };
  }
}

const filters = new WeakMap<MailConfig, Map<string, DsnFilter | null>>();

/** The program's delivery status filter (null when it has none or the parameter is empty), made once per configuration. */
export function deliveryStatusFilter(config: MailConfig, program: string): DsnFilter | null {
  if (!DSN_FILTER_PROGRAMS.has(program)) return null;
  let byProgram = filters.get(config);
  if (!byProgram) {
    byProgram = new Map();
    filters.set(config, byProgram);
  }
  if (!byProgram.has(program)) {
    const name = `${program}_delivery_status_filter`;
    const value = config.get(name).trim();
    byProgram.set(program, value === '' ? null : new DsnFilter(name, value, config));
  }
  return byProgram.get(program) ?? null;
}
