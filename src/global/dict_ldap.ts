/*
 * dict_ldap - ldap: tables, ldap_table(5), through ldapts (Postfix dict_ldap)
 *
 * What it does: dictLdapOpen() reads the table's settings (a .cf file or
 * main.cf parameters with the table name as prefix): server_host (host,
 * host:port or ldap:// / ldaps:// URLs, tried in order), server_port,
 * search_base and query_filter (with db_common's %s %u %d %1-%9 ...,
 * key parts quoted per RFC 2253 and RFC 2254 as Postfix does),
 * result_attribute, special_result_attribute (DN and LDAP URL recursion
 * up to recursion_limit), leaf_result_attribute,
 * terminal_result_attribute, result_format (or result_filter), domain,
 * expansion_limit, size_limit, scope, bind (yes/simple, no/none) with
 * bind_dn/bind_pw, timeout, dereference, start_tls and the tls_*
 * settings. A lookup skips non-UTF-8 keys, folds the key when the table
 * folds, skips keys the domain list or the templates rule out, connects
 * (and binds) when there is no connection, searches, reconnects once
 * when the server went away, and walks the entries exactly as
 * dict_ldap_get_values() does: terminal attributes first, leaf
 * attributes only in entries without special attributes, every value
 * through result_format, joined with ','.
 *
 * What it does not do: write (read-only, as Postfix), answer
 * synchronously, SASL binds (bind = sasl is refused), LDAP version 2
 * (Postern speaks version 3 whatever `version` says), ldapi:// URLs,
 * chase_referrals, debuglevel.
 *
 * DIAGNOSTICS
 * Postfix's texts: "dict_ldap_connect: Unable to bind to server URLS
 * with dn DN: RC (TEXT)", "dict_ldap_lookup: Search error RC: TEXT ",
 * "dict_ldap_lookup: NAME: Search base 'BASE' not found: 32: No such
 * object", "dict_ldap_get_values[N]: NAME: Expansion limit exceeded for
 * key: 'KEY'", "... Query size limit (N) exceeded", "... Recursion limit
 * exceeded for special attribute A=V", "... DN D not found, skipping ",
 * "... malformed URL U: ...", and at open "Fixed query_filter F is
 * probably useless", "ignoring cache", unknown scope/dereference values.
 * Every lookup failure rejects with a DictError.
 */
import { msgWarn } from '../util/msg.js';
import { cfgParserOpen } from './cfg_parser.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError } from './dict_base.js';
import { isValidUtf8Bytes } from './dict_utf8.js';
import {
  DB_COMMON_FLAG,
  dbCommonAlloc,
  dbCommonCheckDomainAsync,
  dbCommonExpand,
  dbCommonFoldKey,
  dbCommonJoin,
  dbCommonParseDomain,
  dbCommonParseTemplate,
} from './db_common.js';
import { LDAP_RC, LdapConn, type LdapScope, ldapTlsOptions, rfc2253Quote, rfc2254Quote } from './dict_ldap_conn.js';
import { type LdapTable, ldapGetValues } from './dict_ldap_values.js';

export const LDAP_DEFAULT_PORT = 389;
export const LDAP_DEFAULT_TIMEOUT_S = 10;
export const LDAP_DEFAULT_RECURSION_LIMIT = 1000;
export const LDAP_DEFAULT_FILTER = '(mailacceptinggeneralid=%s)';
/** Lookups waiting for the table's connection; more are refused, not queued. */
export const LDAP_MAX_PENDING = 200;

const DEREF = ['never', 'search', 'find', 'always'] as const;

/** Opens an ldap: table (read-only). */
export function dictLdapOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const t = ldapParseConfig(ctx);
  let pending = 0;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: (t.db.flags & DB_COMMON_FLAG.KEY_PARTIAL) !== 0,
    lookup: (key: string): Promise<string | null> => {
      if (pending >= LDAP_MAX_PENDING) {
        return Promise.reject(new DictError(ctx.spec, `${ctx.spec}: too many pending lookups (${pending})`));
      }
      pending++;
      const run = chain.then(() => ldapLookup(t, key));
      chain = run.catch(() => undefined).finally(() => {
        pending--;
      });
      return run;
    },
    close: async () => {
      await chain;
      await t.conn.drop();
    },
  };
}

