/*
 * dict_proxy - proxy:TYPE:NAME: a table searched by the proxymap(8) service (Postfix dict_proxy.c)
 *
 * What it does: dictProxyOpen(ctx) gives a Dict for ctx.name = "TYPE:NAME"
 * whose operations are requests to the proxymap service (read-only
 * opens, queue_directory/private/$proxymap_service_name) or the
 * proxywrite service (mode 'write', private/$proxywrite_service_name), in Postfix 3.7's protocol
 * (proxy_proto.ts). All proxy: tables of one service in a process share
 * one connection (requests one at a time, at most PROXY_MAX_PENDING
 * waiting); it is kept ipc_idle seconds after a request and at most
 * ipc_ttl seconds, every step is bounded by ipc_timeout, and a failed
 * connection is replaced on the next request. The "open" request is sent
 * lazily before the first operation (again after a failure); its reply
 * says whether the remote table is a pattern table. Every request names
 * the table and carries the flags (fold, UTF-8, try-null, dup handling),
 * so a restarted server needs no state. With the UTF-8 layer on (ctx.utf8)
 * keys of a fixed-key table are casefolded here and sent without the
 * fold flag, as Postfix's dict_utf8 does in front of dict_proxy; without
 * it the server folds. lookup() always; update() and
 * delete() for write modes; sequence() always (FIRST, then NEXT until
 * the server says there is no more). No lookupSync: this is a network
 * table.
 * withDictProxyDirect(fn): while fn runs, proxy: opens open the inner
 * table in this process (what Postfix's proxymap does with a proxy:
 * nested inside a table it serves, so the server never calls itself).
 *
 * What it does not do: bulk builds (a 'create' or bulk open throws
 * DictOpenError PROXY_NO_BULK_TEXT, Postfix's words for postmap -i or a
 * build of proxy:). Retry forever with one-second pauses as Postfix's
 * client does: a request that cannot be completed rejects with DictError
 * (temporary failure) so the caller defers; the next request tries anew.
 * A DENY or BAD answer (Postfix: fatal) is a warning and a DictError.
 * Keys and values that are not valid UTF-8 do not survive the attr0
 * layer byte for byte (see proxy_proto.ts toWire()).
 *
 * DIAGNOSTICS
 * Warnings in Postfix's words: "dict_proxy_lookup: service
 * private/proxymap: REASON" (the service could not be reached or broke
 * the protocol), "proxymap service is not configured for table
 * \"TYPE:NAME\"" (DENY), "proxymap lookup failed for table \"TYPE:NAME\"
 * key \"KEY\": invalid request" (BAD), "... unexpected reply status N".
 * The DictError text is "proxy:TYPE:NAME lookup error: REASON" (or
 * update/delete/sequence error).
 */
import { msgWarn } from '../util/msg.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError, foldKey } from './dict_base.js';
import { AttrClient, labelledUnixEndpoint, type IpcResult } from './ipc/attr_clnt.js';
import { callRequest, type NamedReply } from './ipc/protocol_requests.js';
import { loadMailConfig, type MailConfig } from './mail_conf.js';
import { MAIL_ATTR, MAIL_CLASS, mailPathname } from './mail_proto.js';
import {
  DICT_FLAG,
  DICT_FLAG_INST_MASK,
  DICT_FLAG_RQST_MASK,
  DICT_SEQ_FUN,
  PROXY_REQ,
  PROXY_STAT,
  PROXYMAP_PROTOCOL,
  dictFlagsFromContext,
  fromWire,
  toWire,
} from './proxy_proto.js';

/** Why a table opened for a bulk build ('create' or bulk) cannot be proxy: (Postfix mkmap_open's text). */
export const PROXY_NO_BULK_TEXT = 'unsupported dictionary type: proxy does not support bulk-mode creation.';

/** Most requests waiting for one service connection; beyond that a request fails at once. */
export const PROXY_MAX_PENDING = 1000;
let maxPending: number = PROXY_MAX_PENDING;

/** Changes the pending-request bound (tests). */
export function dictProxySetMaxPending(n: number): void {
  maxPending = n;
}

/** Table types that are pattern tables, until the server's open reply says otherwise. */
const PATTERN_TYPES: ReadonlySet<string> = new Set(['regexp', 'pcre', 'cidr', 'fail']);

type Proxy = typeof PROXYMAP_PROTOCOL;
type ProxyVariants = Proxy['requests'];

/** One service connection shared by every proxy: table of that service in this process. */
interface SharedClient {
  client: AttrClient<Proxy>;
  label: string;
  pending: number;
}

const sharedClients = new Map<string, SharedClient>();
let directDepth = 0;

/** Runs fn with proxy: opens going straight to the inner table (the proxymap server's own opens). */
export function withDictProxyDirect<T>(fn: () => T): T {
  directDepth++;
  try {
    return fn();
  } finally {
    directDepth--;
  }
}

/** Closes every shared service connection (tests, reload). */
export function dictProxyClientsClose(): void {
  for (const s of sharedClients.values()) s.client.close();
  sharedClients.clear();
}


