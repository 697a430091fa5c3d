/*
 * postfix_dirs - queue directory layout: create-missing, set-permissions, check
 *
 * What it does: knows who owns each directory under queue_directory and
 * data_directory and with which mode, as Postfix's postfix-files says:
 * queue_directory and pid/ root 0755; the queues, private/ and the
 * other daemon directories mail_owner 0700; maildrop/ mail_owner with
 * group setgid_group 0730; public/ mail_owner:setgid_group 0710;
 * data_directory mail_owner 0700. createMissing() makes what is missing
 * (post-install create-missing); setPermissions() also fixes owner and
 * mode of what exists; checkWarn() reports what postfix-script's
 * check-warn reports, with its words ("not owned by root: PATH", "group
 * or other writable: PATH", "not owned by group postdrop: PATH",
 * "damaged message: corrupt/ID").
 *
 * Run unprivileged (not root), every owner is the invoking user, no
 * chown is attempted and the group checks are skipped.
 *
 * What it does not do: check Postfix's shared files (daemon_directory,
 * command_directory: Postern's programs live in its own tree), or move
 * mis-named queue files (postsuper's job).
 *
 * DIAGNOSTICS
 * createMissing/setPermissions throw an Error naming the path when a
 * directory cannot be made or changed; checkWarn only warns.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_QUEUE, QUEUE_AUX_DIRS, queueDirNames } from '../global/mail_queue.js';
import { getgrnam, getpwnam, getpwuid } from '../util/pwd_lookup.js';
import { msgWarn } from '../util/msg.js';

/** How deep checkWarn walks a queue tree (hash_queue_depth is at most 16). */
export const CHECK_MAX_DEPTH = 20;

type OwnerRole = 'root' | 'mail_owner';

export interface DirRule {
  path: string;
  owner: OwnerRole;
  /** Group: setgid_group, or the owner's own group when null. */
  setgidGroup: boolean;
  mode: number;
}

const MODE_ROOT_DIR = 0o755;
const MODE_PRIVATE_DIR = 0o700;
const MODE_MAILDROP = 0o730;
const MODE_PUBLIC = 0o710;

/** The directories Postfix creates, in creation order (parents first). */
export function queueDirRules(config: MailConfig): DirRule[] {
  const q = config.get('queue_directory');
  const rules: DirRule[] = [{ path: q, owner: 'root', setgidGroup: false, mode: MODE_ROOT_DIR }];
  for (const name of queueDirNames()) {
    const path = join(q, name);
    if (name === QUEUE_AUX_DIRS.PID) rules.push({ path, owner: 'root', setgidGroup: false, mode: MODE_ROOT_DIR });
    else if (name === MAIL_QUEUE.MAILDROP) rules.push({ path, owner: 'mail_owner', setgidGroup: true, mode: MODE_MAILDROP });
    else if (name === QUEUE_AUX_DIRS.PUBLIC) rules.push({ path, owner: 'mail_owner', setgidGroup: true, mode: MODE_PUBLIC });
    else rules.push({ path, owner: 'mail_owner', setgidGroup: false, mode: MODE_PRIVATE_DIR });
  }
  rules.push({ path: config.get('data_directory'), owner: 'mail_owner', setgidGroup: false, mode: MODE_PRIVATE_DIR });
  return rules;
}

export interface Identity {
  privileged: boolean;
  root: { uid: number; gid: number; name: string };
  mailOwner: { uid: number; gid: number; name: string };
  setgidGroup: { gid: number; name: string } | null;
}

/** Who owns what: root and mail_owner when root, the invoking user otherwise. */
export function identity(config: MailConfig): Identity {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid !== 0) {
    const me = { uid, gid, name: getpwuid(uid)?.name ?? String(uid) };
    return { privileged: false, root: me, mailOwner: me, setgidGroup: null };
  }
  const ownerName = config.get('mail_owner');
  const pw = getpwnam(ownerName);
  if (!pw) throw new Error(`unknown mail_owner user name: ${ownerName}`);
  const groupName = config.get('setgid_group');
  const gr = getgrnam(groupName);
  if (!gr) throw new Error(`unknown setgid_group group name: ${groupName}`);
  return {
    privileged: true,
    root: { uid: 0, gid: 0, name: 'root' },
    mailOwner: { uid: pw.uid, gid: pw.gid, name: ownerName },
    setgidGroup: { gid: gr.gid, name: groupName },
  };
}

