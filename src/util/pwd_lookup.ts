/*
 * pwd_lookup - user and group lookups from /etc/passwd and /etc/group
 *
 * What it does: getpwnam/getgrnam/getpwuid/getgrgid for the local files,
 * which is what Postfix's mail_owner and setgid_group checks need. Node
 * has no getpwnam(3); reading the files covers a normal Debian system.
 *
 * What it does not do: consult NSS modules (LDAP, sssd); a user known
 * only there is reported as unknown.
 *
 * DIAGNOSTICS
 * Returns null for an unknown name or id, or when the file is unreadable.
 */
import { readFileSync } from 'node:fs';

export const PASSWD_FILE = '/etc/passwd';
export const GROUP_FILE = '/etc/group';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function lines(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function toPasswd(f: string[]): PasswdEntry {
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '', shell: f[6] ?? '' };
}

function toGroup(f: string[]): GroupEntry {
  return { name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) };
}

export function getpwnam(name: string, file = PASSWD_FILE): PasswdEntry | null {
  const f = lines(file).find((x) => x[0] === name && x.length >= 4);
  return f ? toPasswd(f) : null;
}

export function getpwuid(uid: number, file = PASSWD_FILE): PasswdEntry | null {
  const f = lines(file).find((x) => x.length >= 4 && Number(x[2]) === uid);
  return f ? toPasswd(f) : null;
}

export function getgrnam(name: string, file = GROUP_FILE): GroupEntry | null {
  const f = lines(file).find((x) => x[0] === name && x.length >= 3);
  return f ? toGroup(f) : null;
}

export function getgrgid(gid: number, file = GROUP_FILE): GroupEntry | null {
  const f = lines(file).find((x) => x.length >= 3 && Number(x[2]) === gid);
  return f ? toGroup(f) : null;
}
