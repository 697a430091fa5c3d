/*
 * cleanup_rewrite - address rewriting through trivial-rewrite, and header address rewriting
 *
 * What it does: Postfix's cleanup_rewrite.c through an AddrRewriter
 * (rewrite: internal form in and out; rewriteExternal: external form;
 * rewriteTree: one ADDR node of a parsed header, externalized, rewritten
 * and scanned back in, telling whether it changed), the adapters that
 * make an AddrRewriter (localAddrRewriter: computed in this process by
 * rewrite_addr.ts; addrRewriter: wraps R's RewriteClient), and
 * cleanupRewriteHeader(): Postfix's cleanup_rewrite_sender /
 * cleanup_rewrite_recip for one primary header classified by
 * header_opts as a sender header (From, Sender, Reply-To, Errors-To,
 * Return-Path, Return-Receipt-To, Disposition-Notification-To,
 * Mail-Followup-To, Resent-From, Resent-Sender) or a recipient header
 * (To, Cc, Bcc, Apparently-To, Resent-To, Resent-Cc, Resent-Bcc,
 * Resent-Reply-To). The value is parsed with header_address_token_limit;
 * each address is rewritten in the header rewrite context, then (flag
 * MAP_OK) mapped through sender_canonical_maps / recipient_canonical_maps
 * and canonical_maps (canonical_classes header_sender / header_recipient)
 * and masqueraded (masquerade_classes). Only when an address changed is
 * the header regenerated ("Name: " + the tree printed one address per
 * line) and folded as cleanup_fold_header does; otherwise the header
 * goes out exactly as it came in. Comments, phrases and groups stay as
 * they were, because only the ADDR nodes are replaced.
 *
 * What it does not do: decide the header rewrite context
 * (local_header_rewrite_clients / remote_header_rewrite_domain: C's
 * cleanup state gives it, null meaning "do not touch headers", in which
 * case Postfix does no canonical mapping or masquerading of headers
 * either), drop headers (message_drop_headers: C checks HDR_OPT.DROP),
 * or prepend the tab of continuation lines (cleanup_out_header).
 *
 * DIAGNOSTICS
 * As cleanup_map11.ts and cleanup_masq.ts (a table error rejects with
 * CleanupAddrError).
 */
import { type HeaderOpts, HDR_OPT, headerOptsFind } from '../global/header_opts.js';
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import type { MailConfig } from '../global/mail_conf.js';
import { quote822Local, unquote822Local } from '../global/quote_822_local.js';
import { rewriteExternal, rewriteSettings, type RewriteSettings } from '../global/rewrite_addr.js';
import type { RewriteClient } from '../global/rewrite_clnt.js';
import { Tok822, TOK822, tokGrep } from '../global/tok822.js';
import { TOK822_STR, tokExternalize, tokParse } from '../global/tok822_parse.js';
import { tokRewriteAsync } from '../global/tok822_rewrite.js';
import type { AddrRewriteContext, AddrRewriter, CleanupAddrCtx, CleanupAddrDeps } from './cleanup_addr.js';
import { cleanupMap11Tree } from './cleanup_map11.js';
import { cleanupMasqueradeTree } from './cleanup_masq.js';

/** cleanup_fold_header joins lines while the joined line stays shorter than this. */
export const CLEANUP_FOLD_WIDTH = 70;

/** An AddrRewriter computed in this process (Postfix's answers without the daemon). */
export function localAddrRewriter(config: MailConfig): AddrRewriter {
  const settings = new Map<AddrRewriteContext, RewriteSettings>();
  const get = (context: AddrRewriteContext): RewriteSettings => {
    let s = settings.get(context);
    if (!s) {
      s = rewriteSettings(config, context);
      settings.set(context, s);
    }
    return s;
  };
  return {
    rewrite: async (context, address) => unquote822Local(rewriteExternal(get(context), quote822Local(address))),
    rewriteExternal: async (context, address) => rewriteExternal(get(context), address),
  };
}

/**
 * An AddrRewriter over R's RewriteClient. The client speaks internal
 * form; when it also offers rewriteExternal (Postfix's rewrite_clnt) that
 * is used for external-form rewriting, else the external form is
 * unquoted, rewritten and quoted again (the same answer except for
 * needlessly quoted local parts).
 */
