/*
 * smtpd_check_params - the main.cf parameters smtpd restrictions read
 *
 * What it does: readParams() reads, once per SmtpdChecks, the reply codes
 * (unknown_client_reject_code, access_map_reject_code, relay_domains_
 * reject_code, ...), switches (smtpd_delay_reject, soft_bounce,
 * smtpd_reject_unlisted_*, smtpd_relay_before_recipient_restrictions,
 * ...), the *_tempfail_action choices, default_rbl_reply and
 * smtpd_expansion_filter (with its backslash escapes decoded).
 * ownAddresses() lists the addresses of inet_interfaces for
 * permit_inet_interfaces and permit_mx_backup.
 *
 * What it does not do: parse restriction lists (smtpd_check.ts).
 *
 * DIAGNOSTICS
 * msgFatal("bad configuration: NAME = VALUE") for a bad tempfail action;
 * MailConfig's own fatal errors for bad numbers and booleans.
 */
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { msgFatal } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { CheckParams } from './smtpd_check_log.js';

/** Turns "\t\40!..." (smtpd_expansion_filter) into the characters it names. */
export function unescapeFilter(text: string): string {
  return text.replace(/\\([0-7]{1,3}|.)/g, (_m, e: string) => {
    if (/^[0-7]+$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ t: '\t', n: '\n', r: '\r', b: '\b', f: '\f', v: '\v', a: '\x07' } as Record<string, string>)[e] ?? e;
  });
}

function tempfailIfPermit(config: MailConfig, param: string): boolean {
  const v = config.get(param).trim();
  if (v === 'defer_if_permit') return true;
  if (v === 'defer') return false;
  return msgFatal(`bad configuration: ${param} = ${v}`);
}

export function readParams(config: MailConfig): CheckParams {
  const int = (n: string): number => config.getInt(n);
  return {
    unkClientCode: int('unknown_client_reject_code'),
    badNameCode: int('invalid_hostname_reject_code'),
    unkNameCode: int('unknown_hostname_reject_code'),
    unkAddrCode: int('unknown_address_reject_code'),
    relayCode: int('relay_domains_reject_code'),
    mapsRblCode: int('maps_rbl_reject_code'),
    mapRejectCode: int('access_map_reject_code'),
    mapDeferCode: int('access_map_defer_code'),
    rejectCode: int('reject_code'),
    deferCode: int('defer_code'),
    nonFqdnCode: int('non_fqdn_reject_code'),
    mulRcptCode: int('multi_recipient_bounce_reject_code'),
    localRcptCode: int('unknown_local_recipient_reject_code'),
    relayRcptCode: int('unknown_relay_recipient_reject_code'),
    virtMailboxCode: int('unknown_virtual_mailbox_reject_code'),
    virtAliasCode: int('unknown_virtual_alias_reject_code'),
    showUnkRcptTable: config.getBool('show_user_unknown_table_name'),
    rejectUnlistedSender: config.getBool('smtpd_reject_unlisted_sender'),
    rejectUnlistedRecipient: config.getBool('smtpd_reject_unlisted_recipient'),
    allowUntrustedRouting: config.getBool('allow_untrusted_routing'),
    softBounce: config.getBool('soft_bounce'),
    nullAccessKey: config.get('smtpd_null_access_lookup_key'),
    recipientDelimiter: config.get('recipient_delimiter'),
    doubleBounceSender: config.get('double_bounce_sender'),
    delayReject: config.getBool('smtpd_delay_reject'),
    relayBeforeRecipient: config.getBool('smtpd_relay_before_recipient_restrictions'),
    unkNameTempfailIfPermit: tempfailIfPermit(config, 'unknown_helo_hostname_tempfail_action'),
    unkAddrTempfailIfPermit: tempfailIfPermit(config, 'unknown_address_tempfail_action'),
    unvFromTempfailIfPermit: tempfailIfPermit(config, 'unverified_sender_tempfail_action'),
    unvRcptTempfailIfPermit: tempfailIfPermit(config, 'unverified_recipient_tempfail_action'),
    defaultRblReply: config.get('default_rbl_reply'),
    expansionFilter: unescapeFilter(config.get('smtpd_expansion_filter')),
    messageSizeLimit: int('message_size_limit'),
  };
}

/** The addresses of inet_interfaces (permit_inet_interfaces). */
export function ownAddresses(config: MailConfig): Set<string> {
  const own = new Set<string>();
  for (const item of config.getList('inet_interfaces')) {
    const v = item.toLowerCase();
    if (v === 'all') {
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) own.add(a.address.toLowerCase());
    } else if (v === 'loopback-only') {
      own.add('127.0.0.1').add('::1');
    } else {
      const bare = v.replace(/^\[|\]$/g, '');
      if (isIP(bare)) own.add(bare);
    }
  }
  return own;
}
