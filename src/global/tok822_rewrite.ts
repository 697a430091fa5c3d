/*
 * tok822_rewrite - find the addresses in a header value, split them, rewrite them
 *
 * What it does: headerAddresses() parses a header value (the text after
 * "Name:") the way cleanup and sendmail -t do, and returns every address
 * found at the top level of the tree (group members included, phrases and
 * comments excluded), each with its internal form (what goes into a
 * recipient record), its external form (what a rewrite request carries)
 * and its parts: a source route ("@a,@b:"), the local part and the
 * domain (after the last '@' token; null when there is none).
 * addressParts() does the split for one ADDR node. tokRewrite() and
 * tokRewriteAsync() are Postfix's tok822_rewrite/tok822_resolve pattern
 * without the transport: the address is externalized, handed to the
 * caller's function (a rewrite or resolve client), and the answer is
 * scanned back in as the address's new members.
 *
 * What it does not do: talk to trivial-rewrite (the caller's function
 * does), decide which headers carry recipients, or change the rest of
 * the tree: other tokens are left exactly as they were, so
 * tokExternalize(tree, TOK822_STR.LINE) regenerates the header.
 *
 * DIAGNOSTICS
 * A node that is not an ADDR handed to tokRewrite/addressParts is a
 * programming error (msgPanic), as in Postfix.
 */
import { msgPanic } from '../util/msg.js';
import { Tok822, TOK822, TOK822_HEADER_TOKEN_LIMIT, TOK822_OP, tokFindType, tokGrep, tokRfindType } from './tok822.js';
import { tokExternalize, tokInternalize, tokParse, tokScanList } from './tok822_parse.js';

/** One address as found in a header value. */
export interface HeaderAddress {
  /** The ADDR node in the tree (rewrite it in place with tokRewrite). */
  node: Tok822;
  /** Internal (unquoted) form, as sendmail -t and cleanup record it. */
  internal: string;
  /** External form, token by token, as tok822_rewrite sends it. */
  external: string;
  /** Source route in internal form ("@a,@b:"), '' when there is none. */
  route: string;
  /** Local part in internal form. */
  localPart: string;
  /** Domain in internal form ("[1.2.3.4]" keeps its brackets); null without '@'. */
  domain: string | null;
}

/** The parsed value and the addresses in it. */
export interface ParsedAddressHeader {
  tree: Tok822 | null;
  addresses: HeaderAddress[];
}

function requireAddr(addr: Tok822, who: string): void {
  if (addr.type !== TOK822.ADDR) msgPanic(`${who}: non-address token type: ${addr.type}`);
}

/** Route, local part and domain of one ADDR node, in internal form. */
export function addressParts(addr: Tok822): { route: string; localPart: string; domain: string | null } {
  requireAddr(addr, 'addressParts');
  let start = addr.head;
  let route = '';
  if (start && start.type === TOK822_OP.AT) {
    const colon = tokFindType(start, TOK822_OP.COLON);
    if (colon) {
      route = tokInternalize(start, 0, colon.next);
      start = colon.next;
    }
  }
  const at = tokRfindType(addr.tail, TOK822_OP.AT);
  // An '@' inside the route is not the domain separator.
  let atInLocal = false;
  for (let t = start; t; t = t.next) if (t === at) atInLocal = true;
  if (!at || !atInLocal) return { route, localPart: tokInternalize(start), domain: null };
  return { route, localPart: tokInternalize(start, 0, at), domain: tokInternalize(at.next) };
}

/** Parses a header value and lists its addresses; see the header comment. */
export function headerAddresses(value: string, tokenLimit: number = TOK822_HEADER_TOKEN_LIMIT): ParsedAddressHeader {
  const tree = tokParse(value, tokenLimit);
  const addresses = tokGrep(tree, TOK822.ADDR).map((node) => ({
    node,
    internal: tokInternalize(node.head),
    external: tokExternalize(node.head),
    ...addressParts(node),
  }));
  return { tree, addresses };
}

/** Replaces the members of addr with the scan of `text` (no owner, as in Postfix). */
function replaceMembers(addr: Tok822, text: string): Tok822 {
  const list = tokScanList(text);
  addr.head = list?.head ?? null;
  addr.tail = list?.tail ?? null;
  return addr;
}

/** Externalizes addr, lets `rewrite` transform the external form, and scans the answer back in. Returns addr. */
export function tokRewrite(addr: Tok822, rewrite: (external: string) => string): Tok822 {
  requireAddr(addr, 'tokRewrite');
  return replaceMembers(addr, rewrite(tokExternalize(addr.head)));
}

/** tokRewrite() for an asynchronous client (rewrite or resolve over IPC). */
export async function tokRewriteAsync(addr: Tok822, rewrite: (external: string) => Promise<string>): Promise<Tok822> {
  requireAddr(addr, 'tokRewriteAsync');
  return replaceMembers(addr, await rewrite(tokExternalize(addr.head)));
}
