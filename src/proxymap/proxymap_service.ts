/*
 * proxymap_service - the table side of proxymap(8): approval, shared opens, one reply per request
 *
 * What it does: ProxymapService holds, for one proxymap or proxywrite
 * process, the approved tables (every "proxy:TYPE:NAME" in
 * proxy_read_maps, resp. proxy_write_maps, split on ", \t\r\n", all
 * leading "proxy:" removed, as Postfix's post_jail_init) and the tables
 * it opened: one Dict per table and instance flags (plus the fold, UTF-8
 * and no-regsub options, which a Postern Dict fixes at open time),
 * shared by every client of the process and never closed until the
 * process ends (Postfix has no close request). connectionHandler()
 * answers open/lookup/update/delete/sequence requests of one client
 * connection with Postfix 3.7's statuses:
 *   - table name without ':' after stripping "proxy:" → BAD;
 *   - table not approved → two warnings, DENY;
 *   - update/delete on the read-only service → warning, DENY;
 *   - lookup: OK+value, NOKEY, or RETRY when the table fails (a table
 *     that could not be opened is a surrogate whose lookups fail: RETRY);
 *   - update (dup handling "replace", committed at once), delete (OK,
 *     NOKEY when absent), sequence FIRST/NEXT (OK+key+value, NOKEY at the
 *     end; the cursor belongs to the connection), each RETRY on failure;
 *   - open: OK with the table's flags (PATTERN or FIXED);
 *   - an unknown request name: warning, BAD (PROXYMAP_SERVER_PROTOCOL).
 * Tables are opened inside withDictProxyDirect(), so a proxy: nested in
 * a served table is opened here, never through the service itself.
 *
 * refreshIfChanged(), called before each new client (Postfix's
 * pre_accept), forgets every table of the read-only service when a
 * texthash/regexp/pcre/cidr file changed, so they are read anew (Postfix
 * exits instead and master starts a fresh process; lmdb: tables see
 * rebuilds by themselves).
 *
 * What it does not do: sockets and framing (attr_serv.ts), the daemon
 * skeleton (proxymap.ts).
 *
 * DIAGNOSTICS
 * info: table TYPE:NAME has changed -- restarting
 * warning: request for unapproved table: "TYPE:NAME"
 * warning: to approve this table for read-only access, list proxy:TYPE:NAME in main.cf:proxy_read_maps
 * warning: refusing TABLE update request on non-proxywrite service
 * warning: table TYPE:NAME: update operation is not supported (BAD)
 * warning: unrecognized request: "NAME", ignored (BAD)
 */
import { statSync } from 'node:fs';
import { msgInfo, msgVerbose, msgWarn } from '../util/msg.js';
import { type Dict, DictError, foldKey } from '../global/dict_base.js';
import { dictCacheClear, dictOpen } from '../global/dict.js';
import { withDictProxyDirect } from '../global/dict_proxy.js';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_ATTR, MAIL_SERVICE } from '../global/mail_proto.js';
import {
  DICT_FLAG,
  DICT_FLAG_IMPL_MASK,
  DICT_FLAG_INST_MASK,
  DICT_SEQ_FUN,
  PROXY_COLON,
  PROXY_REQ,
  PROXY_STAT,
  PROXYMAP_PROTOCOL,
  fromWire,
  openOptionsFromFlags,
  stripProxyPrefix,
  toWire,
} from '../global/proxy_proto.js';
import type { AttrHandler } from '../global/ipc/attr_serv.js';
import type { Protocol, ReplyOf, RequestOf } from '../global/ipc/protocol.js';
import { requestHandlers } from '../global/ipc/protocol_requests.js';
import { type Attr0Frame, encodeAttr0, isGroup } from '../util/attr0.js';
import type { ScanResult } from '../util/attr0_scan.js';

/** A request whose name the protocol does not have (Postfix answers BAD and carries on). */
export interface UnrecognizedRequest {
  request: '';
  unrecognized: string;
}

