/*
 * rewrite_addr - trivial-rewrite's address rewriting for the "local" and "remote" contexts
 *
 * (Postfix keeps this in trivial-rewrite/rewrite.c; it lives in src/global
 * so that rewrite_clnt.ts can answer in-process with the very same code:
 * localRewriteClient. src/trivial-rewrite/rewrite.ts re-exports it.)
 *
 * What it does: rewriteAddress(config, context, address) takes one
 * address in internal (unquoted) form and returns it rewritten the way
 * a Postfix client calling rewrite_clnt_internal() gets it back from
 * trivial-rewrite(8): the address is quoted (quote822Local), cut into
 * tokens (tokScanAddr), rewritten by rewriteTree(), printed in external
 * form and unquoted again. rewriteTree() applies, in Postfix's order:
 *   - the empty address ("" as a quoted string) is left alone, and a
 *     lone "@" becomes the empty address;
 *   - a source route is stripped ("@a,@b:user@c" -> "user@c") when the
 *     address starts with '@' and has a ':' that is not its last token;
 *   - only when the address has no '@' at all: with swap_bangpath,
 *     "site!rest" -> "rest@site" (at the first '!'); else with
 *     allow_percent_hack, the last '%' becomes '@'; else with
 *     append_at_myorigin, "@origin" is appended;
 *   - with append_dot_mydomain, ".domain" is appended when the part after
 *     the last '@' is non-empty, holds no '.' and no [domain literal];
 *   - a trailing '.' is dropped unless it follows '.' or '@'.
 * The "local" context takes origin and domain from myorigin and
 * mydomain; the "remote" context takes both from
 * remote_header_rewrite_domain. An empty origin or domain turns the
 * corresponding step off. Defaults (append_dot_mydomain depends on
 * compatibility_level) come through MailConfig.
 *
 * What it does not do: decide whether an address is rewritten at all
 * (cleanup skips the remote context when remote_header_rewrite_domain is
 * empty, and chooses the context from local_header_rewrite_clients),
 * canonical or virtual mapping, resolving (the other half of
 * trivial-rewrite), or any IPC.
 *
 * DIAGNOSTICS
 * None of its own: every input has an output. A malformed main.cf value
 * (a non-boolean swap_bangpath, say) is fatal in MailConfig.getBool.
 */
import { msgPanic } from '../util/msg.js';
import type { MailConfig } from './mail_conf.js';
import { quote822Local, unquote822Local } from './quote_822_local.js';
import {
  Tok822,
  TOK822,
  TOK822_OP,
  tokCutAfter,
  tokFindType,
  tokRfindType,
  tokSubAppend,
  tokSubKeepAfter,
  tokSubKeepBefore,
  tokSubPrepend,
} from './tok822.js';
import { tokExternalize, tokScan, tokScanAddr } from './tok822_parse.js';

/** The rewrite contexts (Postfix MAIL_ATTR_RWR_LOCAL / MAIL_ATTR_RWR_REMOTE). */
export const REWRITE_CONTEXT = {
  LOCAL: 'local',
  REMOTE: 'remote',
} as const;
export type RewriteContextName = (typeof REWRITE_CONTEXT)[keyof typeof REWRITE_CONTEXT];

/** Which parameters give a context its origin and its domain (Postfix RWR_CONTEXT). */
export const REWRITE_CONTEXT_PARAMS: Readonly<Record<RewriteContextName, { origin: string; domain: string }>> = {
  local: { origin: 'myorigin', domain: 'mydomain' },
  remote: { origin: 'remote_header_rewrite_domain', domain: 'remote_header_rewrite_domain' },
};

/** The settings rewriteTree() needs, read once from main.cf. */
export interface RewriteSettings {
  swapBangpath: boolean;
  percentHack: boolean;
  appendAtMyorigin: boolean;
  appendDotMydomain: boolean;
  /** What append_at_myorigin appends after '@' ('' = nothing). */
  origin: string;
  /** What append_dot_mydomain appends after '.' ('' = nothing). */
  domain: string;
}

