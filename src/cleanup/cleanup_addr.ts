/*
 * cleanup_addr - envelope address processing for cleanup(8) (Postfix cleanup_addr.c, cleanup_out_recipient.c)
 *
 * What it does: the address stages cleanup applies to the envelope
 * sender, to each envelope recipient and to each automatic BCC
 * recipient, in Postfix's order, returning the records to write. C's
 * daemon calls them where Postfix does:
 *
 * 0. Once per process: deps = cleanupAddrInit(config, rewriteClient)
 *    (opens canonical_maps, sender_canonical_maps, recipient_canonical_maps,
 *    virtual_alias_maps, sender_bcc_maps, recipient_bcc_maps and reads
 *    the class/limit parameters; throws CleanupAddrConfigError with
 *    Postfix's fatal text for a bad *_classes or
 *    propagate_unmatched_extensions value, MatchListError for a bad
 *    masquerade_exceptions list: C msgFatal()s them; the result is cached
 *    per MailConfig object, later rewriters are ignored). Per message:
 *    dups = cleanupDupFilter(deps) and a ctx { queueId, flags, smtputf8 }.
 *
 * 1. cleanup_envelope.c, the sender record (REC_TYPE_FROM):
 *    cleanupAddrSender(deps, ctx, dups, sender) -> { sender, out }
 *    rewrite ("local" context); a result equal to MAILER-DAEMON@$myorigin
 *    becomes the null sender; then, with flag MAP_OK, sender_canonical_maps
 *    and canonical_maps (canonical_classes envelope_sender) and
 *    masquerade_domains (masquerade_classes envelope_sender). Write the S
 *    record with `sender`, then the recipients in `out` right after it
 *    (sender_bcc_maps, flag BCC_OK, non-null sender), as Postfix does.
 *
 * 2. cleanup_envelope.c and cleanup_extracted.c, each recipient record
 *    (REC_TYPE_RCPT; envelope recipients, and in the extracted segment the
 *    recipients sendmail -t took from the headers), with the O record and
 *    DSN attributes that came before it (orcpt: the O record's value, or
 *    else the recipient exactly as received):
 *    cleanupAddrRecipient(deps, ctx, dups, { recipient, orcpt, dsnOrcpt, dsnNotify })
 *      -> { address, out, trace }
 *    rewrite ("local"; an empty recipient becomes empty_address_recipient),
 *    recipient_canonical_maps, canonical_maps (envelope_recipient),
 *    masquerade (envelope_recipient); a missing DSN ORCPT becomes
 *    "rfc822;<address>" (utf-8 when SMTPUTF8 was requested and the
 *    address is not ASCII); then cleanup_out_recipient: virtual_alias_maps
 *    expansion (MAP_OK) and the duplicate filter; then recipient_bcc_maps
 *    (BCC_OK). `address` is Postfix's state->recip (for log lines and for
 *    cleanupAddrFinish); `out` the recipients to write in order; `trace`
 *    the DSN notices for the trace (or, verifying, the verify) service
 *    (cleanupOutRecipient, in cleanup_map1n.ts, is cleanup_out_recipient).
 *
 * 3. cleanup_extracted.c, at the end of the extracted segment (before the
 *    E record): cleanupAddrFinish(deps, ctx, dups, { haveRecipient, hbcRcpt })
 *    -> out: always_bcc (BCC_OK and at least one recipient), then the BCC
 *    addresses of header/body_checks BCC actions.
 *
 * 4. cleanup_message.c, each primary header: cleanupRewriteHeader() in
 *    cleanup_rewrite.ts.
 *
 * Envelope addresses are strings decoded from UTF-8 (as C's record
 * reader does). ctx.flags holds Postfix's CLEANUP_FLAG bits (MAP_OK, BCC_OK and
 * AUTOUTF8 matter here); ctx.smtputf8 holds Postfix's SMTPUTF8_FLAG bits
 * of the message and is updated in place (SENDER, REQUESTED).
 *
 * Errors: a table that cannot be searched, or a virtual alias limit,
 * makes the function reject with CleanupAddrError after logging Postfix's
 * diagnostic, e.g.
 *   QUEUEID: canonical_maps map lookup problem for ADDR -- message not accepted, try again later
 * err.status is the CLEANUP_STAT bit Postfix sets (WRITE for lookup
 * errors, DEFER for virtual alias limits) and err.reason the text Postfix
 * puts in state->reason (virtual_alias_maps, lookup errors included:
 * "4.6.0 Alias expansion error"; otherwise null). C ORs the status into
 * its error bits, keeps the reason, and discards the message. The real
 * smtpd then answers "451 4.6.0 Alias expansion error" (reason set) or
 * "451 4.3.0 Error: queue file write error" (cleanup_strerror of WRITE).
 * An address that expands to itself is no loop: it is kept.
 *
 * What it does not do: write records, keep cleanup's state, talk to the
 * trace service, or resolve addresses.
 *
 * DIAGNOSTICS
 * Warnings as Postfix (see cleanup_map11/map1n/masq/bcc.ts); this file
 * adds none.
 */
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { MailAddrFindOptions } from '../global/mail_addr_find.js';
import { Maps } from '../global/maps.js';
import { resolveLocal } from '../global/resolve_local.js';
import type { RewriteClient } from '../global/rewrite_clnt.js';
import type { MatchList } from '../util/match_list.js';
import { cleanupBccLookup } from './cleanup_bcc.js';
import { DupFilter } from './cleanup_dup_filter.js';
import { cleanupMap11Internal, sameAddress } from './cleanup_map11.js';
import { DSN_NOTIFY, type TraceNotice, cleanupOutRecipient } from './cleanup_map1n.js';
import { masqExceptionsInit, masqueradeInternal, parseMasqDomains } from './cleanup_masq.js';
import { addrRewriter } from './cleanup_rewrite.js';

