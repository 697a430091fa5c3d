/*
 * resolve_clnt - client of trivial-rewrite's address resolver (Postfix resolve_clnt)
 *
 * What it does: RESOLVE_FLAG and RESOLVE_CLASS carry Postfix's bit values.
 * resolveClient(config) sends "resolve" (or "verify", the address
 * verification personality) requests with the sender and the internal
 * form recipient over the trivial-rewrite protocol (rewrite_clnt.ts,
 * private/$rewrite_service_name) and returns the transport, nexthop,
 * recipient and flags. It keeps recent answers (request, sender and
 * address; REWRITE_CACHE_SIZE of them, where Postfix's client keeps
 * one), does not cache the empty address, keeps trying once a second
 * while the service does not answer, and treats a reply with an empty
 * transport (or an empty recipient for a non-empty address) as a failed
 * exchange.
 * localResolveClient(config) gives the same answers computed in this
 * process by resolve_addr.ts (tables opened once per client).
 *
 * What it does not do: decide what a class means for relay control
 * (smtpd's reject_unauth_destination) or deliver anything.
 *
 * DIAGNOSTICS
 * "problem talking to service rewrite: ..." and "resolve_clnt: null
 * transport result for: <addr>" warnings, as Postfix; resolve() rejects
 * with an Error only when the service stays unreachable past the give-up
 * time. A lookup failure inside the resolver is not an exception: the
 * reply then has RESOLVE_FLAG.FAIL set.
 */
import { msgVerbose } from '../util/msg.js';
import { RecentAnswers } from '../util/recent_answers.js';
import type { MailConfig } from './mail_conf.js';
import { ResolveEngine } from './resolve_addr.js';
import {
  REWRITE_CACHE_SIZE,
  REWRITE_CACHE_TTL_MS,
  TRIVIAL_REQ,
  type TrivialClientOptions,
  type TrivialResolveReply,
  trivialClient,
  trivialRequest,
} from './rewrite_clnt.js';

/** Reply flags (Postfix RESOLVE_FLAG_*). */
export const RESOLVE_FLAG = {
  /** Final delivery (unused by Postfix). */
  FINAL: 1 << 0,
  /** The local-part still holds routing operators. */
  ROUTED: 1 << 1,
  /** Bad destination syntax. */
  ERROR: 1 << 2,
  /** The request failed (a table lookup error): try again later. */
  FAIL: 1 << 3,
} as const;

/** Address classes (Postfix RESOLVE_CLASS_*). */
export const RESOLVE_CLASS = {
  /** mydestination, inet_interfaces, proxy_interfaces. */
  LOCAL: 1 << 8,
  /** virtual_alias_domains. */
  ALIAS: 1 << 9,
  /** virtual_mailbox_domains. */
  VIRTUAL: 1 << 10,
  /** relay_domains. */
  RELAY: 1 << 11,
  /** Everything else: reject_unauth_destination applies. */
  DEFAULT: 1 << 12,
  /** The classes where this machine is the final destination. */
  FINAL: (1 << 8) | (1 << 9) | (1 << 10),
  /** All class bits. */
  MASK: (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12),
} as const;

export interface ResolveReply {
  transport: string;
  nexthop: string;
  recipient: string;
  flags: number;
}

export interface ResolveClient {
  resolve(sender: string, address: string): Promise<ResolveReply>;
  verify(sender: string, address: string): Promise<ResolveReply>;
}

/** The flags as Postfix's verbose logging names them ("final", "routed", ... then the class). */
export function resolveFlagNames(flags: number): string {
  const names: Array<[number, string]> = [
    [RESOLVE_FLAG.FINAL, 'final'],
    [RESOLVE_FLAG.ROUTED, 'routed'],
    [RESOLVE_FLAG.ERROR, 'error'],
    [RESOLVE_FLAG.FAIL, 'fail'],
  ];
  const classes: Array<[number, string]> = [
    [RESOLVE_CLASS.LOCAL, 'local'],
    [RESOLVE_CLASS.ALIAS, 'alias'],
    [RESOLVE_CLASS.VIRTUAL, 'virtual'],
    [RESOLVE_CLASS.RELAY, 'relay'],
    [RESOLVE_CLASS.DEFAULT, 'default'],
  ];
  const pick = (list: Array<[number, string]>): string => list.filter(([b]) => (flags & b) !== 0).map(([, n]) => n).join('');
  return `flags=${pick(names)} class=${pick(classes)}`;
}

type ResolveKind = typeof TRIVIAL_REQ.RESOLVE | typeof TRIVIAL_REQ.VERIFY;

/** Postfix resolve_clnt_query_from / resolve_clnt_verify_from over the trivial-rewrite service. */
export function resolveClient(config: MailConfig, opts: TrivialClientOptions = {}): ResolveClient {
  const client = trivialClient(config, opts);
  const giveUpMs = opts.giveUpMs ?? config.getTime('ipc_timeout') * 1000;
  const service = config.get('rewrite_service_name');
  const cache = new RecentAnswers<ResolveReply>(REWRITE_CACHE_TTL_MS, REWRITE_CACHE_SIZE);
  const ask = async (kind: ResolveKind, sender: string, address: string): Promise<ResolveReply> => {
    const key = `${kind}\0${sender}\0${address}`;
    const hit = address !== '' ? cache.get(key) : null;
    if (hit !== null) {
      msgVerbose(`resolve_clnt: cached: \`${address}' -> transp=\`${hit.transport}' host=\`${hit.nexthop}' rcpt=\`${hit.recipient}' ${resolveFlagNames(hit.flags)}`);
      return { ...hit };
    }
    const r = await trivialRequest<TrivialResolveReply>(client, { request: kind, sender, address }, giveUpMs, service, (rep) => {
      if (rep.transport === '') return `resolve_clnt: null transport result for: <${address}>`;
      if (rep.recipient === '' && address !== '') return `resolve_clnt: null recipient result for: <${address}>`;
      return null;
    });
    const reply: ResolveReply = { transport: r.transport, nexthop: r.nexthop, recipient: r.recipient, flags: r.flags };
    msgVerbose(`resolve_clnt: \`${address}' -> transp=\`${reply.transport}' host=\`${reply.nexthop}' rcpt=\`${reply.recipient}' ${resolveFlagNames(reply.flags)}`);
    cache.set(key, reply);
    return { ...reply };
  };
  return {
    resolve: (sender, address) => ask(TRIVIAL_REQ.RESOLVE, sender, address),
    verify: (sender, address) => ask(TRIVIAL_REQ.VERIFY, sender, address),
  };
}

/** The same answers as resolveClient, computed in this process. */
export function localResolveClient(config: MailConfig): ResolveClient {
  const engine = new ResolveEngine(config);
  return {
    resolve: (sender, address) => engine.resolve('regular', sender, address),
    verify: (sender, address) => engine.resolve('verify', sender, address),
  };
}
