/*
 * namadr_list - match a host by name or address (Postfix namadr_list.c)
 *
 * What it does: namadrListInit() builds a match list whose patterns are
 * tried, in order, first against the host name and then against the host
 * address: host names and parent domains, IP addresses ([ipv6] too),
 * networks (a.b.c.d/len, [ipv6]/len), '!' negation, /file/name entries
 * and inline:/static: tables. This is what mynetworks, debug_peer_list,
 * smtpd_authorized_xclient_hosts, smtpd_authorized_xforward_hosts,
 * qmqpd_authorized_clients, local_header_rewrite_clients and friends
 * are. matchParentStyle() tells whether a list's feature name is in
 * parent_domain_matches_subdomains (then "example.com" also matches
 * its subdomains). namadrListFromConfig() does both from a MailConfig.
 *
 * What it does not do: DNS (the caller passes the verified name, or
 * "unknown"), or choose what to do on a lookup error: check `error`
 * after a false match (smtpd answers 451 4.3.0; others msgFatal()).
 *
 * DIAGNOSTICS
 * namadrListInit() throws MatchListError (see match_list.ts).
 */
import { MATCH_FLAG, matchListInit, type MatchList } from '../util/match_list.js';
import { matchHostaddr, matchHostname } from '../util/match_ops.js';
import type { MailConfig } from './mail_conf.js';
import './match_table.js';  // tables (any type) in this program's pattern lists

/** The parameter listing features whose domains match their subdomains. */
export const VAR_PAR_DOM_MATCH = 'parent_domain_matches_subdomains';

/** The host-name-or-address list type. */
export type NamadrList = MatchList;

/** MATCH_FLAG.PARENT when `feature` is listed in parent_domain_matches_subdomains. */
export function matchParentStyle(feature: string, parentDomainMatchesSubdomains: string): number {
  const names = parentDomainMatchesSubdomains.split(/[\s,]+/).filter((w) => w !== '');
  return names.some((n) => n.toLowerCase() === feature.toLowerCase()) ? MATCH_FLAG.PARENT : MATCH_FLAG.NONE;
}

/** A name-or-address list; `name` names it in messages. */
export function namadrListInit(name: string, flags: number, patterns: string): NamadrList {
  return matchListInit(name, flags, patterns, [matchHostname, matchHostaddr]);
}

/** Does the host (name, or "unknown", and address) match? */
export function namadrListMatch(list: NamadrList, name: string, addr: string): boolean {
  return list.match(name, addr);
}

/**
 * The list in parameter `param` (e.g. "mynetworks"), with the parent style
 * that parent_domain_matches_subdomains gives feature `param`.
 */
export function namadrListFromConfig(config: MailConfig, param: string): NamadrList {
  const flags = matchParentStyle(param, config.get(VAR_PAR_DOM_MATCH));
  return namadrListInit(param, flags, config.get(param));
}