export { CleanupAddrError, ALIAS_EXPANSION_ERROR } from './cleanup_map11.js';
export { DupFilter } from './cleanup_dup_filter.js';
export { DSN_NOTIFY, type TraceNotice, cleanupOutRecipient } from './cleanup_map1n.js';

/** Postfix SMTPUTF8_FLAG bits (smtputf8.h). */
export const SMTPUTF8_FLAG = { NONE: 0, REQUESTED: 1 << 0, HEADER: 1 << 1, SENDER: 1 << 2, RECIPIENT: 1 << 3 } as const;
/** The sender that becomes the null sender after rewriting (MAIL_ADDR_MAIL_DAEMON). */
export const MAIL_ADDR_MAIL_DAEMON = 'MAILER-DAEMON';

/** The rewrite context names (R's RewriteContext). */
export type AddrRewriteContext = 'local' | 'remote';

/** Address rewriting in both forms (see cleanup_rewrite.ts addrRewriter/localAddrRewriter). */
export interface AddrRewriter {
  /** Internal form in and out (Postfix rewrite_clnt_internal). */
  rewrite(context: AddrRewriteContext, address: string): Promise<string>;
  /** External form in and out (Postfix rewrite_clnt). */
  rewriteExternal(context: AddrRewriteContext, address: string): Promise<string>;
}

/** The tables cleanup opens once per process (null when the parameter is empty). */
export interface CleanupMaps {
  canonical: Maps | null;
  senderCanonical: Maps | null;
  recipientCanonical: Maps | null;
  virtualAlias: Maps | null;
  senderBcc: Maps | null;
  recipientBcc: Maps | null;
}

/** Which address classes a feature applies to (canonical_classes, masquerade_classes). */
export interface AddrClasses {
  envFrom: boolean;
  envRcpt: boolean;
  hdrFrom: boolean;
  hdrRcpt: boolean;
}

/** The parameters the address stages read, parsed once. */
export interface CleanupAddrSettings {
  commCanonClasses: AddrClasses;
  sendCanonClasses: AddrClasses;
  rcptCanonClasses: AddrClasses;
  masqClasses: AddrClasses;
  masqDomains: string[] | null;
  masqExceptions: MatchList | null;
  /** propagate_unmatched_extensions (the classes cleanup uses). */
  extProp: { canonical: boolean; virtual: boolean };
  virtualRecursionLimit: number;
  virtualExpansionLimit: number;
  virtualAddressLengthLimit: number;
  emptyAddressRecipient: string;
  enableOriginalRecipient: boolean;
  duplicateFilterLimit: number;
  alwaysBcc: string;
  smtputf8Enable: boolean;
  headerTokenLimit: number;
}

/** Everything the address stages depend on; see cleanupAddrInit(). */
export interface CleanupAddrDeps {
  config: MailConfig;
  rewrite: AddrRewriter;
  maps: CleanupMaps;
  settings: CleanupAddrSettings;
  /** How mail_addr_find searches (recipient_delimiter, local domains). */
  findOptions: MailAddrFindOptions;
}

