/*
 * cleanup_map11 - one-to-one address mapping (canonical maps) for cleanup(8)
 *
 * What it does: mailAddrMap() is Postfix's mail_addr_map_opt(): look the
 * address up with mail_addr_find's partial-key order (D's mailAddrFind:
 * user+ext@domain, user@domain, user+ext / user when the domain is local,
 * @domain); a result "@otherdomain" keeps the original local part (minus
 * an unmatched extension); the result is then split into addresses
 * (mail_addr_crunch: parsed as an address list, each address rewritten
 * in the "local" context, so "user" becomes user@$myorigin), and an
 * extension that had to be chopped off to match is put back into each
 * result (before the last '@') when `propagate` is true
 * (propagate_unmatched_extensions). A result with no address in it is a
 * lookup problem, as in Postfix.
 * cleanupMap11External/Internal/Tree are cleanup_map11.c: look the
 * address up repeatedly (at most CLEANUP_MAP11_MAX_RECURSION times) until
 * it maps to itself (case-insensitively) or no longer matches; only the
 * first address of a multi-valued result is used.
 *
 * What it does not do: one-to-many expansion (cleanup_map1n.ts) or
 * decide which maps apply to which address class (cleanup_addr.ts).
 *
 * DIAGNOSTICS
 *   QUEUEID: multi-valued TITLE entry for ADDR
 *   QUEUEID: unreasonable TITLE map nesting for ADDR -- message not accepted, try again later
 *     (a warning only, as in Postfix: the message is accepted)
 *   TITLE lookup of ADDR returns non-address result "VALUE"
 *   QUEUEID: TITLE map lookup problem for ADDR -- message not accepted, try again later
 *     (then the promise rejects with CleanupAddrError, status CLEANUP_STAT.WRITE)
 */
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { DictError } from '../global/dict_base.js';
import { mailAddrFind } from '../global/mail_addr_find.js';
import type { Maps } from '../global/maps.js';
import { quote822Local, unquote822Local } from '../global/quote_822_local.js';
import { Tok822, TOK822, tokGrep } from '../global/tok822.js';
import { tokExternalize, tokParse } from '../global/tok822_parse.js';
import { tokRewrite } from '../global/tok822_rewrite.js';
import { clog } from './cleanup_log.js';
import type { CleanupAddrCtx, CleanupAddrDeps } from './cleanup_addr.js';

/** How often cleanup_map11 follows a chain of one-to-one mappings (Postfix MAX_RECURSION). */
export const CLEANUP_MAP11_MAX_RECURSION = 10;

/** cleanup's reason text when virtual alias expansion fails (Postfix cleanup_map1n). */
export const ALIAS_EXPANSION_ERROR = '4.6.0 Alias expansion error';

/**
 * A table problem that means "do not accept this message now". status is
 * the CLEANUP_STAT bit Postfix sets (WRITE for a lookup error, DEFER for
 * a virtual alias limit); reason is the text Postfix puts in state->reason
 * (null: cleanup_strerror's text for the status is used).
 */
export class CleanupAddrError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string | null = null,
    readonly table: string | null = null,
  ) {
    super(message);
    this.name = 'CleanupAddrError';
  }
}

/** Case-insensitive comparison as strcasecmp_utf8. */
export function sameAddress(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase();
}

/** Put an extension back into an internal-form address, before its last '@'. */
export function insertExtension(address: string, extension: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address + extension : address.slice(0, at) + extension + address.slice(at);
}

/** mail_addr_crunch: split a table result into addresses, canonicalize each. */
export async function mailAddrCrunch(deps: CleanupAddrDeps, external: string, extension: string | null, outForm: 'internal' | 'external'): Promise<string[]> {
  const text = external === '' || external === '<>' ? '""' : external;
  const tree = tokParse(text);
  const out: string[] = [];
  for (const addr of tokGrep(tree, TOK822.ADDR)) {
    const canon = await deps.rewrite.rewriteExternal('local', tokExternalize(addr.head));
    let internal = unquote822Local(canon);
    if (extension !== null) internal = insertExtension(internal, extension);
    out.push(outForm === 'external' ? quote822Local(internal) : internal);
  }
  return out;
}

/**
 * mail_addr_map_opt with an internal-form (or external, inForm) address;
 * null when nothing matched. Rejects with DictError on a table error or a
 * result that holds no address.
 */
export async function mailAddrMap(
  deps: CleanupAddrDeps,
  maps: Maps,
  address: string,
  propagate: boolean,
  inForm: 'internal' | 'external',
  outForm: 'internal' | 'external',
): Promise<string[] | null> {
  const intAddr = inForm === 'external' ? unquote822Local(address) : address;
  // Postfix queries these maps with the external (quoted) form only
  // (MA_FORM_EXTERNAL); mailAddrFind honours queryForm once D adds it, and
  // until then also tries the internal form when it differs.
  const findOptions = { ...deps.findOptions, queryForm: 'external' as const };
  const found = await mailAddrFind(maps, intAddr, findOptions);
  if (found === null) return null;
  let value = found.result;
  if (value.startsWith('@')) {
    const at = intAddr.lastIndexOf('@');
    let local = at >= 0 ? intAddr.slice(0, at) : intAddr;
    if (found.extension !== null) local = local.slice(0, local.length - found.extension.length);
    value = quote822Local(local + value);
  }
  const result = await mailAddrCrunch(deps, value, propagate ? found.extension : null, outForm);
  if (result.length === 0) {
    clog.warn(`${maps.title} lookup of ${address} returns non-address result "${value}"`);
    throw new DictError(maps.title, `${maps.title}: non-address result for ${address}`);
  }
  return result;
}

/** cleanup_map11_external: map an external-form address; the result and whether it changed. */
export async function cleanupMap11External(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, address: string, maps: Maps): Promise<{ address: string; changed: boolean }> {
  const propagate = deps.settings.extProp.canonical;
  let addr = address;
  let changed = false;
  for (let count = 0; count < CLEANUP_MAP11_MAX_RECURSION; count++) {
    let mapped: string[] | null;
    try {
      mapped = await mailAddrMap(deps, maps, addr, propagate, 'external', 'external');
    } catch (err) {
      if (!(err instanceof DictError)) throw err;
      const text = `${ctx.queueId}: ${maps.title} map lookup problem for ${addr} -- message not accepted, try again later`;
      clog.warn(text);
      throw new CleanupAddrError(text, CLEANUP_STAT.WRITE, null, maps.title);
    }
    if (mapped === null) return { address: addr, changed };
    if (mapped.length > 1) clog.warn(`${ctx.queueId}: multi-valued ${maps.title} entry for ${addr}`);
    const saved = addr;
    if (mapped[0] !== addr) changed = true;
    addr = mapped[0]!;
    if (sameAddress(saved, addr)) return { address: addr, changed };
  }
  clog.warn(`${ctx.queueId}: unreasonable ${maps.title} map nesting for ${addr} -- message not accepted, try again later`);
  return { address: addr, changed };
}

/** cleanup_map11_internal: map an internal-form address. */
export async function cleanupMap11Internal(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, address: string, maps: Maps): Promise<{ address: string; changed: boolean }> {
  const r = await cleanupMap11External(deps, ctx, quote822Local(address), maps);
  return { address: unquote822Local(r.address), changed: r.changed };
}

/** cleanup_map11_tree: map one ADDR node of a parsed header in place; true when it changed. */
export async function cleanupMap11Tree(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, addr: Tok822, maps: Maps): Promise<boolean> {
  const r = await cleanupMap11External(deps, ctx, tokExternalize(addr.head), maps);
  tokRewrite(addr, () => r.address);
  return r.changed;
}