type ProxyRequest = RequestOf<typeof PROXYMAP_PROTOCOL>;
type ProxyReply = ReplyOf<typeof PROXYMAP_PROTOCOL>;
export type ProxymapServerRequest = ProxyRequest | UnrecognizedRequest;

/**
 * The protocol as the server speaks it: PROXYMAP_PROTOCOL, except that a
 * request with an unknown name is handed to the handler (and answered
 * status=BAD) instead of ending the connection.
 */
export const PROXYMAP_SERVER_PROTOCOL: Protocol<ProxymapServerRequest, ProxyReply | Record<string, never>> = Object.freeze({
  ...PROXYMAP_PROTOCOL,
  decodeRequest(frame: Attr0Frame): ScanResult<ProxymapServerRequest> {
    const first = frame[0];
    if (first && !isGroup(first) && first.name === MAIL_ATTR.REQ && !Object.prototype.hasOwnProperty.call(PROXYMAP_PROTOCOL.requests, first.value)) {
      return { ok: true, value: { request: '', unrecognized: first.value } };
    }
    return PROXYMAP_PROTOCOL.decodeRequest(frame);
  },
  encodeReply(rep: ProxyReply | Record<string, never>, req: ProxymapServerRequest): Buffer {
    if ('unrecognized' in req) return encodeAttr0([{ name: MAIL_ATTR.STATUS, value: String(PROXY_STAT.BAD) }]);
    return PROXYMAP_PROTOCOL.encodeReply(rep as ProxyReply, req);
  },
});

/** The separators of proxy_read_maps/proxy_write_maps (Postfix post_jail_init). */
const APPROVED_SEPARATORS = /[, \t\r\n]+/;
/** The main.cf file name in the approval hint. */
const MAIN_CF = 'main.cf';

/** The approved inner "TYPE:NAME" names of a proxy_*_maps value. */
export function approvedTables(value: string): Set<string> {
  const approved = new Set<string>();
  for (const item of value.split(APPROVED_SEPARATORS)) {
    if (!item.startsWith(PROXY_COLON)) continue;
    const inner = stripProxyPrefix(item);
    if (inner.includes(':')) approved.add(inner);
  }
  return approved;
}

type Found = { ok: true; dict: Dict } | { ok: false; status: number };

/** Table types whose name is the file they read once at open (checked for changes, as Postfix's dict_changed). */
const FILE_TABLE_TYPES: ReadonlySet<string> = new Set(['texthash', 'regexp', 'pcre', 'cidr']);

/** A file's modification time, or -1 when it cannot be seen. */
function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

export class ProxymapService {
  readonly writer: boolean;
  readonly #config: MailConfig;
  readonly #approved: Set<string>;
  readonly #tables = new Map<string, Dict>();
  /** The files behind opened file tables and their times at open. */
  readonly #files = new Map<string, { spec: string; mtimeMs: number }>();

  constructor(config: MailConfig, writer: boolean) {
    this.#config = config;
    this.writer = writer;
    this.#approved = approvedTables(config.get(writer ? 'proxy_write_maps' : 'proxy_read_maps'));
  }

  get approved(): ReadonlySet<string> {
    return this.#approved;
  }

