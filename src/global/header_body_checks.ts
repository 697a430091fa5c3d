/*
 * header_body_checks - header_checks(5) and body_checks lookups and actions
 *
 * What it does: HeaderBodyChecks holds the four built-in content
 * inspection table lists (header_checks for primary headers,
 * mime_header_checks for MIME headers anywhere, nested_header_checks
 * for headers of attached messages, body_checks for everything else,
 * up to body_checks_size_limit bytes into each body segment) as D's
 * Maps, looks one logical header or one body record up, and turns the
 * table's answer into an HbcEffect: the action word (case insensitive)
 * and its argument, already checked the way Postfix's cleanup_act()
 * checks them (REJECT's enhanced status code with "5.7.1" as default
 * and a leading 4 meaning defer, FILTER's transport:destination,
 * REDIRECT/BCC user@domain, PREPEND/REPLACE header syntax). A bad
 * argument or an unknown action comes back as { kind: 'invalid' } with
 * Postfix's warning text; a table that fails comes back as
 * { kind: 'lookup-error' }. hbcLogText() formats the action log line
 * exactly as cleanup(8) logs it:
 *   QUEUEID: ACTION: header TEXT from ORIGIN; from=<S> to=<R> proto=P helo=<H>: TEXT
 *
 * Text convention: byte strings, one character per byte (see
 * mime_state.ts). Keys are passed to the tables as they are (no case
 * folding: regexp/pcre tables decide case themselves).
 *
 * What it does not do: change any message state (cleanup_checks.ts
 * applies effects to cleanup's state), log by itself, or run a MIME
 * parser (mime_state.ts).
 *
 * DIAGNOSTICS
 * None logged here; warnings are returned in 'invalid' effects and
 * lookup failures as 'lookup-error' effects carrying the DictError.
 */
import { DictError } from './dict.js';
import { MailConfig } from './mail_conf.js';
import { Maps } from './maps.js';
import { isHeaderText, isMimeHeader, type MimeHeaderKind } from './mime_state.js';

/** Where the matched text is: cleanup's "header", "body", or "content" (character checks). */
export type HbcWhere = 'header' | 'body' | 'content';

/** What one table answer asks for. Texts are the action's optional text, blanks trimmed in front. */
export type HbcEffect =
  | { kind: 'dunno' } /* DUNNO, OK */
  | { kind: 'ignore' }
  | { kind: 'strip'; text: string }
  | {
      kind: 'reject';
      /** The reply text with its enhanced status code, "5.7.1 message content rejected" by default. */
      reason: string;
      /** The code starts with 4: a temporary failure (CLEANUP_STAT_DEFER) instead of CLEANUP_STAT_CONT. */
      defer: boolean;
      /** Set when the text's status code was not 4.x.x or 5.x.x (Postfix's warning; the code became 4.x.x). */
      warning?: string;
    }
  | { kind: 'warn'; text: string }
  | { kind: 'info'; text: string }
  | { kind: 'pass'; text: string }
  | { kind: 'discard'; text: string }
  | { kind: 'hold'; text: string }
  | { kind: 'filter'; nexthop: string /* transport:destination */ }
  | { kind: 'prepend'; text: string }
  | { kind: 'replace'; text: string }
  | { kind: 'redirect'; address: string }
  | { kind: 'bcc'; address: string }
  /** The action was not usable: log `warning` (msgWarn) and keep the line unchanged. */
  | { kind: 'invalid'; warning: string }
  /** The table could not be searched: cleanup logs "map lookup problem" and fails with CLEANUP_STAT_WRITE. */
  | { kind: 'lookup-error'; error: DictError };

/** One match: the effect plus what cleanup needs to log it. */
export interface HbcMatch {
  where: HbcWhere;
  /** The header or body line that matched. */
  line: string;
  /** The parameter whose table matched ("header_checks", "mime_header_checks", ...). */
  mapClass: string;
  /** The table's answer as it came (empty for lookup errors). */
  value: string;
  effect: HbcEffect;
}

/** The default REJECT text (cleanup_strerror's CLEANUP_STAT_CONT entry). */
export const HBC_DEFAULT_REJECT = '5.7.1 message content rejected';

/** Length of an RFC 3463 code at the start of text followed by end or white space, else 0 (Postfix dsn_valid). */
export function dsnValid(text: string): number {
  const m = /^[245]\.\d{1,3}\.\d{1,3}(?=$|[ \t\n\r\v\f])/.exec(text);
  return m ? m[0].length : 0;
}

/** "D.D.D text": the text's own status code when it starts with one, else `defDsn` (Postfix dsn_prepend). */
export function dsnPrepend(defDsn: string, text: string): string {
  let t = text.replace(/^[ \t\n\r\v\f]+/, '');
  let dsn = defDsn;
  const len = dsnValid(t);
  if (len > 0) {
    dsn = t.slice(0, len);
    t = t.slice(len + 1);
  }
  return `${dsn} ${t.replace(/^[ \t\n\r\v\f]+/, '')}`;
}

