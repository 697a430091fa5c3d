/*
 * pickup_file - copy one maildrop file to cleanup(8) (Postfix pickup.c pickup_file/pickup_copy)
 *
 * What it does: pickupFile() opens a finished maildrop file (without
 * following symlinks), opens a cleanup session with the flags Postfix's
 * pickup uses (BOUNCE plus MASK_EXTERNAL, minus what
 * receive_override_options turns off, minus MILTER for mail requeued by
 * postsuper -r, plus AUTOUTF8 per smtputf8_autodetect_classes), and
 * copies the three segments with Postfix's checks:
 * - each record must belong to its segment (REC_TYPE_ENVELOPE, _CONTENT,
 *   _EXTRACT) and be at most line_length_limit long; pointer records are
 *   followed and padding skipped (postsuper -r files may have them);
 * - content_filter adds a filter record first; old filter and redirect
 *   records are dropped, and in the extracted segment return-receipt,
 *   errors-to and attributes without a record equivalent;
 * - a file without sender is refused; before the content come
 *   "Received: by $myhostname ($mail_name, from userid UID)" and
 *   "\tid QUEUEID; DATE" (the file's time), and an empty line when the
 *   content starts with white space;
 * - an arrival time record is made from the file time when the file has
 *   none before its sender; times in the future are clamped.
 * It logs "QUEUEID: uid=N from=<sender>" (with orig_id= for requeued mail).
 * The result says whether the maildrop file may go: after cleanup said
 * OK, or for a file that is bad (Postfix removes those, it does not move
 * them to corrupt), or that cleanup refused for good (BAD, RCPT bits).
 *
 * What it does not do: scan the maildrop (pickup.ts) or remove files.
 *
 * DIAGNOSTICS
 * Postfix's warnings: "uid=N: unexpected or malformed record type T",
 * "QUEUEID: uid=N: no envelope sender", "PATH: error writing QUEUEID:
 * TEXT", "QUEUEID: message PATH dated N seconds into the future",
 * "QUEUEID: message PATH has been queued for N days".
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { cleanupOpen, type CleanupSession } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT, cleanupStrerror } from '../global/cleanup_user.js';
import { inputTranspCleanup, inputTranspMask } from '../global/input_transp.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mailDate } from '../global/mail_date.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { REC_TYPE, REC_TYPE_CONTENT, REC_TYPE_ENVELOPE, REC_TYPE_EXTRACT } from '../global/rec_type.js';
import { RecordFile } from '../global/record.js';
import { msgInfo, msgWarn } from '../util/msg.js';
import { getpwnam } from '../util/pwd_lookup.js';

export const PICKUP_ACTION = { REMOVE: 'remove', KEEP: 'keep' } as const;
export type PickupAction = (typeof PICKUP_ACTION)[keyof typeof PICKUP_ACTION];

const DAY_SECONDS = 86400;
const HOUR_SECONDS = 3600;
/** Pointer records followed before a file counts as looping. */
const PTR_JUMP_LIMIT = 10000;

/** Attributes that have a record type of their own (Postfix rec_attr_map). */
const REC_ATTR_NAMES = new Set<string>([MAIL_ATTR.DSN_ORCPT, MAIL_ATTR.DSN_NOTIFY, MAIL_ATTR.DSN_ENVID, MAIL_ATTR.DSN_RET, MAIL_ATTR.CREATE_TIME]);

export interface PickupDeps {
  config: MailConfig;
  queueDir: string;
  /** Tests: the cleanup endpoint. */
  cleanupEndpoint?: Endpoint;
  /** Tests: the clock, in seconds. */
  now?: () => number;
}

/** smtputf8_autodetect(MAIL_SRC_MASK_SENDMAIL). */
export function smtputf8AutodetectSendmail(config: MailConfig): number {
  if (!config.getBool('smtputf8_enable')) return 0;
  const classes = config.get('smtputf8_autodetect_classes').toLowerCase().split(/[\s,]+/);
  return classes.includes('sendmail') || classes.includes('all') ? CLEANUP_FLAG.AUTOUTF8 : 0;
}