export function addrRewriter(client: RewriteClient & { rewriteExternal?: (context: AddrRewriteContext, address: string) => Promise<string> }): AddrRewriter {
  return {
    rewrite: (context, address) => client.rewrite(context, address),
    rewriteExternal: client.rewriteExternal
      ? (context, address) => client.rewriteExternal!(context, address)
      : async (context, address) => quote822Local(await client.rewrite(context, unquote822Local(address))),
  };
}

/** cleanup_rewrite_tree: rewrite one ADDR node in place; true when its text changed. */
export async function rewriteTree(rw: AddrRewriter, context: AddrRewriteContext, addr: Tok822): Promise<boolean> {
  let changed = false;
  await tokRewriteAsync(addr, async (external) => {
    const result = await rw.rewriteExternal(context, external);
    changed = result !== external;
    return result;
  });
  return changed;
}

/** Which address class a header belongs to, by header_opts flags. */
export function headerAddressKind(opts: HeaderOpts | null): 'sender' | 'recipient' | null {
  if (!opts) return null;
  if (opts.flags & HDR_OPT.SENDER) return 'sender';
  if (opts.flags & HDR_OPT.RECIP) return 'recipient';
  return null;
}

/**
 * cleanup_fold_header: the regenerated header has one address per line;
 * join lines while the result stays under CLEANUP_FOLD_WIDTH characters
 * (counted from the start of the current output line).
 */
export function cleanupFoldHeader(text: string): string {
  const parts = text.split('\n');
  let out = parts[0]!;
  let lineStart = 0;
  for (let i = 1; i < parts.length; i++) {
    const candidate = `${out} ${parts[i]}`;
    if (candidate.length - lineStart < CLEANUP_FOLD_WIDTH) {
      out = candidate;
    } else {
      lineStart = out.length + 1;
      out = `${out}\n${parts[i]}`;
    }
  }
  return out;
}

/** Per-header context: the message's context plus the header rewrite context (null: leave headers alone). */
export interface HeaderRewriteCtx extends CleanupAddrCtx {
  headerRewriteContext: AddrRewriteContext | null;
}

export interface HeaderRewriteResult {
  /** The header to write (folded with '\n' when regenerated; the input when not). */
  text: string;
  /** True when an address changed and the header was regenerated. */
  changed: boolean;
  /** The header's class, null when it carries no addresses to rewrite. */
  kind: 'sender' | 'recipient' | null;
}

/**
 * Rewrite the addresses of one primary header (the complete logical
 * header, folded lines joined by '\n'). `opts` defaults to
 * headerOptsFind(header). Rejects with CleanupAddrError on a table error.
 */
export async function cleanupRewriteHeader(deps: CleanupAddrDeps, ctx: HeaderRewriteCtx, header: string, opts: HeaderOpts | null = headerOptsFind(header)): Promise<HeaderRewriteResult> {
  const kind = headerAddressKind(opts);
  const context = ctx.headerRewriteContext;
  if (kind === null || context === null || opts === null) return { text: header, changed: false, kind };
  const s = deps.settings;
  const sender = kind === 'sender';
  const cls = sender ? 'hdrFrom' : 'hdrRcpt';
  const ownMaps = sender ? deps.maps.senderCanonical : deps.maps.recipientCanonical;
  const ownClasses = sender ? s.sendCanonClasses : s.rcptCanonClasses;
  const mapOk = (ctx.flags & CLEANUP_FLAG.MAP_OK) !== 0;

  const nameLen = opts.name.length;
  const tree = tokParse(header.slice(nameLen + 1), s.headerTokenLimit);
  const addrs = tokGrep(tree, TOK822.ADDR);
  let changed = false;
  for (const addr of addrs) {
    if (await rewriteTree(deps.rewrite, context, addr)) changed = true;
    if (!mapOk) continue;
    if (ownMaps && ownClasses[cls]) {
      if (await cleanupMap11Tree(deps, ctx, addr, ownMaps)) changed = true;
    }
    if (deps.maps.canonical && s.commCanonClasses[cls]) {
      if (await cleanupMap11Tree(deps, ctx, addr, deps.maps.canonical)) changed = true;
    }
    if (s.masqDomains && s.masqClasses[cls]) {
      if (await cleanupMasqueradeTree(deps, ctx, addr)) changed = true;
    }
  }
  if (!changed) return { text: header, changed: false, kind };
  const regenerated = `${header.slice(0, nameLen)}: ${tokExternalize(tree, TOK822_STR.LINE)}`;
  return { text: cleanupFoldHeader(regenerated), changed: true, kind };
}