/** Per-message context. */
export interface CleanupAddrCtx {
  /** Queue id, for log lines. */
  queueId: string;
  /** CLEANUP_FLAG bits of this message. */
  flags: number;
  /** SMTPUTF8_FLAG bits of this message; updated in place. */
  smtputf8: number;
  /** An address verification request (Postfix DEL_REQ_FLAG_MTA_VRFY in state->tflags). */
  mtaVerify?: boolean;
}

/** One recipient as the client sent it. */
export interface RecipientIn {
  /** The recipient (internal form) before rewriting. */
  recipient: string;
  /** The original recipient (O record), else the recipient as received. */
  orcpt: string;
  /** DSN ORCPT ("type;address"), '' when none. */
  dsnOrcpt: string;
  /** DSN NOTIFY bits, 0 when none. */
  dsnNotify: number;
}

/**
 * One recipient to write, in this order: an attribute record
 * notify=<dsnNotify> when dsnNotify is not 0, an attribute record
 * dsn_orig_rcpt=<dsnOrcpt> when dsnOrcpt is not '', the O record (orcpt),
 * the R record (recipient).
 */
export interface RecipientOut {
  /** Never set by these stages (the "expanded" notice is in RecipientResult.trace). */
  dsnAction?: string;
  dsnNotify: number;
  dsnOrcpt: string;
  orcpt: string;
  recipient: string;
}

export interface SenderResult {
  sender: string;
  /** The sender_bcc_maps recipients, to write right after the S record. */
  out: RecipientOut[];
}

export interface RecipientResult {
  address: string;
  out: RecipientOut[];
  trace: TraceNotice[];
}

/** A bad class or extension-propagation parameter (Postfix: fatal). */
export class CleanupAddrConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CleanupAddrConfigError';
  }
}

const CLASS_NAMES: Readonly<Record<string, keyof AddrClasses>> = {
  envelope_sender: 'envFrom',
  envelope_recipient: 'envRcpt',
  header_sender: 'hdrFrom',
  header_recipient: 'hdrRcpt',
};

function splitWords(value: string): string[] {
  return value.split(/[ ,\t\r\n]+/).filter((w) => w !== '');
}

/** Postfix name_mask() over the class names a parameter may list. */
export function parseClasses(context: string, value: string, allowed: readonly (keyof AddrClasses)[]): AddrClasses {
  const classes: AddrClasses = { envFrom: false, envRcpt: false, hdrFrom: false, hdrRcpt: false };
  for (const name of splitWords(value)) {
    const cls = CLASS_NAMES[name];
    if (cls === undefined || !allowed.includes(cls)) throw new CleanupAddrConfigError(`unknown ${context} value "${name}" in "${value}"`);
    classes[cls] = true;
  }
  return classes;
}

const EXT_PROP_NAMES = ['canonical', 'virtual', 'alias', 'forward', 'include', 'generic'];

/** Postfix ext_prop_mask(): which mapping classes propagate an unmatched extension. */
export function parseExtProp(value: string): { canonical: boolean; virtual: boolean } {
  const names = splitWords(value);
  for (const n of names) {
    if (!EXT_PROP_NAMES.includes(n)) throw new CleanupAddrConfigError(`unknown propagate_unmatched_extensions value "${n}" in "${value}"`);
  }
  return { canonical: names.includes('canonical'), virtual: names.includes('virtual') };
}

/** Read the settings (throws CleanupAddrConfigError or MatchListError on bad values). */
export function cleanupAddrSettings(config: MailConfig): CleanupAddrSettings {
  const all: (keyof AddrClasses)[] = ['envFrom', 'envRcpt', 'hdrFrom', 'hdrRcpt'];
  return {
    commCanonClasses: parseClasses('canonical_classes', config.get('canonical_classes'), all),
    sendCanonClasses: parseClasses('canonical_classes', config.get('sender_canonical_classes'), ['envFrom', 'hdrFrom']),
    rcptCanonClasses: parseClasses('canonical_classes', config.get('recipient_canonical_classes'), ['envRcpt', 'hdrRcpt']),
    masqClasses: parseClasses('masquerade_classes', config.get('masquerade_classes'), all),
    masqDomains: parseMasqDomains(config.get('masquerade_domains')),
    masqExceptions: masqExceptionsInit(config.get('masquerade_exceptions')),
    extProp: parseExtProp(config.get('propagate_unmatched_extensions')),
    virtualRecursionLimit: config.getInt('virtual_alias_recursion_limit'),
    virtualExpansionLimit: config.getInt('virtual_alias_expansion_limit'),
    virtualAddressLengthLimit: config.getInt('virtual_alias_address_length_limit'),
    emptyAddressRecipient: config.get('empty_address_recipient'),
    enableOriginalRecipient: config.getBool('enable_original_recipient'),
    duplicateFilterLimit: config.getInt('duplicate_filter_limit'),
    alwaysBcc: config.get('always_bcc'),
    smtputf8Enable: config.getBool('smtputf8_enable'),
    headerTokenLimit: config.getInt('header_address_token_limit'),
  };
}