interface Info {
  path: string;
  st: Stats;
  id: string;
  sender: string | null;
  mtime: number;
}

function readError(info: Info, type: number): PickupAction {
  msgWarn(`uid=${info.st.uid}: unexpected or malformed record type ${type}`);
  return PICKUP_ACTION.REMOVE;
}

function serviceError(info: Info, status: number, reason: string): PickupAction {
  if (reason === '') msgWarn(`${info.path}: error writing ${info.id}: ${cleanupStrerror(status)}`);
  return status & (CLEANUP_STAT.BAD | CLEANUP_STAT.RCPT) ? PICKUP_ACTION.REMOVE : PICKUP_ACTION.KEEP;
}

/**
 * Copies records of one segment, up to (not including) the record that
 * ends it. Returns null when done, or the action after a bad record.
 */
async function copySegment(file: RecordFile, cleanup: CleanupSession, info: Info, expected: string, lineLimit: number): Promise<PickupAction | null> {
  const contentSegment = expected[0] === REC_TYPE_CONTENT[0];
  const extractSegment = expected[0] === REC_TYPE_EXTRACT[0];
  let checkFirst = contentSegment;
  let timeSeen = false;
  let jumps = 0;
  let returnTo = -1;
  for (;;) {
    const r = file.get();
    if (r.kind !== 'record') return readError(info, r.kind === 'error' ? r.type : -1);
    let type = r.type;
    // Postfix rec_get(): follow pointers (postsuper -r), skip padding.
    if (type === REC_TYPE.PTR) {
      const to = Number(r.data.toString('latin1').trim());
      if (!Number.isInteger(to) || to < 0 || ++jumps > PTR_JUMP_LIMIT) return readError(info, type);
      if (to === 0) {
        if (returnTo < 0) return readError(info, type);
        file.seek(returnTo);
      } else {
        returnTo = r.next;
        file.seek(to);
      }
      continue;
    }
    if (type === REC_TYPE.DTXT) continue;
    if (r.data.length > lineLimit || !expected.includes(String.fromCharCode(type))) return readError(info, type);
    if (type === expected.charCodeAt(0)) return null;
    const data = r.data;
    if (type === REC_TYPE.FROM) {
      if (info.sender === null) info.sender = data.toString('latin1');
      if (!timeSeen) cleanup.record(REC_TYPE.TIME, String(info.mtime));
    }
    if (type === REC_TYPE.TIME) timeSeen = true;
    if (!contentSegment) {
      // As postsuper(1) documents: drop old filter and redirect records.
      if (type === REC_TYPE.FILT || type === REC_TYPE.RDR) continue;
    }
    if (extractSegment) {
      if (type === REC_TYPE.RRTO || type === REC_TYPE.ERTO) continue;
      if (type === REC_TYPE.ATTR) {
        const text = data.toString('latin1');
        const eq = text.indexOf('=');
        const name = eq > 0 ? text.slice(0, eq).trim() : '';
        if (eq > 0 && name !== '' && !REC_ATTR_NAMES.has(name)) continue;
      }
    }
    if (checkFirst && (type === REC_TYPE.NORM || type === REC_TYPE.CONT)) {
      checkFirst = false;
      if (data.length > 0 && (data[0] === 0x20 || data[0] === 0x09)) cleanup.record(REC_TYPE.NORM, '');
    }
    type = r.type;
    cleanup.record(type, data);
    if (cleanup.buffered > 64 * 1024) await cleanup.drain();
  }
}