/** Where one service is and how long to wait for it, from the configuration (fixed at open). */
interface ServiceSettings {
  id: string;
  path: string;
  label: string;
  timeoutMs: number;
  idleMs: number;
  ttlMs: number;
}

function serviceSettings(config: MailConfig, write: boolean): ServiceSettings {
  const service = config.get(write ? 'proxywrite_service_name' : 'proxymap_service_name');
  const path = mailPathname(config.get('queue_directory'), MAIL_CLASS.PRIVATE, service);
  const timeoutMs = config.getTime('ipc_timeout') * 1000;
  const idleMs = config.getTime('ipc_idle') * 1000;
  const ttlMs = config.getTime('ipc_ttl') * 1000;
  return { id: `${path}\0${timeoutMs}\0${idleMs}\0${ttlMs}`, path, label: `${MAIL_CLASS.PRIVATE}/${service}`, timeoutMs, idleMs, ttlMs };
}

/** The shared connection for these settings, made anew after dictProxyClientsClose(). */
function sharedClient(st: ServiceSettings): SharedClient {
  let s = sharedClients.get(st.id);
  if (!s) {
    const { path, label, timeoutMs, idleMs, ttlMs } = st;
    s = {
      client: new AttrClient(PROXYMAP_PROTOCOL, { endpoint: labelledUnixEndpoint(path, label, timeoutMs), timeoutMs, idleMs, ttlMs }),
      label,
      pending: 0,
    };
    sharedClients.set(st.id, s);
  }
  return s;
}

