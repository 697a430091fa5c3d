/*
 * dict_ldap_values - turn the entries of an ldap: search into the lookup result (Postfix dict_ldap_get_values)
 *
 * What it does: ldapGetValues() walks the entries a search returned, in
 * the server's order, as dict_ldap_get_values() does: an entry with a
 * terminal result attribute contributes only its terminal attributes;
 * an entry with a special result attribute (one that holds DNs or LDAP
 * URLs) does not contribute its leaf-only attributes; ordinary result
 * attribute values go through result_format (db_common) into the result
 * list, counted against expansion_limit; special attribute values are
 * searched (a DN: base scope, "(objectclass=*)"; a URL: its DN, scope and
 * filter, asking for the URL's attributes that are also table
 * attributes) and walked recursively up to recursion_limit; entries
 * beyond size_limit are an error. Attribute names match case-insensitively,
 * "attr;option" as a subtype of "attr" (RFC 2251 4.1.4).
 *
 * What it does not do: connect or run the top-level search (dict_ldap.ts).
 *
 * DIAGNOSTICS
 * Warnings as Postfix, prefixed "dict_ldap_get_values[DEPTH]:": "NAME:
 * Query size limit (N) exceeded", "NAME: Expansion limit exceeded for
 * key: 'KEY'", "DN D not found, skipping ", "search error RC: TEXT ",
 * "malformed URL U: TEXT(RC)", "NAME: Recursion limit exceeded for
 * special attribute A=V". All but the "not found" one make the lookup
 * fail: ldapGetValues() returns the warning text.
 */
import { msgWarn } from '../util/msg.js';
import { type DbCommonCtx, dbCommonExpand } from './db_common.js';
import { LDAP_RC, type LdapConn, type LdapEntry, type LdapScope, ldapIsUrl, ldapUrlParse } from './dict_ldap_conn.js';

/** What the walker needs of a table (built by dict_ldap.ts). */
export interface LdapTable {
  spec: string;
  name: string;
  searchBase: string;
  query: string;
  resultFormat: string;
  dynamicBase: boolean;
  scope: LdapScope;
  db: DbCommonCtx;
  /** terminal, leaf, ordinary, special: in this order (Postfix result_attributes). */
  attributes: string[];
  numTerminal: number;
  numLeaf: number;
  /** terminal + leaf + ordinary. */
  numAttributes: number;
  recursionLimit: number;
  expansionLimit: number;
  sizeLimit: number;
  /** The URL list, for messages. */
  serverHost: string;
  bindDn: string;
  conn: LdapConn;
}

const ME = 'dict_ldap_get_values';

/** Postfix attrdesc_subtype(): 1 a2 is a1 or a subtype of it; -1 a1 is a subtype of a2; 0 distinct. */
export function attrdescSubtype(a1: string, a2: string): number {
  const x = a1.toLowerCase();
  const y = a2.toLowerCase();
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  if (i === x.length && (i === y.length || y[i] === ';')) return 1;
  if (i === y.length && x[i] === ';') return -1;
  return 0;
}

/** Postfix url_attrs(): the attributes a URL search asks for; null when none is pertinent. */
function urlAttrs(t: LdapTable, urlAttributes: string[]): string[] | null {
  if (urlAttributes.length === 0) return t.attributes;
  const out: string[] = [];
  for (const a1 of urlAttributes) {
    for (const a2 of t.attributes) {
      const rel = attrdescSubtype(a1, a2);
      if (rel > 0) out.push(a2);
      else if (rel < 0) out.push(a1);
    }
  }
  return out.length > 0 ? out : null;
}

interface WalkState {
  recursion: number;
  expansion: number;
  error: string | null;
}

function hasValues(entry: LdapEntry, attr: string): boolean {
  return entry.attributes.some(([name, vals]) => name.toLowerCase() === attr.toLowerCase() && vals.length > 0);
}

async function walk(t: LdapTable, entries: LdapEntry[], key: string, out: string[], st: WalkState): Promise<void> {
  st.recursion++;
  const depth = st.recursion;
  const setError = (text: string): void => {
    msgWarn(text);
    st.error ??= text;
  };
  let count = 0;
  for (const entry of entries) {
    if (st.error === null && t.sizeLimit && ++count > t.sizeLimit) {
      setError(`${ME}[${depth}]: ${t.name}: Query size limit (${t.sizeLimit}) exceeded`);
    }
    let isTerminal = false;
    for (let i = 0; i < t.numTerminal && !isTerminal; i++) isTerminal = hasValues(entry, t.attributes[i]!);
    let isLeaf = true;
    if (!isTerminal && t.numLeaf > 0) {
      for (let i = t.numAttributes; i < t.attributes.length && isLeaf; i++) isLeaf = !hasValues(entry, t.attributes[i]!);
    }
    for (const [attr, vals] of entry.attributes) {
      if (st.error !== null || vals.length === 0) continue;
      let i = 0;
      while (i < t.attributes.length && attrdescSubtype(t.attributes[i]!, attr) <= 0) i++;
      if (i < t.numAttributes || isTerminal) {
        const skip = (isTerminal && i >= t.numTerminal) || (!isLeaf && i < t.numTerminal + t.numLeaf);
        if (skip) continue;
        for (const v of vals) {
          if (dbCommonExpand(t.db, t.resultFormat, v, key, null, out)
            && t.expansionLimit > 0 && ++st.expansion > t.expansionLimit) {
            setError(`${ME}[${depth}]: ${t.name}: Expansion limit exceeded for key: '${key}'`);
            break;
          }
        }
      } else if (depth < t.recursionLimit && i < t.attributes.length) {
        for (const v of vals) {
          let res;
          if (ldapIsUrl(v)) {
            const url = ldapUrlParse(v);
            if (!url) {
              setError(`${ME}[${depth}]: malformed URL ${v}: Bad parameter to an ldap routine(-9)`);
              break;
            }
            const attrs = urlAttrs(t, url.attrs);
            if (!attrs) continue;
            res = await t.conn.search(url.dn, url.scope, url.filter, attrs);
          } else {
            res = await t.conn.search(v, 'base', 'objectclass=*', t.attributes);
          }
          if (Array.isArray(res)) await walk(t, res, key, out, st);
          else if (res.rc === LDAP_RC.NO_SUCH_OBJECT) msgWarn(`${ME}[${depth}]: DN ${v} not found, skipping `);
          else setError(`${ME}[${depth}]: search error ${res.rc}: ${res.text} `);
          if (st.error !== null) break;
        }
      } else if (depth >= t.recursionLimit && i < t.attributes.length) {
        setError(`${ME}[${depth}]: ${t.name}: Recursion limit exceeded for special attribute ${attr}=${vals[0]}`);
      }
    }
  }
  st.recursion--;
}

/** Appends the result values to out; returns null, or the text of the error that fails the lookup. */
export async function ldapGetValues(t: LdapTable, entries: LdapEntry[], key: string, out: string[]): Promise<string | null> {
  const st: WalkState = { recursion: 0, expansion: 0, error: null };
  await walk(t, entries, key, out, st);
  return st.error;
}