async function pickupCopy(file: RecordFile, cleanup: CleanupSession, info: Info, deps: PickupDeps): Promise<PickupAction> {
  const config = deps.config;
  const now = Math.floor(deps.now?.() ?? Date.now() / 1000);
  if (info.mtime > now + 2 * HOUR_SECONDS) {
    msgWarn(`${info.id}: message ${info.path} dated ${info.mtime - now} seconds into the future`);
    info.mtime = now;
  } else if (info.mtime < now - DAY_SECONDS) {
    msgWarn(`${info.id}: message ${info.path} has been queued for ${Math.floor((now - info.mtime) / DAY_SECONDS)} days`);
  }
  const filter = config.get('content_filter');
  if (filter !== '') cleanup.record(REC_TYPE.FILT, filter);
  const lineLimit = config.getInt('line_length_limit');
  let status = await copySegment(file, cleanup, info, REC_TYPE_ENVELOPE, lineLimit);
  if (status !== null) return status;
  if (info.sender === null) {
    msgWarn(`${info.id}: uid=${info.st.uid}: no envelope sender`);
    return PICKUP_ACTION.REMOVE;
  }
  if (isRequeued(config, info.st)) {
    msgInfo(`${info.id}: uid=${info.st.uid} from=<${info.sender}> orig_id=${basename(info.path)}`);
  } else {
    msgInfo(`${info.id}: uid=${info.st.uid} from=<${info.sender}>`);
  }
  cleanup.record(REC_TYPE.MESG, '');
  cleanup.record(REC_TYPE.NORM, `Received: by ${config.get('myhostname')} (${config.get('mail_name')}, from userid ${info.st.uid})`);
  cleanup.record(REC_TYPE.NORM, `\tid ${info.id}; ${mailDate(info.mtime)}`);
  status = await copySegment(file, cleanup, info, REC_TYPE_CONTENT, lineLimit);
  if (status !== null) return status;
  cleanup.record(REC_TYPE.XTRA, '');
  status = await copySegment(file, cleanup, info, REC_TYPE_EXTRACT, lineLimit);
  if (status !== null) return status;
  const reply = await cleanup.end();
  if (reply.status !== CLEANUP_STAT.OK) return serviceError(info, reply.status, reply.reason);
  return PICKUP_ACTION.REMOVE;
}

/** Postfix MAIL_IS_REQUEUED: owned by mail_owner and not world-readable (postsuper -r). */
export function isRequeued(config: MailConfig, st: Stats): boolean {
  const owner = getpwnam(config.get('mail_owner'));
  return owner !== null && st.uid === owner.uid && (st.mode & 0o004) === 0;
}

/** Copies one maildrop file to cleanup; says whether the file may be removed. */
export async function pickupFile(path: string, deps: PickupDeps): Promise<PickupAction> {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') msgWarn(`open input file ${path}: ${(err as Error).message}`);
    if (code === 'EACCES') {
      msgWarn(`if this file was created by Postfix < 1.1, then you may have to chmod a+r ${deps.queueDir}/${path}`);
      return PICKUP_ACTION.KEEP;
    }
    return PICKUP_ACTION.REMOVE;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      msgWarn(`open input file ${path}: not a regular file`);
      return PICKUP_ACTION.REMOVE;
    }
    const config = deps.config;
    let flags = inputTranspCleanup(CLEANUP_FLAG.BOUNCE | CLEANUP_FLAG.MASK_EXTERNAL, inputTranspMask(config));
    if (isRequeued(config, st)) flags &= ~CLEANUP_FLAG.MILTER;
    else flags |= smtputf8AutodetectSendmail(config);
    const opened = await cleanupOpen({
      queueDir: deps.queueDir,
      flags,
      service: config.get('cleanup_service_name'),
      endpoint: deps.cleanupEndpoint,
      timeoutMs: config.getTime('ipc_timeout') * 1000,
    });
    if (!opened.ok) {
      msgWarn(`connect to cleanup service: ${opened.reason}`);
      return PICKUP_ACTION.KEEP;
    }
    const session = opened.session;
    const info: Info = { path, st, id: session.queueId, sender: null, mtime: Math.floor(st.mtimeMs / 1000) };
    const file = new RecordFile(fd, path);
    let action: PickupAction;
    try {
      action = await pickupCopy(file, session, info, deps);
    } catch (err) {
      msgWarn(`${path}: ${(err as Error).message}`);
      action = PICKUP_ACTION.KEEP;
    }
    // Unless end() ran, dropping the connection makes cleanup remove its file.
    session.abort();
    return action;
  } finally {
    closeSync(fd);
  }
}