/**
 * Interprets one table answer ("ACTION optional text") found for `line`
 * (Postfix cleanup_act): the action word is matched case-insensitively.
 */
export function hbcParseAction(value: string, where: HbcWhere, mapClass: string): HbcEffect {
  const wordEnd = value.search(/[ \t]/);
  const command = (wordEnd < 0 ? value : value.slice(0, wordEnd)).toUpperCase();
  const text = wordEnd < 0 ? '' : value.slice(wordEnd).replace(/^[ \t\n\r\v\f]+/, '');
  switch (command) {
    case 'REJECT': {
      if (text === '') return { kind: 'reject', reason: HBC_DEFAULT_REJECT, defer: false };
      let reason = dsnPrepend('5.7.1', text);
      let warning: string | undefined;
      if (reason[0] !== '4' && reason[0] !== '5') {
        warning = `bad DSN action in ${text} -- need 4.x.x or 5.x.x`;
        reason = `4${reason.slice(1)}`;
      }
      return warning === undefined ? { kind: 'reject', reason, defer: reason[0] === '4' } : { kind: 'reject', reason, defer: true, warning };
    }
    case 'WARN':
      return { kind: 'warn', text };
    case 'INFO':
      return { kind: 'info', text };
    case 'FILTER':
      if (text === '') return { kind: 'invalid', warning: `missing FILTER command argument in ${mapClass} map` };
      if (!text.includes(':')) return { kind: 'invalid', warning: `bad FILTER command ${text} in ${mapClass} -- need transport:destination` };
      return { kind: 'filter', nexthop: text };
    case 'PASS':
      return { kind: 'pass', text };
    case 'DISCARD':
      return { kind: 'discard', text };
    case 'HOLD':
      return { kind: 'hold', text };
    case 'PREPEND':
      if (text === '') return { kind: 'invalid', warning: `PREPEND action without text in ${mapClass} map` };
      if (where === 'header' && isHeaderText(text) === 0) {
        return { kind: 'invalid', warning: `bad PREPEND header text "${text}" in ${mapClass} map -- need "headername: headervalue"` };
      }
      return { kind: 'prepend', text };
    case 'REPLACE':
      if (text === '') return { kind: 'invalid', warning: `REPLACE action without text in ${mapClass} map` };
      if (where === 'header' && isHeaderText(text) === 0) {
        return { kind: 'invalid', warning: `bad REPLACE header text "${text}" in ${mapClass} map -- need "headername: headervalue"` };
      }
      return { kind: 'replace', text };
    case 'REDIRECT':
      if (!text.includes('@')) return { kind: 'invalid', warning: `bad REDIRECT target "${text}" in ${mapClass} map -- need user@domain` };
      return { kind: 'redirect', address: text };
    case 'BCC':
      if (!text.includes('@')) return { kind: 'invalid', warning: `bad BCC address "${text}" in ${mapClass} map -- need user@domain` };
      return { kind: 'bcc', address: text };
    case 'STRIP':
      return { kind: 'strip', text };
    case 'IGNORE':
      return { kind: 'ignore' };
    case 'DUNNO':
    case 'OK':
      return { kind: 'dunno' };
    default:
      return { kind: 'invalid', warning: `unknown command in ${mapClass} map: ${value}` };
  }
}

/** Who and what to name in an action log line (cleanup's log_* attributes). */
export interface HbcLogContext {
  queueId: string;
  /** log_message_origin ("host[addr]", "local"); "unknown" when absent. */
  origin?: string | null;
  /** Envelope sender as it should be logged; the from=<> part is left out when null. */
  sender?: string | null;
  /** A recipient as it should be logged; the to=<> part is left out when null. */
  recipient?: string | null;
  /** log_protocol_name; left out when absent. */
  proto?: string | null;
  /** log_helo_name; left out when absent. */
  helo?: string | null;
}

/** Postfix's "%.200s" of the matched text. */
export const HBC_LOG_TEXT_LIMIT = 200;

/**
 * The line cleanup logs for an action (Postfix cleanup_act_log):
 * "QUEUEID: ACTION: WHERE LINE from ORIGIN; from=<S> to=<R> proto=P helo=<H>: TEXT".
 * `action` is the lower-case name ("reject", "warning", "info", "hold", ...).
 */
export function hbcLogText(ctx: HbcLogContext, action: string, where: HbcWhere, line: string, text: string): string {
  let out = `${ctx.queueId}: ${action}: ${where} ${line.slice(0, HBC_LOG_TEXT_LIMIT)} from ${ctx.origin ?? 'unknown'};`;
  if (ctx.sender !== undefined && ctx.sender !== null) out += ` from=<${ctx.sender}>`;
  if (ctx.recipient !== undefined && ctx.recipient !== null) out += ` to=<${ctx.recipient}>`;
  if (ctx.proto) out += ` proto=${ctx.proto}`;
  if (ctx.helo) out += ` helo=<${ctx.helo}>`;
  if (text !== '') out += `: ${text}`;
  return out;
}

