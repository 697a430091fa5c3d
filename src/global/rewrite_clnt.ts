/*
 * rewrite_clnt - client of trivial-rewrite's address rewriting, and the wire protocol it shares with resolve
 *
 * What it does: TRIVIAL_REWRITE_PROTOCOL declares Postfix 3.7's
 * trivial-rewrite protocol once, for both ends: the server announces
 * protocol=trivial_rewrite_protocol, then each request is a list
 *   request=rewrite  rule=<local|remote> address=<external form>
 *     -> flags=<server flags> address=<rewritten external form>
 *   request=resolve|verify  sender=<internal> address=<internal>
 *     -> flags=<server flags> transport= nexthop= recipient= flags=<resolve flags>
 * (the resolve reply carries "flags" twice, as Postfix's does: first the
 * server's own flags, non-zero when the client should reconnect, then the
 * RESOLVE_FLAG/RESOLVE_CLASS bits).
 * rewriteClient(config) talks to private/$rewrite_service_name (or a
 * given endpoint) with Postfix's rewrite_clnt_internal semantics: the
 * internal-form address is quoted, rewritten by the server, unquoted.
 * Recent answers (REWRITE_CACHE_SIZE of them, each for
 * REWRITE_CACHE_TTL_MS) answer a repeated question; Postfix's client
 * keeps only the last one. A failed exchange is retried once a second, as
 * Postfix keeps trying, until the give-up time passes.
 * localRewriteClient(config) gives the same answers computed in this
 * process by rewrite_addr.ts.
 *
 * What it does not do: resolving (resolve_clnt.ts uses this protocol),
 * deciding whether or in which context an address is rewritten (cleanup).
 *
 * DIAGNOSTICS
 * A failed exchange logs "problem talking to service rewrite: <why>" as a
 * warning; rewrite() rejects with an Error only when the service stays
 * unreachable past the give-up time.
 */
import { join } from 'node:path';
import { ATTR0_DEFAULT_LIMITS, Attr0Error, type Attr0Frame, type Attr0Pair, encodeAttr0, isGroup } from '../util/attr0.js';
import type { ScanResult } from '../util/attr0_scan.js';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { RecentAnswers } from '../util/recent_answers.js';
import { AttrClient, type Endpoint, type IpcResult } from './ipc/attr_clnt.js';
import { announcementParts, type Protocol } from './ipc/protocol.js';
import type { MailConfig } from './mail_conf.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from './mail_proto.js';
import { quote822Local, unquote822Local } from './quote_822_local.js';
import { type RewriteSettings, rewriteExternal, rewriteSettings } from './rewrite_addr.js';

export type RewriteContext = 'local' | 'remote';

export interface RewriteClient {
  rewrite(context: RewriteContext, address: string): Promise<string>;
}

/** Request names (Postfix REWRITE_ADDR, RESOLVE_REGULAR, RESOLVE_VERIFY). */
export const TRIVIAL_REQ = {
  REWRITE: 'rewrite',
  RESOLVE: 'resolve',
  VERIFY: 'verify',
} as const;

/** How long a cached answer stays good (Postfix: 30 seconds). */
export const REWRITE_CACHE_TTL_MS = 30_000;
/** Pause between attempts when the service does not answer (Postfix: sleep(1)). */
export const REWRITE_RETRY_PAUSE_MS = 1_000;
/** Longest address or reply string accepted on the wire. */
export const TRIVIAL_MAX_STRING_BYTES = 4 * 2048 + 1;

export type TrivialRequest =
  | { request: typeof TRIVIAL_REQ.REWRITE; rule: string; address: string }
  | { request: typeof TRIVIAL_REQ.RESOLVE | typeof TRIVIAL_REQ.VERIFY; sender: string; address: string };

export interface TrivialRewriteReply {
  serverFlags: number;
  address: string;
}
export interface TrivialResolveReply {
  serverFlags: number;
  transport: string;
  nexthop: string;
  recipient: string;
  flags: number;
}
export type TrivialReply = TrivialRewriteReply | TrivialResolveReply;