function splitList(s: string): string[] {
  return s.split(/[, \t\r\n]+/).filter((a) => a !== '');
}

function ldapParseConfig(ctx: DictOpenContext): LdapTable {
  const me = 'dict_ldap_open';
  const p = cfgParserOpen(ctx);
  const name = ctx.name;
  const serverHost = p.getStr('server_host', 'localhost', 1, 0);
  const serverPort = p.getInt('server_port', LDAP_DEFAULT_PORT, 0, 0);
  p.getInt('version', 3, 2, 0);
  const urls: string[] = [];
  for (const h of splitList(serverHost)) {
    if (/^ldapi:\/\//i.test(h)) msgWarn(`${me}: ${name}: ldapi URL ${h} is not supported; skipping`);
    else if (/^ldaps?:\/\//i.test(h)) urls.push(h);
    else urls.push(h.includes(':') ? `ldap://${h}` : `ldap://${h}:${serverPort}`);
  }
  const scopeText = p.getStr('scope', 'sub', 1, 0).toLowerCase();
  let scope: LdapScope = 'sub';
  if (scopeText === 'one' || scopeText === 'base') scope = scopeText;
  else if (scopeText !== 'sub') msgWarn(`${me}: ${name}: Unrecognized value ${scopeText} specified for scope; using sub`);
  const searchBase = p.getStr('search_base', '', 0, 0);
  const timeoutS = p.getInt('timeout', LDAP_DEFAULT_TIMEOUT_S, 0, 0);
  const query = p.getStr('query_filter', LDAP_DEFAULT_FILTER, 0, 0);
  const resultFormat = p.has('result_format') ? p.getStr('result_format', '%s', 0, 0) : p.getStr('result_filter', '%s', 1, 0);
  const db = dbCommonAlloc(p, { fold: ctx.fold, type: ctx.type, name, utf8: ctx.utf8, config: ctx.config });
  const dynamicBase = dbCommonParseTemplate(db, searchBase, true);
  if (!dbCommonParseTemplate(db, query, true)) msgWarn(`${me}: ${name}: Fixed query_filter ${query} is probably useless`);
  dbCommonParseTemplate(db, resultFormat, false);
  dbCommonParseDomain(p, db);
  const terminal = splitList(p.getStr('terminal_result_attribute', '', 0, 0));
  const leaf = splitList(p.getStr('leaf_result_attribute', '', 0, 0));
  const ordinary = splitList(p.getStr('result_attribute', 'maildrop', 0, 0));
  const special = splitList(p.getStr('special_result_attribute', '', 0, 0));
  const bindText = p.getStr('bind', 'yes', 1, 0);
  let bind: 'none' | 'simple';
  if (bindText === 'no' || bindText === 'none') bind = 'none';
  else if (bindText === 'yes' || bindText === 'simple') bind = 'simple';
  else throw new DictOpenError(`${name}: unsupported parameter value: bind = ${bindText}`);
  const bindDn = p.getStr('bind_dn', '', 0, 0);
  const bindPw = p.getStr('bind_pw', '', 0, 0);
  if (p.getBool('cache', false)) msgWarn(`${me}: ${name} ignoring cache`);
  if (p.getInt('cache_expiry', -1, 0, 0) >= 0) msgWarn(`${me}: ${name} ignoring cache_expiry`);
  if (p.getInt('cache_size', -1, 0, 0) >= 0) msgWarn(`${me}: ${name} ignoring cache_size`);
  const recursionLimit = p.getInt('recursion_limit', LDAP_DEFAULT_RECURSION_LIMIT, 1, 0);
  const expansionLimit = p.getInt('expansion_limit', 0, 0, 0);
  const sizeLimit = p.getInt('size_limit', expansionLimit, 0, 0);
  let deref = p.getInt('dereference', 0, 0, 0);
  if (deref < 0 || deref > 3) {
    msgWarn(`${me}: ${name} Unrecognized value ${deref} specified for dereference; using 0`);
    deref = 0;
  }
  // Read (and checked) as Postfix does, without effect here: see the header.
  p.getBool('chase_referrals', false);
  p.getInt('debuglevel', 0, 0, 0);
  const startTls = p.getBool('start_tls', false);
  const usesTls = startTls || urls.some((u) => /^ldaps:/i.test(u));
  const tls = usesTls ? ldapTlsOptions({
    caFile: p.getStr('tls_ca_cert_file', '', 0, 0),
    caDir: p.getStr('tls_ca_cert_dir', '', 0, 0),
    cert: p.getStr('tls_cert', '', 0, 0),
    key: p.getStr('tls_key', '', 0, 0),
    ciphers: p.getStr('tls_cipher_suite', '', 0, 0),
    requireCert: p.getBool('tls_require_cert', false),
  }) : {};
  return {
    spec: `${ctx.type}:${name}`, name, searchBase, query, resultFormat, dynamicBase, scope, db,
    attributes: [...terminal, ...leaf, ...ordinary, ...special],
    numTerminal: terminal.length, numLeaf: leaf.length, numAttributes: terminal.length + leaf.length + ordinary.length,
    recursionLimit, expansionLimit, sizeLimit,
    serverHost: urls.join(' '), bindDn,
    conn: new LdapConn({
      urls, timeoutS, bind, bindDn, bindPw, startTls, tls, sizeLimit, deref: DEREF[deref]!,
    }),
  };
}

function fail(t: LdapTable, text: string): never {
  msgWarn(text);
  throw new DictError(t.spec, text);
}

/** Postfix dict_ldap_connect()'s failure report. */
async function ldapConnect(t: LdapTable): Promise<void> {
  const failure = await t.conn.connect();
  if (!failure) return;
  const dn = t.bindDn !== '' ? t.bindDn : 'empty or implicit';
  fail(t, `dict_ldap_connect: Unable to bind to server ${t.serverHost} with dn ${dn}: ${failure.rc} (${failure.text})`);
}

/** Postfix dict_ldap_lookup(). */
async function ldapLookup(t: LdapTable, rawKey: string): Promise<string | null> {
  const me = 'dict_ldap_lookup';
  if (!isValidUtf8Bytes(rawKey)) return null;
  const key = dbCommonFoldKey(t.db, rawKey);
  const domain = await dbCommonCheckDomainAsync(t.db, key);
  if (domain instanceof DictError) throw domain;
  if (domain === 'skip') return null;
  if (t.conn.needsConnect) await ldapConnect(t);
  const base: string[] = [];
  const filter: string[] = [];
  if (!dbCommonExpand(t.db, t.searchBase, key, null, rfc2253Quote, base)) return null;
  if (!dbCommonExpand(t.db, t.query, key, null, rfc2254Quote, filter)) return null;
  let res = await t.conn.search(base.join(''), t.scope, filter.join(''), t.attributes);
  if (!Array.isArray(res) && res.rc === LDAP_RC.SERVER_DOWN) {
    await ldapConnect(t);
    res = await t.conn.search(base.join(''), t.scope, filter.join(''), t.attributes);
  }
  if (!Array.isArray(res)) {
    if (res.rc === LDAP_RC.NO_SUCH_OBJECT) {
      if (t.dynamicBase) return null;
      fail(t, `${me}: ${t.name}: Search base '${base.join('')}' not found: ${res.rc}: ${res.text}`);
    }
    await t.conn.drop();
    fail(t, `${me}: Search error ${res.rc}: ${res.text} `);
  }
  const out: string[] = [];
  const error = await ldapGetValues(t, res, key, out);
  if (error !== null) throw new DictError(t.spec, error);
  const r = dbCommonJoin(out);
  return r === '' ? null : r;
}
