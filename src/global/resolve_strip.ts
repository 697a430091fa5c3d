/*
 * resolve_strip - the first half of Postfix resolve_addr(): strip local domains off an address
 *
 * What it does: resolveStrip(address, options) quotes the internal-form
 * address, tokenizes it, and loops as Postfix's resolver does: a trailing
 * dot after the domain is dropped (not after '.' or '@'), with
 * resolve_null_domain a trailing '@' too; an @domain that options.isLocal
 * says is ours is cut off and remembered; what remains is rewritten in
 * the "local" context (rewrite_addr.ts rewriteTree) while it holds '@',
 * or '!' (swap_bangpath) or '%' (allow_percent_hack); with
 * resolve_dequoted_address a lone quoted local part is cracked open at
 * its last '@' (or '%', '!'); an empty local part becomes
 * empty_address_recipient; an address with no domain at all gets
 * @$myhostname and goes round again. It ends with the first domain that
 * is not local (returned as `domain`) or when nothing is left to strip.
 *
 * What it does not do: decide the address class, transport or nexthop
 * (resolve_addr.ts).
 *
 * DIAGNOSTICS
 * "resolve_addr: <ADDR>: giving up after N iterations" (a warning), then
 * ResolveLoopError; options.isLocal may reject with DictError.
 */
import { msgWarn } from '../util/msg.js';
import { quote822Local } from './quote_822_local.js';
import { type RewriteSettings, rewriteTree } from './rewrite_addr.js';
import { Tok822, TOK822, TOK822_OP, tokRfindType, tokSubAppend, tokSubKeepBefore } from './tok822.js';
import { tokInternalize, tokScan, tokScanAddr, tokScanList } from './tok822_parse.js';

/** Iterations beyond the address length before the loop gives up. */
export const RESOLVE_LOOP_SLACK = 100;

export interface StripOptions {
  /** The "local" rewrite context settings (swap_bangpath, allow_percent_hack, myorigin, ...). */
  settings: RewriteSettings;
  /** resolve_null_domain. */
  nullDomain: boolean;
  /** resolve_dequoted_address. */
  dequoted: boolean;
  /** empty_address_recipient. */
  emptyAddress: string;
  myhostname: string;
  /** resolve_local(); rejects with DictError when a table fails. */
  isLocal(domain: string): Promise<boolean>;
}

export interface StripResult {
  tree: Tok822;
  /** The '@' before a remote domain, or null when every domain was local. */
  domain: Tok822 | null;
  /** The last local @domain cut off, or null. */
  saved: Tok822 | null;
}

/** The loop ran past its bound (a pathological address). */
export class ResolveLoopError extends Error {
  constructor(address: string, loops: number) {
    super(`resolve_addr: <${address}>: giving up after ${loops} iterations`);
    this.name = 'ResolveLoopError';
  }
}

/** The tree loop: strip local domains, rewrite routing operators; `domain` is the remote @ token, or null. */
export async function resolveStrip(address: string, o: StripOptions): Promise<StripResult> {
  const s = o.settings;
  const swap = s.swapBangpath;
  const percent = s.percentHack;
  const nulldom = o.nullDomain;
  const dequoted = o.dequoted;
  const tree = tokScanAddr(quote822Local(address));
  let saved: Tok822 | null = null;
  let domain: Tok822 | null = null;
  const loopMax = address.length + RESOLVE_LOOP_SLACK;
  for (let loop = 0; ; loop++) {
    if (loop > loopMax) {
      msgWarn(`resolve_addr: <${address}>: giving up after ${loop} iterations`);
      throw new ResolveLoopError(address, loop);
    }
    const tail = tree.tail;
    if (tail && tail.type === TOK822_OP.DOT && tokRfindType(tail, TOK822_OP.AT) !== null && tail.prev && tail.prev.type !== TOK822_OP.DOT && tail.prev.type !== TOK822_OP.AT) {
      tokSubKeepBefore(tree, tail);
    }
    if (nulldom && tree.tail && tree.tail.type === TOK822_OP.AT) tokSubKeepBefore(tree, tree.tail);
    domain = tokRfindType(tree.tail, TOK822_OP.AT);
    if (domain !== null) {
      if (domain.next && !(await o.isLocal(tokInternalize(domain.next)))) break;
      tokSubKeepBefore(tree, domain);
      saved = domain;
      domain = null;
    }
    if (
      tokRfindType(tree.tail, TOK822_OP.AT) !== null ||
      (swap && tokRfindType(tree.tail, TOK822_OP.BANG) !== null) ||
      (percent && tokRfindType(tree.tail, TOK822_OP.PERCENT) !== null)
    ) {
      rewriteTree(s, tree);
      continue;
    }
    const head = tree.head;
    if (dequoted && head && head === tree.tail && head.type === TOK822.QSTRING) {
      const text = head.text;
      let at = text.lastIndexOf('@');
      if (at < 0 && percent) at = text.lastIndexOf('%');
      if (at < 0 && swap) at = text.lastIndexOf('!');
      if (at >= 0) {
        const op = text[at];
        let buf = op === '%' ? `${text.slice(0, at)}@${text.slice(at + 1)}` : text;
        if (op !== '!') buf = quote822Local(buf);
        const list = tokScanList(buf);
        tree.head = list?.head ?? null;
        tree.tail = list?.tail ?? null;
        if (tree.head !== null) rewriteTree(s, tree);
        continue;
      }
    }
    if (head && head === tree.tail && head.type === TOK822.QSTRING && head.text === '') {
      tree.head = null;
      tree.tail = null;
    }
    if (tree.head === null) {
      const list = tokScanList(o.emptyAddress);
      tree.head = list?.head ?? null;
      tree.tail = list?.tail ?? null;
      continue;
    }
    if (domain === null && saved === null) {
      appendMyhostname(tree, o.myhostname);
      continue;
    }
    domain = null;
    break;
  }
  return { tree, domain, saved };
}

/** Appends "@" and $myhostname to an address tree. */
export function appendMyhostname(tree: Tok822, myhostname: string): void {
  tokSubAppend(tree, new Tok822(TOK822_OP.AT));
  const host = tokScan(myhostname);
  if (host) tokSubAppend(tree, host);
}