function pair(name: string, value: string | number): Attr0Pair {
  return { name, value: String(value) };
}

/** Reads the simple attributes of a frame in order, each with its expected name. */
function scanOrdered(frame: Attr0Frame, names: readonly string[]): ScanResult<string[]> {
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const e = frame[i];
    if (!e) return { ok: false, message: `missing attribute ${names[i]}` };
    if (isGroup(e)) return { ok: false, message: `unexpected attribute {...} (expecting: ${names[i]})` };
    if (e.name !== names[i]) return { ok: false, message: `unexpected attribute ${e.name} (expecting: ${names[i]})` };
    out.push(e.value);
  }
  if (frame.length > names.length) {
    const e = frame[names.length]!;
    return { ok: false, message: `unexpected attribute ${isGroup(e) ? '{...}' : e.name}` };
  }
  return { ok: true, value: out };
}

function parseFlags(text: string, what: string): ScanResult<number> {
  if (!/^-?\d{1,10}$/.test(text)) return { ok: false, message: `malformed numerical data for ${what}: ${text.slice(0, 100)}` };
  return { ok: true, value: Number(text) };
}

const REWRITE_REQ_NAMES = [MAIL_ATTR.REQ, MAIL_ATTR.RULE, MAIL_ATTR.ADDR] as const;
const RESOLVE_REQ_NAMES = [MAIL_ATTR.REQ, MAIL_ATTR.SENDER, MAIL_ATTR.ADDR] as const;
const REWRITE_REPLY_NAMES = [MAIL_ATTR.FLAGS, MAIL_ATTR.ADDR] as const;
const RESOLVE_REPLY_NAMES = [MAIL_ATTR.FLAGS, MAIL_ATTR.TRANSPORT, MAIL_ATTR.NEXTHOP, MAIL_ATTR.RECIP, MAIL_ATTR.FLAGS] as const;

const LIMITS = Object.freeze({ ...ATTR0_DEFAULT_LIMITS, maxStringBytes: Math.max(ATTR0_DEFAULT_LIMITS.maxStringBytes, TRIVIAL_MAX_STRING_BYTES) });