function openMaps(config: MailConfig, name: string): Maps | null {
  const value = config.get(name);
  return value.trim() === '' ? null : new Maps(name, value, { config, fold: true });
}

const depsCache = new WeakMap<MailConfig, CleanupAddrDeps>();

/**
 * The address stages' dependencies for one configuration (cached per
 * MailConfig object: tables are opened once per process). `rewrite` is
 * R's RewriteClient or an AddrRewriter (tests: localAddrRewriter).
 */
export function cleanupAddrInit(config: MailConfig, rewrite: RewriteClient | AddrRewriter): CleanupAddrDeps {
  const cached = depsCache.get(config);
  if (cached) return cached;
  const myorigin = config.get('myorigin');
  const deps: CleanupAddrDeps = {
    config,
    rewrite: 'rewriteExternal' in rewrite && typeof rewrite.rewriteExternal === 'function' ? (rewrite as AddrRewriter) : addrRewriter(rewrite),
    settings: cleanupAddrSettings(config),
    maps: {
      canonical: openMaps(config, 'canonical_maps'),
      senderCanonical: openMaps(config, 'sender_canonical_maps'),
      recipientCanonical: openMaps(config, 'recipient_canonical_maps'),
      virtualAlias: openMaps(config, 'virtual_alias_maps'),
      senderBcc: openMaps(config, 'sender_bcc_maps'),
      recipientBcc: openMaps(config, 'recipient_bcc_maps'),
    },
    findOptions: {
      recipientDelimiter: config.get('recipient_delimiter'),
      isLocalDomain: (domain) => sameAddress(domain, myorigin) || resolveLocal(config, domain),
      doubleBounceSender: config.get('double_bounce_sender'),
      ownerRequestSpecial: config.getBool('owner_request_special'),
    },
  };
  depsCache.set(config, deps);
  return deps;
}

/** A fresh duplicate filter for one message (duplicate_filter_limit). */
export function cleanupDupFilter(deps: CleanupAddrDeps): DupFilter {
  return new DupFilter(deps.settings.duplicateFilterLimit);
}

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\u0000-\u007f]*$/.test(s);
}

/**
 * valid_utf8_string for an envelope address: C decodes envelope records
 * as UTF-8, so invalid input shows up as U+FFFD replacement characters.
 */
function isValidUtf8(s: string): boolean {
  return !s.includes('\ufffd');
}

/** The envelope-recipient class mapping shared by recipients and BCC recipients. */
async function mapRecipient(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, address: string): Promise<string> {
  let clean = await deps.rewrite.rewrite('local', address);
  if ((ctx.flags & CLEANUP_FLAG.MAP_OK) !== 0) {
    const s = deps.settings;
    if (deps.maps.recipientCanonical && s.rcptCanonClasses.envRcpt) clean = (await cleanupMap11Internal(deps, ctx, clean, deps.maps.recipientCanonical)).address;
    if (deps.maps.canonical && s.commCanonClasses.envRcpt) clean = (await cleanupMap11Internal(deps, ctx, clean, deps.maps.canonical)).address;
    if (s.masqDomains && s.masqClasses.envRcpt) clean = masqueradeInternal(deps, ctx, clean).address;
  }
  if (deps.settings.smtputf8Enable && clean !== '' && !isAscii(clean) && isValidUtf8(clean) && (ctx.flags & CLEANUP_FLAG.AUTOUTF8) !== 0) {
    ctx.smtputf8 |= SMTPUTF8_FLAG.REQUESTED;
  }
  return clean;
}

