/*
 * local_params - the main.cf parameters of local(8), read once per process (Postfix local.c main)
 *
 * What it does: readLocalParams() reads every parameter local(8) uses
 * into a typed LocalParams, and turns the list-valued ones into Postfix's
 * bit masks (allow_mail_to_commands/files, prepend_delivered_header,
 * propagate_unmatched_extensions), with Postfix's error for a bad word.
 * default_privs is looked up in the passwd file (it must not be root).
 *
 * What it does not do: open tables (local_tables.ts).
 *
 * DIAGNOSTICS
 * Throws an Error with Postfix's fatal text for a bad configuration
 * ("unknown allow_mail_to_commands value: foo", "default_privs: unknown
 * user name: x", "default_privs: privileged user: root"); local.ts turns
 * that into msg_fatal at startup.
 */
import type { MailConfig } from '../global/mail_conf.js';
import { mboxLockMask } from '../global/mbox_conf.js';
import type { PasswdEntry } from '../util/pwd_lookup.js';
import { EXPAND_TYPE } from './local_state.js';

/** prepend_delivered_header bits (Postfix DELIVER_HDR_*). */
export const DELIVER_HDR = { CMD: 1 << 0, FILE: 1 << 1, FWD: 1 << 2 } as const;
/** propagate_unmatched_extensions bits (Postfix EXT_PROP_*). */
export const EXT_PROP = { CANONICAL: 1 << 0, VIRTUAL: 1 << 1, ALIAS: 1 << 2, FORWARD: 1 << 3, INCLUDE: 1 << 4, GENERIC: 1 << 5 } as const;

export interface LocalParams {
  aliasMaps: string;
  forwardPath: string;
  mailboxCommand: string;
  mailboxCommandMaps: string;
  mailboxTransport: string;
  mailboxTransportMaps: string;
  fallbackTransport: string;
  fallbackTransportMaps: string;
  luserRelay: string;
  homeMailbox: string;
  mailSpoolDirectory: string;
  lockStyle: string;
  lockTries: number;
  lockDelayMs: number;
  staleLockSec: number;
  cmdDeliverMask: number;
  fileDeliverMask: number;
  deliverHdrMask: number;
  extPropMask: number;
  commandTimeLimitMs: number;
  commandExpansionFilter: string;
  forwardExpansionFilter: string;
  execDirExpansionFilter: string;
  commandExecutionDirectory: string;
  exportEnvironment: string[];
  localCommandShell: string;
  recipientDelimiter: string;
  ownerRequestSpecial: boolean;
  expandOwnerAlias: boolean;
  resetOwnerAlias: boolean;
  frozenDeliveredTo: boolean;
  strictMailboxOwnership: boolean;
  requireHomeDirectory: boolean;
  duplicateFilterLimit: number;
  myhostname: string;
  mailName: string;
  queueDirectory: string;
  cleanupService: string;
  defaultUid: number;
  defaultGid: number;
  /** mailbox_size_limit in bytes, 0 = none. */
  mailboxSizeLimit: number;
}

function mask(config: MailConfig, name: string, words: Record<string, number>): number {
  let m = 0;
  for (const w of config.getList(name)) {
    const bit = words[w.toLowerCase()];
    if (bit === undefined) throw new Error(`unknown ${name} value "${w}" in "${config.get(name)}"`);
    m |= bit;
  }
  return m;
}

export function readLocalParams(config: MailConfig, getpwnam: (n: string) => PasswdEntry | null): LocalParams {
  const expandMask = { alias: EXPAND_TYPE.ALIAS, forward: EXPAND_TYPE.FWD, include: EXPAND_TYPE.INCL };
  const lock = config.get('mailbox_delivery_lock');
  const lm = mboxLockMask(lock);
  if (!lm.ok) throw new Error(lm.why);
  const privs = config.get('default_privs');
  const pw = getpwnam(privs);
  if (!pw) throw new Error(`unknown default_privs user name: ${privs}`);
  if (pw.uid === 0) throw new Error(`default_privs: privileged user: ${privs}`);
  return {
    aliasMaps: config.get('alias_maps'),
    forwardPath: config.get('forward_path'),
    mailboxCommand: config.get('mailbox_command'),
    mailboxCommandMaps: config.get('mailbox_command_maps'),
    mailboxTransport: config.get('mailbox_transport'),
    mailboxTransportMaps: config.get('mailbox_transport_maps'),
    fallbackTransport: config.get('fallback_transport'),
    fallbackTransportMaps: config.get('fallback_transport_maps'),
    // luser_relay is expanded per recipient with local_expand(): take it unexpanded.
    luserRelay: config.unexpanded('luser_relay') ?? '',
    homeMailbox: config.get('home_mailbox'),
    mailSpoolDirectory: config.get('mail_spool_directory'),
    lockStyle: lock,
    lockTries: config.getInt('deliver_lock_attempts'),
    lockDelayMs: config.getTime('deliver_lock_delay') * 1000,
    staleLockSec: config.getTime('stale_lock_time'),
    cmdDeliverMask: mask(config, 'allow_mail_to_commands', expandMask),
    fileDeliverMask: mask(config, 'allow_mail_to_files', expandMask),
    deliverHdrMask: mask(config, 'prepend_delivered_header', { command: DELIVER_HDR.CMD, file: DELIVER_HDR.FILE, forward: DELIVER_HDR.FWD }),
    extPropMask: mask(config, 'propagate_unmatched_extensions', {
      canonical: EXT_PROP.CANONICAL,
      virtual: EXT_PROP.VIRTUAL,
      alias: EXT_PROP.ALIAS,
      forward: EXT_PROP.FORWARD,
      include: EXT_PROP.INCLUDE,
      generic: EXT_PROP.GENERIC,
    }),
    commandTimeLimitMs: config.getTime('command_time_limit') * 1000,
    commandExpansionFilter: config.get('command_expansion_filter'),
    forwardExpansionFilter: config.get('forward_expansion_filter'),
    execDirExpansionFilter: config.get('execution_directory_expansion_filter'),
    // Expanded per recipient with local_expand().
    commandExecutionDirectory: config.unexpanded('command_execution_directory') ?? '',
    exportEnvironment: config.getList('export_environment'),
    localCommandShell: config.get('local_command_shell'),
    recipientDelimiter: config.get('recipient_delimiter'),
    ownerRequestSpecial: config.getBool('owner_request_special'),
    expandOwnerAlias: config.getBool('expand_owner_alias'),
    resetOwnerAlias: config.getBool('reset_owner_alias'),
    frozenDeliveredTo: config.getBool('frozen_delivered_to'),
    strictMailboxOwnership: config.getBool('strict_mailbox_ownership'),
    requireHomeDirectory: config.getBool('require_home_directory'),
    duplicateFilterLimit: config.getInt('duplicate_filter_limit'),
    myhostname: config.get('myhostname'),
    mailName: config.get('mail_name'),
    queueDirectory: config.get('queue_directory'),
    cleanupService: config.get('cleanup_service_name'),
    defaultUid: pw.uid,
    defaultGid: pw.gid,
    mailboxSizeLimit: config.getInt('mailbox_size_limit'),
  };
}
