/*
 * dict_ldap_conn - the LDAP side of ldap: tables: connection, search, quoting, error codes
 *
 * What it does: LdapConn keeps one ldapts client for a table: it
 * connects lazily to the first server URL that answers (in order, as
 * the OpenLDAP library walks its URL list), issues STARTTLS when asked,
 * binds (simple, or not at all) with the table's timeout on every step,
 * and searches. Every failure comes back as an LdapFailure with
 * OpenLDAP's result code and ldap_err2string() text (-1 "Can't contact
 * LDAP server", -5 "Timed out", -7 "Bad search filter", or the server's
 * code), so dict_ldap.ts can word Postfix's warnings. rfc2253Quote() and
 * rfc2254Quote() are Postfix's quoting of key parts for the search base
 * and the filter; ldapIsUrl()/ldapUrlParse() read the LDAP URLs a special
 * result attribute may hold.
 *
 * Bytes: keys and values are byte strings (one char per byte); the
 * protocol carries UTF-8, so text goes out as the bytes' UTF-8 reading
 * and attribute values come back as their bytes.
 *
 * What it does not do: ldapi:// (UNIX socket) URLs, SASL binds, referral
 * chasing, or share a connection between tables (Postfix shares one per
 * identical settings; here each table has its own).
 *
 * DIAGNOSTICS
 * None itself; failures are returned to dict_ldap.ts, which warns.
 */
import type { ConnectionOptions } from 'node:tls';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'ldapts';

/** ldapts is loaded when an ldap: table first connects, not by every program that can open tables. */
let ldapts: typeof import('ldapts') | null = null;
async function ldaptsModule(): Promise<typeof import('ldapts')> {
  ldapts ??= await import('ldapts');
  return ldapts;
}

/** OpenLDAP client-side result codes used here. */
export const LDAP_RC = {
  SUCCESS: 0,
  SIZELIMIT_EXCEEDED: 4,
  NO_SUCH_OBJECT: 32,
  SERVER_DOWN: -1,
  TIMEOUT: -5,
  FILTER_ERROR: -7,
  OTHER: 80,
} as const;

/** ldap_err2string() texts (OpenLDAP 2.5) for the codes a table meets. */
const LDAP_ERR_TEXT: ReadonlyMap<number, string> = new Map([
  [0, 'Success'], [1, 'Operations error'], [2, 'Protocol error'], [3, 'Time limit exceeded'],
  [4, 'Size limit exceeded'], [7, 'Auth method not supported'], [8, 'Strong(er) authentication required'],
  [11, 'Administrative limit exceeded'], [16, 'No such attribute'], [17, 'Undefined attribute type'],
  [18, 'Inappropriate matching'], [21, 'Invalid syntax'], [32, 'No such object'], [34, 'Invalid DN syntax'],
  [48, 'Inappropriate authentication'], [49, 'Invalid credentials'], [50, 'Insufficient access'],
  [51, 'Server is busy'], [52, 'Server is unavailable'], [53, 'Server is unwilling to perform'],
  [54, 'Loop detected'], [80, 'Internal (implementation specific) error'],
  [-1, "Can't contact LDAP server"], [-2, 'Local error'], [-3, 'Encoding error'], [-4, 'Decoding error'],
  [-5, 'Timed out'], [-6, 'Unknown authentication method'], [-7, 'Bad search filter'],
  [-9, 'Bad parameter to an ldap routine'], [-10, 'Out of memory'], [-11, 'Connect error'],
]);

export function ldapErr2String(rc: number): string {
  return LDAP_ERR_TEXT.get(rc) ?? 'Unknown error';
}

/** A failed LDAP step: OpenLDAP's code and text. */
export class LdapFailure {
  constructor(readonly rc: number) {}
  get text(): string {
    return ldapErr2String(this.rc);
  }
}

/** One entry: DN and attributes in the server's order, values as byte strings. */
export interface LdapEntry {
  dn: string;
  attributes: [string, string[]][];
}

export interface LdapConnSettings {
  urls: string[];
  timeoutS: number;
  bind: 'none' | 'simple';
  bindDn: string;
  bindPw: string;
  startTls: boolean;
  tls: ConnectionOptions;
  sizeLimit: number;
  deref: 'never' | 'search' | 'find' | 'always';
}