/** The parameter values that configure the checks (already $-expanded). */
export interface HbcSettings {
  header_checks: string;
  mime_header_checks: string;
  nested_header_checks: string;
  body_checks: string;
  /** body_checks_size_limit: bytes per body segment that body_checks see (0: all). */
  body_checks_size_limit: number;
}

/** What HeaderBodyChecks needs from a table list (D's Maps satisfies it). */
export interface HbcMaps {
  readonly empty: boolean;
  find(key: string): Promise<string | null>;
}

export class HeaderBodyChecks {
  readonly headerChecks: HbcMaps | null;
  readonly mimeHeaderChecks: HbcMaps | null;
  readonly nestedHeaderChecks: HbcMaps | null;
  readonly bodyChecks: HbcMaps | null;
  readonly bodySizeLimit: number;

  constructor(
    settings: HbcSettings,
    opts: { config?: MailConfig; openMaps?: (param: string, value: string) => HbcMaps } = {},
  ) {
    const config = opts.config ? withoutUtf8Request(opts.config) : new MailConfig('', [], { smtputf8_enable: 'no' });
    const open = opts.openMaps ?? ((param: string, value: string) => new Maps(param, value, { config, fold: false }));
    const mk = (param: keyof HbcSettings): HbcMaps | null => {
      const v = String(settings[param]).trim();
      return v === '' ? null : open(param, v);
    };
    this.headerChecks = mk('header_checks');
    this.mimeHeaderChecks = mk('mime_header_checks');
    this.nestedHeaderChecks = mk('nested_header_checks');
    this.bodyChecks = mk('body_checks');
    this.bodySizeLimit = settings.body_checks_size_limit;
  }

  /** Reads the five parameters from main.cf (lazily expanded, defaults from the parameter table). */
  static fromConfig(config: MailConfig, opts: { openMaps?: (param: string, value: string) => HbcMaps } = {}): HeaderBodyChecks {
    return new HeaderBodyChecks(
      {
        header_checks: config.get('header_checks'),
        mime_header_checks: config.get('mime_header_checks'),
        nested_header_checks: config.get('nested_header_checks'),
        body_checks: config.get('body_checks'),
        body_checks_size_limit: config.getInt('body_checks_size_limit'),
      },
      { config, openMaps: opts.openMaps },
    );
  }

  /** True when any of the three header lists is configured. */
  get hasHeaderChecks(): boolean {
    return this.headerChecks !== null || this.mimeHeaderChecks !== null || this.nestedHeaderChecks !== null;
  }

  /**
   * Which list applies to a header: a MIME header (Content-*, MIME-Version)
   * anywhere uses mime_header_checks, else the list of its block.
   */
  headerClass(kind: MimeHeaderKind, header: string): { mapClass: string; maps: HbcMaps | null } {
    const k = isMimeHeader(header) ? 'multipart' : kind;
    if (k === 'primary') return { mapClass: 'header_checks', maps: this.headerChecks };
    if (k === 'multipart') return { mapClass: 'mime_header_checks', maps: this.mimeHeaderChecks };
    return { mapClass: 'nested_header_checks', maps: this.nestedHeaderChecks };
  }

  /** Looks one logical header up; null when no list applies or nothing matched. */
  async checkHeader(kind: MimeHeaderKind, header: string): Promise<HbcMatch | null> {
    const { mapClass, maps } = this.headerClass(kind, header);
    if (maps === null) return null;
    return lookup(maps, mapClass, 'header', header);
  }

  /** Looks one body record up when it starts within body_checks_size_limit; null otherwise. */
  async checkBody(line: string, offset: number): Promise<HbcMatch | null> {
    if (this.bodyChecks === null) return null;
    if (this.bodySizeLimit !== 0 && offset >= this.bodySizeLimit) return null;
    return lookup(this.bodyChecks, 'body_checks', 'body', line);
  }
}

/**
 * Postfix opens these tables without DICT_FLAG_UTF8_REQUEST, so 8-bit
 * keys are looked up as they are, without "non-UTF-8 key" warnings. The
 * Maps API has no such flag yet: hand the tables a configuration whose
 * smtputf8_enable is off (see the report: D is asked for a utf8 option).
 */
function withoutUtf8Request(config: MailConfig): MailConfig {
  if (!config.getBool('smtputf8_enable')) return config;
  return new MailConfig(config.configDir, config.entries(), { ...config.overrides(), smtputf8_enable: 'no' });
}

async function lookup(maps: HbcMaps, mapClass: string, where: HbcWhere, line: string): Promise<HbcMatch | null> {
  let value: string | null;
  try {
    value = await maps.find(line);
  } catch (err) {
    const error = err instanceof DictError ? err : new DictError(mapClass, err instanceof Error ? err.message : String(err));
    return { where, line, mapClass, value: '', effect: { kind: 'lookup-error', error } };
  }
  if (value === null) return null;
  return { where, line, mapClass, value, effect: hbcParseAction(value, where, mapClass) };
}