/** The reason part of an IPC failure, without the endpoint label it starts with. */
function ipcReason(message: string, label: string): string {
  const prefix = `${label}: `;
  return message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

export function dictProxyOpen(ctx: DictOpenContext): Dict {
  const table = ctx.name;
  if (directDepth > 0) {
    if (!ctx.openNested) throw new DictOpenError(`${ctx.spec}: cannot open the inner table here`);
    let inner = table;
    while (inner.startsWith('proxy:')) inner = inner.slice('proxy:'.length);
    return ctx.openNested(inner);
  }
  // Postfix's mkmap refuses proxy: for postmap/postalias builds (-i too) with these words.
  if (ctx.mode === 'create' || ctx.bulk) throw new DictOpenError(PROXY_NO_BULK_TEXT);
  const colon = table.indexOf(':');
  if (colon <= 0) throw new DictOpenError(`open dictionary: expecting "type:name" form instead of "${table}"`);
  const innerType = table.slice(0, colon);
  const write = ctx.mode !== 'read';
  const config = ctx.config ?? loadMailConfig();
  const service = config.get(write ? 'proxywrite_service_name' : 'proxymap_service_name');
  const settings = serviceSettings(config, write);
  const dictFlags = dictFlagsFromContext(ctx);
  const instFlags = dictFlags & DICT_FLAG_INST_MASK;
  const requestFlags = instFlags | (dictFlags & DICT_FLAG_RQST_MASK);
  let pattern = PATTERN_TYPES.has(innerType);
  let opened = false;

  const fail = (op: string, reason: string): DictError => new DictError(ctx.spec, `${ctx.spec} ${op} error: ${reason}`);

  /** Sends one request on the shared connection, within the pending bound; IPC failures become DictError. */
  async function call<K extends keyof ProxyVariants & string>(
    fn: string,
    op: string,
    name: K,
    fields: Parameters<typeof callRequest<ProxyVariants, K>>[2],
  ): Promise<NamedReply<ProxyVariants, K>> {
    const shared = sharedClient(settings);
    if (shared.pending >= maxPending) {
      msgWarn(`${fn}: service ${shared.label}: too many pending requests (${maxPending})`);
      throw fail(op, 'too many pending requests');
    }
    shared.pending++;
    let r: IpcResult<NamedReply<ProxyVariants, K>>;
    try {
      r = await callRequest(shared.client, name, fields);
    } finally {
      shared.pending--;
    }
    if (!r.ok) {
      const reason = ipcReason(r.message, shared.label);
      msgWarn(`${fn}: service ${shared.label}: ${reason}`);
      throw fail(op, `service ${shared.label}: ${reason}`);
    }
    return r.reply;
  }

  /** A status other than OK/NOKEY: a warning where Postfix would log or die, and a DictError. */
  function badStatus(op: string, what: string, status: number): DictError {
    switch (status) {
      case PROXY_STAT.RETRY:
        return fail(op, `${service} service reports a temporary failure`);
      case PROXY_STAT.CONFIG:
        return fail(op, `${service} service reports a configuration error`);
      case PROXY_STAT.BAD:
        msgWarn(`${service} ${what}: invalid request`);
        return fail(op, 'invalid request');
      case PROXY_STAT.DENY:
        msgWarn(op === 'lookup' || op === 'sequence'
          ? `${service} service is not configured for table "${table}"`
          : `${service} update access is not configured for table "${table}"`);
        return fail(op, `table not approved for ${service} access`);
      default:
        msgWarn(`${service} ${what}: unexpected reply status ${status}`);
        return fail(op, `unexpected reply status ${status}`);
    }
  }

  async function ensureOpen(op: string): Promise<void> {
    if (opened) return;
    const r = await call('dict_proxy_open', op, PROXY_REQ.OPEN, { [MAIL_ATTR.TABLE]: table, [MAIL_ATTR.FLAGS]: instFlags });
    const status = r[MAIL_ATTR.STATUS];
    if (status !== PROXY_STAT.OK) {
      if (status === PROXY_STAT.DENY) {
        msgWarn(`${service} service is not configured for table "${table}"`);
        throw fail(op, `table not approved for ${service} access`);
      }
      if (status === PROXY_STAT.BAD) {
        msgWarn(`${service} open failed for table "${table}": invalid request`);
        throw fail(op, 'invalid request');
      }
      msgWarn(`${service} open failed for table "${table}": unexpected status ${status}`);
      throw fail(op, `unexpected status ${status}`);
    }
    pattern = (r[MAIL_ATTR.FLAGS] & DICT_FLAG.PATTERN) !== 0;
    opened = true;
  }

  /**
   * The key and flags of one request. With the UTF-8 layer active (Postfix
   * dict_utf8), a fixed-key table's key is casefolded here, as UTF-8, and
   * the request goes without the fold flags; otherwise the key goes as
   * given and the server folds it (ASCII only, as the table's own fold).
   */
  function keyAndFlags(key: string): [string, number] {
    if (!ctx.utf8) return [key, requestFlags];
    const folded = ctx.fold && !pattern ? foldKey(key, true, true) : key;
    return [folded, requestFlags & ~(DICT_FLAG.FOLD_FIX | DICT_FLAG.FOLD_MUL)];
  }

  const dict: Dict = {
    spec: ctx.spec,
    type: ctx.type,
    get pattern() {
      return pattern;
    },
    async lookup(key: string): Promise<string | null> {
      await ensureOpen('lookup');
      const [k, flags] = keyAndFlags(key);
      const r = await call('dict_proxy_lookup', 'lookup', PROXY_REQ.LOOKUP, {
        [MAIL_ATTR.TABLE]: table, [MAIL_ATTR.FLAGS]: flags, [MAIL_ATTR.KEY]: toWire(k),
      });
      const status = r[MAIL_ATTR.STATUS];
      if (status === PROXY_STAT.OK) return fromWire(r[MAIL_ATTR.VALUE]);
      if (status === PROXY_STAT.NOKEY) return null;
      throw badStatus('lookup', `lookup failed for table "${table}" key "${key}"`, status);
    },
    async *sequence(): AsyncIterable<[string, string]> {
      await ensureOpen('sequence');
      let fun: number = DICT_SEQ_FUN.FIRST;
      for (;;) {
        const r = await call('dict_proxy_sequence', 'sequence', PROXY_REQ.SEQUENCE, {
          [MAIL_ATTR.TABLE]: table, [MAIL_ATTR.FLAGS]: requestFlags, [MAIL_ATTR.FUNC]: fun,
        });
        const status = r[MAIL_ATTR.STATUS];
        if (status === PROXY_STAT.NOKEY) return;
        if (status !== PROXY_STAT.OK) throw badStatus('sequence', `sequence failed for table "${table}" function ${fun}`, status);
        yield [fromWire(r[MAIL_ATTR.KEY]), fromWire(r[MAIL_ATTR.VALUE])];
        fun = DICT_SEQ_FUN.NEXT;
      }
    },
    async close(): Promise<void> {
      // The connection is shared by every proxy: table of the service; it closes itself when idle.
    },
  };
  if (write) {
    dict.update = async (key: string, value: string): Promise<void> => {
      await ensureOpen('update');
      const [k, flags] = keyAndFlags(key);
      const r = await call('dict_proxy_update', 'update', PROXY_REQ.UPDATE, {
        [MAIL_ATTR.TABLE]: table, [MAIL_ATTR.FLAGS]: flags, [MAIL_ATTR.KEY]: toWire(k), [MAIL_ATTR.VALUE]: toWire(value),
      });
      const status = r[MAIL_ATTR.STATUS];
      // NOKEY: the table kept its old value (a duplicate it would not replace).
      if (status !== PROXY_STAT.OK && status !== PROXY_STAT.NOKEY) {
        throw badStatus('update', `update failed for table "${table}" key "${key}"`, status);
      }
    };
    dict.delete = async (key: string): Promise<boolean> => {
      await ensureOpen('delete');
      const [k, flags] = keyAndFlags(key);
      const r = await call('dict_proxy_delete', 'delete', PROXY_REQ.DELETE, {
        [MAIL_ATTR.TABLE]: table, [MAIL_ATTR.FLAGS]: flags, [MAIL_ATTR.KEY]: toWire(k),
      });
      const status = r[MAIL_ATTR.STATUS];
      if (status === PROXY_STAT.OK) return true;
      if (status === PROXY_STAT.NOKEY) return false;
      throw badStatus('delete', `delete failed for table "${table}" key "${key}"`, status);
    };
  }
  return dict;
}