/** cleanup_addr_sender; see the header comment. */
export async function cleanupAddrSender(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, dups: DupFilter, sender: string): Promise<SenderResult> {
  let clean = await deps.rewrite.rewrite('local', sender);
  if (clean.slice(0, MAIL_ADDR_MAIL_DAEMON.length + 1).toLowerCase() === `${MAIL_ADDR_MAIL_DAEMON.toLowerCase()}@`) {
    if (sameAddress(clean, await deps.rewrite.rewrite('local', MAIL_ADDR_MAIL_DAEMON))) clean = '';
  }
  const s = deps.settings;
  if ((ctx.flags & CLEANUP_FLAG.MAP_OK) !== 0) {
    if (deps.maps.senderCanonical && s.sendCanonClasses.envFrom) clean = (await cleanupMap11Internal(deps, ctx, clean, deps.maps.senderCanonical)).address;
    if (deps.maps.canonical && s.commCanonClasses.envFrom) clean = (await cleanupMap11Internal(deps, ctx, clean, deps.maps.canonical)).address;
    if (s.masqDomains && s.masqClasses.envFrom) clean = masqueradeInternal(deps, ctx, clean).address;
  }
  if (s.smtputf8Enable && clean !== '' && !isAscii(clean) && isValidUtf8(clean)) {
    ctx.smtputf8 |= SMTPUTF8_FLAG.SENDER;
    if ((ctx.flags & CLEANUP_FLAG.AUTOUTF8) !== 0) ctx.smtputf8 |= SMTPUTF8_FLAG.REQUESTED;
  }
  let out: RecipientOut[] = [];
  if ((ctx.flags & CLEANUP_FLAG.BCC_OK) !== 0 && clean !== '' && deps.maps.senderBcc) {
    const address = await cleanupBccLookup(deps, ctx, deps.maps.senderBcc, clean);
    if (address !== null) out = await cleanupAddrBcc(deps, ctx, dups, address);
  }
  return { sender: clean, out };
}

/** cleanup_addr_recipient; see the header comment. */
export async function cleanupAddrRecipient(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, dups: DupFilter, rcpt: RecipientIn): Promise<RecipientResult> {
  const clean = await mapRecipient(deps, ctx, rcpt.recipient !== '' ? rcpt.recipient : deps.settings.emptyAddressRecipient);
  let dsnOrcpt = rcpt.dsnOrcpt;
  if (dsnOrcpt === '' && clean !== '') {
    const type = !isAscii(clean) && (ctx.smtputf8 & SMTPUTF8_FLAG.REQUESTED) !== 0 ? 'utf-8' : 'rfc822';
    dsnOrcpt = `${type};${clean}`;
  }
  const { out, trace } = await cleanupOutRecipient(deps, ctx, dups, { dsnNotify: rcpt.dsnNotify, dsnOrcpt, orcpt: rcpt.orcpt, recipient: clean });
  if ((ctx.flags & CLEANUP_FLAG.BCC_OK) !== 0 && clean !== '' && deps.maps.recipientBcc) {
    const bcc = await cleanupBccLookup(deps, ctx, deps.maps.recipientBcc, clean);
    if (bcc !== null) out.push(...(await cleanupAddrBcc(deps, ctx, dups, bcc)));
  }
  return { address: clean, out, trace };
}

/** cleanup_addr_bcc: one automatic BCC recipient (internal form), written with NOTIFY=NEVER. */
export async function cleanupAddrBcc(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, dups: DupFilter, bcc: string): Promise<RecipientOut[]> {
  const clean = await mapRecipient(deps, ctx, bcc);
  return (await cleanupOutRecipient(deps, ctx, dups, { dsnNotify: DSN_NOTIFY.NEVER, dsnOrcpt: '', orcpt: clean, recipient: clean })).out;
}

/**
 * cleanup_extracted_finish's recipients: always_bcc (flag BCC_OK, when the
 * message has a recipient), then header/body_checks BCC addresses (when it
 * has a recipient). `ok` false (C's CLEANUP_OUT_OK failed) skips the latter.
 */
export async function cleanupAddrFinish(
  deps: CleanupAddrDeps,
  ctx: CleanupAddrCtx,
  dups: DupFilter,
  opts: { haveRecipient: boolean; hbcRcpt?: readonly string[]; ok?: boolean },
): Promise<RecipientOut[]> {
  const out: RecipientOut[] = [];
  if ((ctx.flags & CLEANUP_FLAG.BCC_OK) !== 0 && opts.haveRecipient && deps.settings.alwaysBcc !== '') {
    out.push(...(await cleanupAddrBcc(deps, ctx, dups, deps.settings.alwaysBcc)));
  }
  if (opts.hbcRcpt && (opts.ok ?? true) && opts.haveRecipient) {
    for (const bcc of opts.hbcRcpt) out.push(...(await cleanupAddrBcc(deps, ctx, dups, bcc)));
  }
  return out;
}