export type LdapScope = 'base' | 'one' | 'sub';

const utf8Text = (bytes: string): string => Buffer.from(bytes, 'latin1').toString('utf8');
const byteText = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

/** OpenLDAP's code for an ldapts error. */
function failureOf(err: unknown): LdapFailure {
  if (err instanceof LdapFailure) return err;
  if (ldapts && err instanceof ldapts.ResultCodeError) return new LdapFailure(err.code);
  if (err instanceof Error && /timed out|timeout/i.test(err.message)) return new LdapFailure(LDAP_RC.TIMEOUT);
  return new LdapFailure(LDAP_RC.SERVER_DOWN);
}

/** Postfix rfc2253_quote(): hex-escape DN metacharacters (and all blanks and '#') of a key part. */
export function rfc2253Quote(s: string): string {
  return s.replace(/[ \t"#+,;<>\\]/g, (c) => `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Postfix rfc2254_quote(): hex-escape filter metacharacters of a key part. */
export function rfc2254Quote(s: string): string {
  return s.replace(/[*()\\]/g, (c) => `\\${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** ldap_is_ldap_url(): "ldap://...", "ldaps://...", "ldapi://...", optionally "URL:" or "<...>" wrapped. */
export function ldapIsUrl(v: string): boolean {
  return /^<?(URL:)?ldap[si]?:\/\//i.test(v.trim());
}

export interface LdapUrl {
  dn: string;
  attrs: string[];
  scope: LdapScope;
  filter: string;
}

/** ldap_url_parse() for what a search needs: DN, attributes, scope, filter (RFC 4516); null when malformed. */
export function ldapUrlParse(v: string): LdapUrl | null {
  let s = v.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  if (/^URL:/i.test(s)) s = s.slice(4);
  const m = /^ldap[si]?:\/\/([^/?]*)(?:\/([^?]*)(?:\?([^?]*)(?:\?([^?]*)(?:\?([^?]*)(?:\?(.*))?)?)?)?)?$/i.exec(s);
  if (!m) return null;
  try {
    const dn = decodeURIComponent(m[2] ?? '');
    const attrs = (m[3] ?? '').split(',').map((a) => decodeURIComponent(a)).filter((a) => a !== '');
    const sc = decodeURIComponent(m[4] ?? '').toLowerCase();
    if (sc !== '' && sc !== 'base' && sc !== 'one' && sc !== 'sub') return null;
    const filter = decodeURIComponent(m[5] ?? '') || '(objectClass=*)';
    return { dn: byteText(dn), attrs, scope: (sc || 'base') as LdapScope, filter: byteText(filter) };
  } catch {
    return null;
  }
}

/** TLS settings for ldaps:// and STARTTLS from the table's tls_* parameters. */
export function ldapTlsOptions(p: { caFile: string; caDir: string; cert: string; key: string; ciphers: string; requireCert: boolean }): ConnectionOptions {
  const ca: string[] = [];
  if (p.caFile) ca.push(readFileSync(p.caFile, 'latin1'));
  else if (p.caDir) {
    for (const f of readdirSync(p.caDir)) {
      try {
        const pem = readFileSync(join(p.caDir, f), 'latin1');
        if (pem.includes('-----BEGIN CERTIFICATE-----')) ca.push(pem);
      } catch {
        // unreadable entry: skipped
      }
    }
  }
  return {
    ca: ca.length > 0 ? ca : undefined,
    cert: p.cert ? readFileSync(p.cert, 'latin1') : undefined,
    key: p.key ? readFileSync(p.key, 'latin1') : undefined,
    ciphers: p.ciphers || undefined,
    rejectUnauthorized: p.requireCert,
  };
}

/**
 * Without a bind nothing would go over the wire before the first search,
 * so the next URL of the list could not be tried; a read of the root DSE
 * opens the connection. Any answer, even a refusal, means "reachable".
 */
async function reachable(client: Client): Promise<boolean> {
  try {
    await client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] });
    return true;
  } catch (err) {
    return failureOf(err).rc !== LDAP_RC.SERVER_DOWN;
  }
}

/** The connection of one ldap: table. */
export class LdapConn {
  #client: Client | null = null;

  constructor(readonly settings: LdapConnSettings) {}

  /**
   * Must connect() run before the next search? With no client, yes; with
   * a simple bind, also when the socket was lost (ldapts would reconnect
   * by itself, but without binding again).
   */
  get needsConnect(): boolean {
    if (!this.#client) return true;
    return this.settings.bind === 'simple' && !this.#client.isConnected;
  }

  /** Postfix dict_ldap_connect(): connect (first URL that answers) and bind. */
  async connect(): Promise<LdapFailure | null> {
    await this.drop();
    const { Client } = await ldaptsModule();
    const s = this.settings;
    const ms = s.timeoutS * 1000;
    let last = new LdapFailure(LDAP_RC.SERVER_DOWN);
    for (const url of s.urls) {
      const client = new Client({
        url, timeout: ms || undefined, connectTimeout: ms || undefined, strictDN: false,
        tlsOptions: url.toLowerCase().startsWith('ldaps:') ? s.tls : undefined,
      });
      try {
        if (s.startTls) await client.startTLS(s.tls);
        if (s.bind === 'simple') await client.bind(utf8Text(s.bindDn), utf8Text(s.bindPw));
        else if (!(await reachable(client))) throw new LdapFailure(LDAP_RC.SERVER_DOWN);
        this.#client = client;
        return null;
      } catch (err) {
        last = failureOf(err);
        await client.unbind().catch(() => undefined);
        // A server that answered and refused (bad credentials, ...) ends the walk, as libldap does.
        if (last.rc !== LDAP_RC.SERVER_DOWN) return last;
      }
    }
    // Unbound, Postfix's connect step contacts nobody and cannot fail: the
    // search that follows reports the unreachable server.
    if (s.bind === 'none' && last.rc === LDAP_RC.SERVER_DOWN && s.urls.length > 0) {
      this.#client = new Client({ url: s.urls[0]!, timeout: ms || undefined, connectTimeout: ms || undefined, strictDN: false });
      return null;
    }
    return last;
  }

  /** Postfix search_st(): entries, or the failure. Without a connection: SERVER_DOWN. */
  async search(base: string, scope: LdapScope, filter: string, attrs: string[]): Promise<LdapEntry[] | LdapFailure> {
    const client = this.#client;
    if (!client) return new LdapFailure(LDAP_RC.SERVER_DOWN);
    // OpenLDAP takes a filter without its outer parentheses too.
    const bare = filter.trimStart().startsWith('(') ? filter : `(${filter})`;
    const text = utf8Text(bare);
    const { FilterParser } = await ldaptsModule();
    try {
      FilterParser.parseString(text);
    } catch {
      return new LdapFailure(LDAP_RC.FILTER_ERROR);
    }
    try {
      const r = await client.search(utf8Text(base), {
        scope, filter: text, attributes: attrs.length > 0 ? attrs : ['1.1'], explicitBufferAttributes: attrs,
        // ldapts returns a truncated result as success; asking for one entry
        // more shows whether the server would have said "Size limit exceeded".
        sizeLimit: this.settings.sizeLimit > 0 ? this.settings.sizeLimit + 1 : 0,
        derefAliases: this.settings.deref,
        timeLimit: this.settings.timeoutS,
      });
      if (this.settings.sizeLimit > 0 && r.searchEntries.length > this.settings.sizeLimit) {
        return new LdapFailure(LDAP_RC.SIZELIMIT_EXCEEDED);
      }
      return r.searchEntries.map((e) => {
        const attributes: [string, string[]][] = [];
        for (const [name, v] of Object.entries(e)) {
          if (name === 'dn') continue;
          const list = Array.isArray(v) ? v : [v];
          attributes.push([name, list.map((x) => (Buffer.isBuffer(x) ? x.toString('latin1') : byteText(x)))]);
        }
        return { dn: byteText(e.dn), attributes };
      });
    } catch (err) {
      return failureOf(err);
    }
  }

  /** Postfix dict_ldap_unbind(). */
  async drop(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await c.unbind().catch(() => undefined);
  }
}