/** The trivial-rewrite protocol (Postfix 3.7 rewrite_proto/resolve_proto), strict both ways. */
export const TRIVIAL_REWRITE_PROTOCOL: Protocol<TrivialRequest, TrivialReply> = Object.freeze({
  name: MAIL_ATTR_PROTO.TRIVIAL,
  announce: true,
  format: '0' as const,
  limits: LIMITS,
  encodeRequest(r: TrivialRequest): Buffer {
    if (r.request === TRIVIAL_REQ.REWRITE) {
      return encodeAttr0([pair(MAIL_ATTR.REQ, r.request), pair(MAIL_ATTR.RULE, r.rule), pair(MAIL_ATTR.ADDR, r.address)]);
    }
    if (r.request === TRIVIAL_REQ.RESOLVE || r.request === TRIVIAL_REQ.VERIFY) {
      return encodeAttr0([pair(MAIL_ATTR.REQ, r.request), pair(MAIL_ATTR.SENDER, r.sender), pair(MAIL_ATTR.ADDR, r.address)]);
    }
    throw new Attr0Error(`${MAIL_ATTR_PROTO.TRIVIAL}: undeclared request`);
  },
  decodeRequest(frame: Attr0Frame): ScanResult<TrivialRequest> {
    const first = frame[0];
    if (!first || isGroup(first) || first.name !== MAIL_ATTR.REQ) {
      return { ok: false, message: `missing attribute ${MAIL_ATTR.REQ}` };
    }
    if (first.value === TRIVIAL_REQ.REWRITE) {
      const r = scanOrdered(frame, REWRITE_REQ_NAMES);
      if (!r.ok) return r;
      return { ok: true, value: { request: TRIVIAL_REQ.REWRITE, rule: r.value[1]!, address: r.value[2]! } };
    }
    if (first.value === TRIVIAL_REQ.RESOLVE || first.value === TRIVIAL_REQ.VERIFY) {
      const r = scanOrdered(frame, RESOLVE_REQ_NAMES);
      if (!r.ok) return r;
      return { ok: true, value: { request: first.value, sender: r.value[1]!, address: r.value[2]! } };
    }
    return { ok: false, message: `bad command ${first.value.slice(0, 30)}` };
  },
  encodeReply(rep: TrivialReply, req: TrivialRequest): Buffer {
    if (req.request === TRIVIAL_REQ.REWRITE) {
      const r = rep as TrivialRewriteReply;
      return encodeAttr0([pair(MAIL_ATTR.FLAGS, r.serverFlags), pair(MAIL_ATTR.ADDR, r.address)]);
    }
    const r = rep as TrivialResolveReply;
    return encodeAttr0([
      pair(MAIL_ATTR.FLAGS, r.serverFlags),
      pair(MAIL_ATTR.TRANSPORT, r.transport),
      pair(MAIL_ATTR.NEXTHOP, r.nexthop),
      pair(MAIL_ATTR.RECIP, r.recipient),
      pair(MAIL_ATTR.FLAGS, r.flags),
    ]);
  },
  decodeReply(frame: Attr0Frame, req: TrivialRequest): ScanResult<TrivialReply> {
    if (req.request === TRIVIAL_REQ.REWRITE) {
      const r = scanOrdered(frame, REWRITE_REPLY_NAMES);
      if (!r.ok) return r;
      const f = parseFlags(r.value[0]!, MAIL_ATTR.FLAGS);
      if (!f.ok) return f;
      return { ok: true, value: { serverFlags: f.value, address: r.value[1]! } };
    }
    const r = scanOrdered(frame, RESOLVE_REPLY_NAMES);
    if (!r.ok) return r;
    const sf = parseFlags(r.value[0]!, MAIL_ATTR.FLAGS);
    if (!sf.ok) return sf;
    const f = parseFlags(r.value[4]!, MAIL_ATTR.FLAGS);
    if (!f.ok) return f;
    return { ok: true, value: { serverFlags: sf.value, transport: r.value[1]!, nexthop: r.value[2]!, recipient: r.value[3]!, flags: f.value } };
  },
  ...announcementParts(MAIL_ATTR_PROTO.TRIVIAL, '0', {}),
  describe(): string {
    return [
      `The server announces: ${MAIL_ATTR.PROTO} = ${MAIL_ATTR_PROTO.TRIVIAL}`,
      `Request ${MAIL_ATTR.REQ} = rewrite: ${MAIL_ATTR.RULE}, ${MAIL_ATTR.ADDR}; reply ${REWRITE_REPLY_NAMES.join(', ')}`,
      `Request ${MAIL_ATTR.REQ} = resolve | verify: ${MAIL_ATTR.SENDER}, ${MAIL_ATTR.ADDR}; reply ${RESOLVE_REPLY_NAMES.join(', ')}`,
    ].join('\n');
  },
});

export interface TrivialClientOptions {
  /** Where trivial-rewrite listens; default queue_directory/private/$rewrite_service_name. */
  endpoint?: Endpoint;
  /** Bound on each exchange (default: ipc_timeout). */
  timeoutMs?: number;
  /** Give up (reject) when no answer came within this long (default: ipc_timeout). */
  giveUpMs?: number;
}

/** One shared connection per endpoint, as Postfix shares rewrite_clnt_stream between rewrite and resolve. */
const sharedClients = new Map<string, AttrClient<typeof TRIVIAL_REWRITE_PROTOCOL>>();

/** The default endpoint: the rewrite service's socket under queue_directory/private. */
export function rewriteEndpoint(config: MailConfig): string {
  return join(config.get('queue_directory'), 'private', config.get('rewrite_service_name'));
}