function wantedIds(rule: DirRule, id: Identity): { uid: number; gid: number } {
  const who = rule.owner === 'root' ? id.root : id.mailOwner;
  const gid = rule.setgidGroup && id.setgidGroup ? id.setgidGroup.gid : id.privileged && rule.owner === 'mail_owner' ? 0 : who.gid;
  return { uid: who.uid, gid };
}

function statOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function apply(rule: DirRule, id: Identity, fix: boolean): void {
  const st = statOrNull(rule.path);
  const want = wantedIds(rule, id);
  try {
    if (!st) {
      mkdirSync(rule.path, { recursive: true, mode: rule.mode });
    } else if (!st.isDirectory()) {
      throw new Error('not a directory');
    } else if (!fix) {
      return;
    }
    chmodSync(rule.path, rule.mode);
    if (id.privileged) chownSync(rule.path, want.uid, want.gid);
  } catch (err) {
    throw new Error(`${rule.path}: ${(err as Error).message}`);
  }
}

/** post-install create-missing: make the directories that do not exist. */
export function createMissing(config: MailConfig): void {
  const id = identity(config);
  for (const rule of queueDirRules(config)) apply(rule, id, false);
}

/** postfix set-permissions: create what is missing and fix owner and mode of the rest. */
export function setPermissions(config: MailConfig): void {
  const id = identity(config);
  for (const rule of queueDirRules(config)) apply(rule, id, true);
}

function groupOrOtherWritable(st: Stats): boolean {
  return (st.mode & 0o022) !== 0;
}

/** Walks a tree (not following symlinks), bounded in depth. */
function walk(path: string, visit: (p: string, st: Stats) => void, depth = 0): void {
  const st = statOrNull(path);
  if (!st) return;
  visit(path, st);
  if (!st.isDirectory() || depth >= CHECK_MAX_DEPTH) return;
  let names: string[] = [];
  try {
    names = readdirSync(path);
  } catch {
    return;
  }
  // Plain concatenation keeps "DIR/./file" as find(1) prints it for postfix-script.
  for (const n of names) walk(`${path}/${n}`, visit, depth + 1);
}

/** postfix-script check-warn, for the directories Postern owns. */
export function checkWarn(config: MailConfig): void {
  const id = identity(config);
  const q = config.get('queue_directory');
  const rootName = id.root.name;
  for (const p of [`${q}/.`, join(q, QUEUE_AUX_DIRS.PID)]) {
    const st = statOrNull(p);
    if (!st) continue;
    if (st.uid !== id.root.uid) msgWarn(`not owned by ${rootName}: ${p}`);
    if (groupOrOtherWritable(st)) msgWarn(`group or other writable: ${p}`);
  }
  walk(`${config.configDir}/.`, (p, st) => {
    if (st.uid !== id.root.uid) msgWarn(`not owned by ${rootName}: ${p}`);
    if (!st.isSymbolicLink() && groupOrOtherWritable(st)) msgWarn(`group or other writable: ${p}`);
  });
  const owner = id.mailOwner;
  walk(`${config.get('data_directory')}/.`, (p, st) => {
    if (st.uid !== owner.uid) msgWarn(`not owned by ${owner.name}: ${p}`);
    if (groupOrOtherWritable(st)) msgWarn(`group or other writable: ${p}`);
  });
  const ownerTrees = queueDirNames().filter((n) => n !== QUEUE_AUX_DIRS.PID && n !== MAIL_QUEUE.MAILDROP);
  for (const name of ownerTrees) {
    walk(join(q, name), (p, st) => {
      if (st.isSocket() || st.isFIFO()) return;
      if (st.uid !== owner.uid) msgWarn(`not owned by ${owner.name}: ${p}`);
    });
  }
  const maildrop = statOrNull(join(q, MAIL_QUEUE.MAILDROP));
  if (maildrop && maildrop.uid !== owner.uid) msgWarn(`not owned by ${owner.name}: ${join(q, MAIL_QUEUE.MAILDROP)}`);
  if (id.setgidGroup) {
    for (const name of [QUEUE_AUX_DIRS.PUBLIC, MAIL_QUEUE.MAILDROP]) {
      const st = statOrNull(join(q, name));
      if (st && st.gid !== id.setgidGroup.gid) msgWarn(`not owned by group ${id.setgidGroup.name}: ${join(q, name)}`);
    }
  }
  walk(join(q, MAIL_QUEUE.CORRUPT), (p, st) => {
    if (st.isFile()) msgWarn(`damaged message: ${p.slice(q.length + 1)}`);
  });
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
