/*
 * mail_addr_find - look an address up with Postfix's partial-key order
 *
 * What it does: mailAddrFind() searches Maps for an internal-form
 * address the way Postfix's mail_addr_find() (legacy form: external
 * query first, internal form second when they differ) does:
 *   user+ext@domain   (every table, pattern tables included)
 *   user@domain       (fixed tables only; when an extension was split off)
 *   user+ext, user    (fixed tables; only when the domain is local)
 *   @domain           (fixed tables)
 * Pattern tables (regexp, pcre, cidr, ...) thus see the whole address
 * once. The extension is split at the first of any recipient_delimiter
 * character in the local part, except for postmaster, MAILER-DAEMON,
 * the double_bounce_sender, and owner-foo / foo-request when '-' is a
 * delimiter and owner_request_special is on (Postfix split_addr).
 * strategy 'full' looks up the whole address only.
 *
 * What it does not do: decide which domains are local (the caller's
 * isLocalDomain, usually resolve_local plus $myorigin), or convert the
 * result to internal form.
 *
 * DIAGNOSTICS
 * Rejects with the DictError of the first table that fails.
 */
import type { Maps } from './maps.js';
import { QUOTE_FLAG, QUOTE_FLAG_DEFAULT, quote822Local } from './quote_822_local.js';

export interface MailAddrFindOptions {
  /** recipient_delimiter: any one of its characters splits. */
  recipientDelimiter: string;
  /** resolve_local(): may be async (tables in mydestination); a rejection ends the search. */
  isLocalDomain(domain: string): boolean | Promise<boolean>;
  /** $myorigin: also local, compared case-insensitively (optional: isLocalDomain may cover it). */
  myorigin?: string;
  strategy?: 'full' | 'default';
  /** double_bounce_sender (default "double-bounce"). */
  doubleBounceSender?: string;
  /** owner_request_special (default true). */
  ownerRequestSpecial?: boolean;
}

export interface MailAddrFindResult {
  result: string;
  /** The key that matched (as it was queried). */
  key: string;
  /** The extension that was chopped off to match, with its delimiter; else null. */
  extension: string | null;
}

const MAIL_ADDR_POSTMASTER = 'postmaster';
const MAIL_ADDR_MAIL_DAEMON = 'MAILER-DAEMON';
const DEF_DOUBLE_BOUNCE = 'double-bounce';
const OWNER_PREFIX = 'owner-';
const REQUEST_SUFFIX = '-request';

/** Postfix split_addr: where the extension starts in a local part, or -1. */
export function splitAddrIndex(localpart: string, delims: string, opts: Pick<MailAddrFindOptions, 'doubleBounceSender' | 'ownerRequestSpecial'> = {}): number {
  const lc = localpart.toLowerCase();
  if (lc === MAIL_ADDR_POSTMASTER || lc === MAIL_ADDR_MAIL_DAEMON.toLowerCase()) return -1;
  if (lc === (opts.doubleBounceSender ?? DEF_DOUBLE_BOUNCE).toLowerCase()) return -1;
  if (delims.includes('-') && (opts.ownerRequestSpecial ?? true)) {
    if (lc.startsWith(OWNER_PREFIX)) return -1;
    if (lc.length > REQUEST_SUFFIX.length && lc.endsWith(REQUEST_SUFFIX)) return -1;
  }
  let i = 0;
  while (i < localpart.length && !delims.includes(localpart[i]!)) i++;
  if (i === 0 || i === localpart.length) return -1;
  return i;
}

/** Postfix strip_addr: the address without its extension, and the extension. */
export function stripAddr(address: string, delims: string, opts: Pick<MailAddrFindOptions, 'doubleBounceSender' | 'ownerRequestSpecial'> = {}): { bare: string; extension: string } | null {
  if (delims === '') return null;
  const at = address.lastIndexOf('@');
  const local = at >= 0 ? address.slice(0, at) : address;
  const domain = at >= 0 ? address.slice(at) : '';
  const idx = splitAddrIndex(local, delims, opts);
  if (idx < 0) return null;
  return { bare: local.slice(0, idx) + domain, extension: local.slice(idx) };
}

/** maps_find with the external form first, then the internal form when different. */
async function findAddr(maps: Maps, address: string, partial: boolean, withDomain: boolean): Promise<{ result: string; key: string } | null> {
  const ext = quote822Local(address, withDomain ? QUOTE_FLAG_DEFAULT : QUOTE_FLAG_DEFAULT | QUOTE_FLAG.BARE_LOCALPART);
  const find = (k: string) => (partial ? maps.findFixed(k) : maps.find(k));
  let result = await find(ext);
  if (result !== null) return { result, key: ext };
  if (ext === address) return null;
  result = await find(address);
  return result !== null ? { result, key: address } : null;
}

export async function mailAddrFind(maps: Maps, address: string, opts: MailAddrFindOptions): Promise<MailAddrFindResult | null> {
  const strategy = opts.strategy ?? 'default';
  const stripped = strategy === 'default' ? stripAddr(address, opts.recipientDelimiter, opts) : null;

  let hit = await findAddr(maps, address, false, true);
  if (hit) return { ...hit, extension: null };
  if (strategy === 'full') return null;
  if (stripped) {
    hit = await findAddr(maps, stripped.bare, true, true);
    if (hit) return { ...hit, extension: stripped.extension };
  }
  const at = address.lastIndexOf('@');
  if (at < 0) return null;
  const domain = address.slice(at + 1);
  const local = (opts.myorigin !== undefined && domain.toLowerCase() === opts.myorigin.toLowerCase()) || (await opts.isLocalDomain(domain));
  if (local) {
    hit = await findAddr(maps, address.slice(0, at), true, false);
    if (hit) return { ...hit, extension: null };
    if (stripped) {
      const bareAt = stripped.bare.lastIndexOf('@');
      hit = await findAddr(maps, stripped.bare.slice(0, bareAt), true, false);
      if (hit) return { ...hit, extension: stripped.extension };
    }
  }
  const atDomain = address.slice(at);
  const result = await maps.findFixed(atDomain);
  return result !== null ? { result, key: atDomain, extension: null } : null;
}