/** The (shared) AttrClient that rewrite and resolve clients talk through. */
export function trivialClient(config: MailConfig, opts: TrivialClientOptions = {}): AttrClient<typeof TRIVIAL_REWRITE_PROTOCOL> {
  const endpoint = opts.endpoint ?? rewriteEndpoint(config);
  const timeoutMs = opts.timeoutMs ?? config.getTime('ipc_timeout') * 1000;
  const make = (): AttrClient<typeof TRIVIAL_REWRITE_PROTOCOL> =>
    new AttrClient(TRIVIAL_REWRITE_PROTOCOL, {
      endpoint,
      timeoutMs,
      idleMs: config.getTime('ipc_idle') * 1000,
      ttlMs: config.getTime('ipc_ttl') * 1000,
    });
  if (typeof endpoint !== 'string') return make();
  const key = `${endpoint}\0${timeoutMs}`;
  let c = sharedClients.get(key);
  if (!c) {
    c = make();
    sharedClients.set(key, c);
  }
  return c;
}

/**
 * Sends one request, retrying once a second as Postfix does until giveUpMs
 * has passed; a reply is checked by accept() (null = good, else why not).
 */
export async function trivialRequest<R extends TrivialReply>(
  client: AttrClient<typeof TRIVIAL_REWRITE_PROTOCOL>,
  req: TrivialRequest,
  giveUpMs: number,
  serviceName: string,
  accept: (r: R) => string | null,
): Promise<R> {
  const deadline = Date.now() + giveUpMs;
  for (;;) {
    const r: IpcResult<TrivialReply> = await client.request(req);
    let why: string;
    if (r.ok) {
      const problem = accept(r.reply as R);
      if (problem === null) return r.reply as R;
      why = problem;
    } else {
      why = r.message;
    }
    msgWarn(`problem talking to service ${serviceName}: ${why}`);
    if (Date.now() + REWRITE_RETRY_PAUSE_MS > deadline) {
      throw new Error(`service ${serviceName} (${client.label}) did not answer within ${giveUpMs} ms: ${why}`);
    }
    await new Promise((res) => setTimeout(res, REWRITE_RETRY_PAUSE_MS));
  }
}

/** How many recent answers a rewrite or resolve client keeps (Postfix keeps one). */
export const REWRITE_CACHE_SIZE = 32;

/** Postfix rewrite_clnt_internal over the trivial-rewrite service. */
export function rewriteClient(config: MailConfig, opts: TrivialClientOptions = {}): RewriteClient {
  const client = trivialClient(config, opts);
  const giveUpMs = opts.giveUpMs ?? config.getTime('ipc_timeout') * 1000;
  const service = config.get('rewrite_service_name');
  const cache = new RecentAnswers<string>(REWRITE_CACHE_TTL_MS, REWRITE_CACHE_SIZE);
  return {
    async rewrite(context: RewriteContext, address: string): Promise<string> {
      const external = quote822Local(address);
      const key = `${context}\0${external}`;
      const hit = external !== '' ? cache.get(key) : null;
      if (hit !== null) {
        msgVerbose(`rewrite_clnt: cached: ${context}: ${external} -> ${hit}`);
        return unquote822Local(hit);
      }
      const reply = await trivialRequest<TrivialRewriteReply>(
        client,
        { request: TRIVIAL_REQ.REWRITE, rule: context, address: external },
        giveUpMs,
        service,
        () => null,
      );
      msgVerbose(`rewrite_clnt: ${context}: ${external} -> ${reply.address}`);
      cache.set(key, reply.address);
      return unquote822Local(reply.address);
    },
  };
}

/** The same answers as rewriteClient, computed in this process. */
export function localRewriteClient(config: MailConfig): RewriteClient {
  const settings = new Map<RewriteContext, RewriteSettings>();
  return {
    rewrite(context: RewriteContext, address: string): Promise<string> {
      let s = settings.get(context);
      if (!s) {
        s = rewriteSettings(config, context);
        settings.set(context, s);
      }
      return Promise.resolve(unquote822Local(rewriteExternal(s, quote822Local(address))));
    },
  };
}