  /** Postfix proxy_map_find(): canonicalise, check approval, open once per name and flags. */
  find(requested: string, flags: number): Found {
    const name = stripProxyPrefix(requested);
    if (!name.includes(':')) return { ok: false, status: PROXY_STAT.BAD };
    if (!this.#approved.has(name)) {
      msgWarn(`request for unapproved table: "${name}"`);
      msgWarn(`to approve this table for ${this.writer ? 'read-write' : 'read-only'} access, list ${PROXY_COLON}${name} in ${MAIN_CF}:${this.writer ? 'proxy_write_maps' : 'proxy_read_maps'}`);
      return { ok: false, status: PROXY_STAT.DENY };
    }
    const o = openOptionsFromFlags(flags);
    const id = `${name}\0${flags & DICT_FLAG_INST_MASK}\0${o.noRegsub ? 'N' : '-'}`;
    let dict = this.#tables.get(id);
    if (!dict) {
      msgVerbose(`proxy_map_find: ${name}`);
      dict = withDictProxyDirect(() =>
        dictOpen(name, {
          config: this.#config,
          // Folding is per request (foldFor); UTF-8 checks are the client's (see the header).
          fold: false,
          utf8: false,
          noRegsub: o.noRegsub,
          mode: this.writer ? 'write' : 'read',
          // Postfix's proxywrite replaces duplicates (it would abort otherwise).
          dup: this.writer ? 'replace' : o.dup,
          try0Null: o.try0Null,
          try1Null: o.try1Null,
          bulk: false,
        }),
      );
      this.#tables.set(id, dict);
      const colon = name.indexOf(':');
      if (FILE_TABLE_TYPES.has(name.slice(0, colon))) {
        const file = name.slice(colon + 1);
        if (!this.#files.has(file)) this.#files.set(file, { spec: name, mtimeMs: mtimeOf(file) });
      }
    }
    return { ok: true, dict };
  }

  /**
   * The key as the table must see it: Postfix opens a proxied table with
   * the instance flags only and applies the requestor's DICT_FLAG_FOLD_FIX
   * per request, to the key of a fixed-key table (pattern tables ignore it).
   */
  foldFor(dict: Dict, flags: number, key: string): string {
    if (dict.pattern || (flags & (DICT_FLAG.FOLD_FIX | DICT_FLAG.FOLD_MUL)) === 0) return key;
    // The table has no UTF-8 layer here: its own fold is ASCII only (Postfix lowercase()).
    return foldKey(key, true, false);
  }

  /**
   * Postfix's pre_accept check, for the read-only service: when a file
   * table changed since it was opened, log "table TYPE:NAME has changed
   * -- restarting" and forget every opened table, so the next request
   * opens them anew (Postfix's proxymap exits and master starts another).
   * Returns whether that happened.
   */
  refreshIfChanged(): boolean {
    if (this.writer) return false;
    for (const { spec, mtimeMs } of this.#files.values()) {
      const file = spec.slice(spec.indexOf(':') + 1);
      if (mtimeOf(file) === mtimeMs) continue;
      msgInfo(`table ${spec} has changed -- restarting`);
      this.#tables.clear();
      this.#files.clear();
      dictCacheClear();
      return true;
    }
    return false;
  }

  /** Commits and releases every table (process exit). */
  async closeAll(): Promise<void> {
    const dicts = [...this.#tables.values()];
    this.#tables.clear();
    for (const d of dicts) {
      try {
        await d.close();
      } catch (err) {
        msgWarn(`close ${d.spec}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** The request handler for one client connection (its own sequence cursors). */
  connectionHandler(): AttrHandler<typeof PROXYMAP_SERVER_PROTOCOL> {
    const known = this.#knownHandler();
    return (req, ctx) => {
      if ('unrecognized' in req) {
        msgWarn(`unrecognized request: "${req.unrecognized}", ignored`);
        return {};
      }
      return known(req, ctx);
    };
  }

  #knownHandler(): AttrHandler<typeof PROXYMAP_PROTOCOL> {
    const cursors = new Map<Dict, AsyncIterator<[string, string]>>();
    const S = MAIL_ATTR.STATUS;
    const refuseWrite = (op: string, table: string): boolean => {
      if (this.writer) return false;
      msgWarn(`refusing ${table} ${op} request on non-${MAIL_SERVICE.PROXYWRITE} service`);
      return true;
    };
    return requestHandlers(PROXYMAP_PROTOCOL, {
      [PROXY_REQ.OPEN]: (req) => {
        const f = this.find(req.table, req.flags);
        if (!f.ok) return { [S]: f.status, [MAIL_ATTR.FLAGS]: 0 };
        const impl = f.dict.pattern ? DICT_FLAG.PATTERN : DICT_FLAG.FIXED;
        return { [S]: PROXY_STAT.OK, [MAIL_ATTR.FLAGS]: (req.flags & ~DICT_FLAG_IMPL_MASK) | impl };
      },
      [PROXY_REQ.LOOKUP]: async (req) => {
        const f = this.find(req.table, req.flags);
        if (!f.ok) return { [S]: f.status, [MAIL_ATTR.VALUE]: '' };
        try {
          const value = await f.dict.lookup(this.foldFor(f.dict, req.flags, fromWire(req.key)));
          return value === null ? { [S]: PROXY_STAT.NOKEY, [MAIL_ATTR.VALUE]: '' } : { [S]: PROXY_STAT.OK, [MAIL_ATTR.VALUE]: toWire(value) };
        } catch (err) {
          return { [S]: retryStatus(err, f.dict), [MAIL_ATTR.VALUE]: '' };
        }
      },
      [PROXY_REQ.UPDATE]: async (req) => {
        if (refuseWrite('update', req.table)) return { [S]: PROXY_STAT.DENY };
        const f = this.find(req.table, req.flags);
        if (!f.ok) return { [S]: f.status };
        if (!f.dict.update) {
          msgWarn(`table ${f.dict.spec}: update operation is not supported`);
          return { [S]: PROXY_STAT.BAD };
        }
        try {
          await f.dict.update(this.foldFor(f.dict, req.flags, fromWire(req.key)), fromWire(req.value));
          return { [S]: PROXY_STAT.OK };
        } catch (err) {
          return { [S]: retryStatus(err, f.dict) };
        }
      },
      [PROXY_REQ.DELETE]: async (req) => {
        if (refuseWrite('delete', req.table)) return { [S]: PROXY_STAT.DENY };
        const f = this.find(req.table, req.flags);
        if (!f.ok) return { [S]: f.status };
        if (!f.dict.delete) {
          msgWarn(`table ${f.dict.spec}: delete operation is not supported`);
          return { [S]: PROXY_STAT.BAD };
        }
        try {
          return { [S]: (await f.dict.delete(this.foldFor(f.dict, req.flags, fromWire(req.key)))) ? PROXY_STAT.OK : PROXY_STAT.NOKEY };
        } catch (err) {
          return { [S]: retryStatus(err, f.dict) };
        }
      },
      [PROXY_REQ.SEQUENCE]: async (req) => {
        const none = { [MAIL_ATTR.KEY]: '', [MAIL_ATTR.VALUE]: '' };
        const fun = req.function;
        if (fun !== DICT_SEQ_FUN.FIRST && fun !== DICT_SEQ_FUN.NEXT) return { [S]: PROXY_STAT.BAD, ...none };
        const f = this.find(req.table, req.flags);
        if (!f.ok) return { [S]: f.status, ...none };
        const dict = f.dict;
        if (!dict.sequence) {
          msgWarn(`table ${dict.spec}: sequence operation is not supported`);
          return { [S]: PROXY_STAT.BAD, ...none };
        }
        let it = cursors.get(dict);
        if (fun === DICT_SEQ_FUN.FIRST || !it) {
          if (it) await it.return?.();
          it = dict.sequence()[Symbol.asyncIterator]();
          cursors.set(dict, it);
        }
        try {
          const r = await it.next();
          if (r.done) {
            cursors.delete(dict);
            return { [S]: PROXY_STAT.NOKEY, ...none };
          }
          return { [S]: PROXY_STAT.OK, [MAIL_ATTR.KEY]: toWire(r.value[0]), [MAIL_ATTR.VALUE]: toWire(r.value[1]) };
        } catch (err) {
          cursors.delete(dict);
          return { [S]: retryStatus(err, dict), ...none };
        }
      },
    });
  }
}

/** A failed table operation is RETRY (Postfix: dict->error set); anything but a DictError is also logged. */
function retryStatus(err: unknown, dict: Dict): number {
  if (!(err instanceof DictError)) msgWarn(`${dict.spec}: ${err instanceof Error ? err.message : String(err)}`);
  return PROXY_STAT.RETRY;
}