/** The settings for one context, from a configuration. */
export function rewriteSettings(config: MailConfig, context: RewriteContextName): RewriteSettings {
  const params = REWRITE_CONTEXT_PARAMS[context];
  return {
    swapBangpath: config.getBool('swap_bangpath'),
    percentHack: config.getBool('allow_percent_hack'),
    appendAtMyorigin: config.getBool('append_at_myorigin'),
    appendDotMydomain: config.getBool('append_dot_mydomain'),
    origin: config.get(params.origin),
    domain: config.get(params.domain),
  };
}

/** Appends the tokens of an external-form string to the members of tree. */
function appendScanned(tree: Tok822, text: string): void {
  const list = tokScan(text);
  if (list !== null) tokSubAppend(tree, list);
}

/** Rewrites a tree holding one address (an ADDR node, as tokScanAddr makes) in place. */
export function rewriteTree(s: RewriteSettings, tree: Tok822): void {
  if (tree.head === null || tree.tail === null) msgPanic('rewriteTree: empty tree');
  const head = tree.head;
  const tail = tree.tail;

  // The empty address is a special case.
  if (head === tail && tail.type === TOK822.QSTRING && tail.text === '') return;

  // A lone @ is treated as the empty address.
  if (head === tail && tail.type === TOK822_OP.AT) {
    tree.head = null;
    tree.tail = null;
    tokSubAppend(tree, new Tok822(TOK822.QSTRING, ''));
    return;
  }

  // Strip a source route: @a,@b:user@c.
  if (head.type === TOK822_OP.AT) {
    const colon = tokFindType(head, TOK822_OP.COLON);
    if (colon !== null && colon !== tree.tail) tokSubKeepAfter(tree, colon);
  }

  // Address forms without @.
  if (tokRfindType(tree.tail, TOK822_OP.AT) === null) {
    const bang = s.swapBangpath ? tokFindType(tree.head, TOK822_OP.BANG) : null;
    const percent = s.percentHack ? tokRfindType(tree.tail, TOK822_OP.PERCENT) : null;
    if (bang !== null) {
      // site!local -> local@site
      tokSubKeepBefore(tree, bang);
      const local = tokCutAfter(bang);
      tokSubPrepend(tree, new Tok822(TOK822_OP.AT));
      if (local !== null) tokSubPrepend(tree, local);
    } else if (percent !== null) {
      percent.type = TOK822_OP.AT;
    } else if (s.appendAtMyorigin && s.origin !== '') {
      tokSubAppend(tree, new Tok822(TOK822_OP.AT));
      appendScanned(tree, s.origin);
    }
  }

  // Append a missing .domain, leaving forms that end in @ alone.
  if (s.appendDotMydomain && s.domain !== '') {
    const at = tokRfindType(tree.tail, TOK822_OP.AT);
    if (at !== null && at !== tree.tail && tokFindType(at, TOK822.DOMLIT) === null && tokFindType(at, TOK822_OP.DOT) === null) {
      tokSubAppend(tree, new Tok822(TOK822_OP.DOT));
      appendScanned(tree, s.domain);
    }
  }

  // Strip a trailing dot, but not after a dot or an @.
  const last = tree.tail;
  if (last !== null && last.type === TOK822_OP.DOT && last.prev !== null && last.prev.type !== TOK822_OP.DOT && last.prev.type !== TOK822_OP.AT) {
    tokSubKeepBefore(tree, last);
  }
}

/** rewrite_addr: external form in, external form out; the empty string stays empty. */
export function rewriteExternal(s: RewriteSettings, address: string): string {
  if (address === '') return address;
  const tree = tokScanAddr(address);
  // Only white space: nothing to rewrite (Postfix would have an empty tree here).
  if (tree.head === null) return '';
  rewriteTree(s, tree);
  return tokExternalize(tree);
}

/** rewrite_clnt_internal: internal form in, internal form out. */
export function rewriteAddress(config: MailConfig, context: RewriteContextName, address: string): string {
  return rewriteInternal(rewriteSettings(config, context), address);
}

/** rewriteAddress with settings already read (for callers that rewrite many addresses). */
export function rewriteInternal(s: RewriteSettings, address: string): string {
  return unquote822Local(rewriteExternal(s, quote822Local(address)));
}
