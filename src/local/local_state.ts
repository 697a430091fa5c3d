/*
 * local_state - per-recipient delivery state of local(8) (Postfix local.h, deliver_attr.c)
 *
 * What it does: the LocalState that travels down the delivery recursion
 * (message attributes: sender, recipient, user, extension, unmatched
 * extension, owner, delivered-to, expansion type; the recursion level)
 * and the UserAttr (rights and environment of the user on whose behalf a
 * /file or |command delivery runs). Postfix passes both by value, so a
 * callee changing them never affects its caller: here each function that
 * changes them works on a copy (withState/withUser). LocalEnv holds what is
 * shared by one delivery request: configuration snapshot, tables,
 * reporters, the duplicate filter, the Delivered-To loop info and the
 * pending forwards. The status helpers wrap sent/bounce/defer/trace with
 * the request and relay (the service name, "local"), as BOUNCE_ATTR does.
 *
 * What it does not do: deliver (the other local_*.ts files).
 *
 * DIAGNOSTICS
 * None here; the reporters log Postfix's lines.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Dsn } from '../global/dsn.js';
import { dsnMake } from '../global/dsn.js';
import type { DeliverRequest } from '../global/deliver_request.js';
import type { Recipient } from '../global/recipient_list.js';
import type { LocalParams } from './local_params.js';
import type { LocalTables } from './local_tables.js';
import type { ResolveClient } from '../global/resolve_clnt.js';
import type { RewriteClient } from '../global/rewrite_clnt.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { PasswdEntry } from '../util/pwd_lookup.js';

/** Expansion types (Postfix EXPAND_TYPE_*), also the bits of allow_mail_to_commands/files. */
export const EXPAND_TYPE = { ALIAS: 1 << 0, FWD: 1 << 1, INCL: 1 << 2 } as const;

/** Recursion bound (Postfix: level > 100). */
export const LOCAL_NESTING_LIMIT = 100;

export interface UserAttr {
  uid: number;
  gid: number;
  home: string | null;
  logname: string | null;
  shell: string | null;
}

export interface MsgAttr {
  rcpt: Recipient;
  sender: string;
  dsnEnvid: string;
  dsnRet: number;
  local: string;
  domain: string | null;
  user: string;
  extension: string | null;
  unmatched: string | null;
  owner: string | null;
  delivered: string | null;
  expType: number;
  expFrom: string | null;
}

export interface LocalState {
  level: number;
  msg: MsgAttr;
}

export type Reporter = (req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn) => Promise<number>;

export interface Reporters {
  sent: Reporter;
  bounce: Reporter;
  defer: Reporter;
  trace: Reporter;
  /** One-recipient bounce to another sender (owner- alias), Postfix bounce_one. */
  bounceOne?: (req: DeliverRequest, sender: string, rcpt: Recipient, relay: string, dsn: Dsn) => Promise<number>;
}

export interface LocalEnv {
  req: DeliverRequest;
  queueFilePath: string;
  /** The queue file, opened as root before any privilege change (Postfix keeps it open too). */
  queueFile?: FileHandle;
  /** The master.cf service name ("local"): the relay in log lines, the transport compared in resolve. */
  service: string;
  params: LocalParams;
  tables: LocalTables;
  report: Reporters;
  resolver: ResolveClient;
  rewriter: RewriteClient;
  /** Delivered-To: addresses of the message, lowercased. */
  loopInfo: Set<string>;
  /** Duplicate filter for the current top-level recipient (Postfix been_here). */
  dupFilter: Set<string>;
  /** Passwd lookups (tests may point them at their own file). */
  getpwnam(name: string): PasswdEntry | null;
  getpwuid(uid: number): PasswdEntry | null;
  /** Whether this process may change its effective uid/gid (started as root). */
  privileged: boolean;
  /** Where cleanup and the other delivery agents listen (tests). */
  cleanupEndpoint?: Endpoint;
  passEndpoint?: (transport: string) => Endpoint;
  /** Pending forwards: delivered-to → sender → recipients. */
  forwards: Map<string, Map<string, Recipient[]>>;
}

export function copyState(s: LocalState, msg: Partial<MsgAttr> = {}, level = s.level): LocalState {
  return { level, msg: { ...s.msg, rcpt: { ...s.msg.rcpt }, ...msg } };
}

export function nextLevel(s: LocalState): LocalState {
  return copyState(s, {}, s.level + 1);
}

/** Postfix been_here(): true when the key was seen; bounded by duplicate_filter_limit (0 = no limit). */
export function beenHere(env: LocalEnv, key: string): boolean {
  const k = key.toLowerCase();
  if (env.dupFilter.has(k)) return true;
  if (env.params.duplicateFilterLimit === 0 || env.dupFilter.size < env.params.duplicateFilterLimit) env.dupFilter.add(k);
  return false;
}

export function beenHereCheck(env: LocalEnv, key: string): boolean {
  return env.dupFilter.has(key.toLowerCase());
}

export function noUser(): UserAttr {
  return { uid: 0, gid: 0, home: null, logname: null, shell: null };
}

/** SET_USER_ATTR. */
export function userFromPasswd(pw: PasswdEntry): UserAttr {
  return { uid: pw.uid, gid: pw.gid, home: pw.home, logname: pw.name, shell: pw.shell };
}

// Status helpers (BOUNCE_ATTR / SENT_ATTR): the recipient of the state, relay = service.

export function reportSent(env: LocalEnv, s: LocalState, status: string, reason: string, fields: Partial<Dsn> = {}): Promise<number> {
  return env.report.sent(env.req, s.msg.rcpt, env.service, dsnMake(status, reason, { action: 'delivered', ...fields }));
}

export function reportBounce(env: LocalEnv, s: LocalState, dsn: Dsn): Promise<number> {
  return env.report.bounce(env.req, s.msg.rcpt, env.service, { ...dsn, action: dsn.action || 'failed' });
}

/** Always "not done": a deferred recipient is not crossed off (Postfix defer_append returns -1). */
export async function reportDefer(env: LocalEnv, s: LocalState, dsn: Dsn): Promise<number> {
  await env.report.defer(env.req, s.msg.rcpt, env.service, { ...dsn, action: dsn.action || 'delayed' });
  return -1;
}

/** 4.x.x defers, anything else bounces. */
export function reportFailure(env: LocalEnv, s: LocalState, dsn: Dsn): Promise<number> {
  return dsn.status.startsWith('4') ? reportDefer(env, s, dsn) : reportBounce(env, s, dsn);
}
