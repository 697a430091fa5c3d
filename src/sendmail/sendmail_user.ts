/*
 * sendmail_user - who is submitting: login name and full name
 *
 * What it does: senderLogin() is Postfix's username() (the password file
 * name of the real uid); senderFullName() is Postfix's fullname(): the
 * NAME environment variable, else the password file's GECOS field up to
 * the first ',', ';' or '%', with each '&' replaced by the login name
 * with its first letter in upper case. (authorized_submit_users is
 * src/global/user_acl.ts, shared with postdrop.)
 *
 * What it does not do: look at the effective uid or any set-uid state
 * (Node programs are never set-uid), or consult NSS beyond /etc/passwd.
 *
 * DIAGNOSTICS
 * None.
 */
import { readFileSync } from 'node:fs';
import type { MailConfig } from '../global/mail_conf.js';
import { matchListInit } from '../util/match_list.js';
import { msgFatal } from '../util/msg.js';
import { getpwuid, PASSWD_FILE } from '../util/pwd_lookup.js';
import '../global/match_table.js';  // tables (any type) in this program's pattern lists

/** Longest password file we read for the GECOS field. */
const PASSWD_MAX_BYTES = 16 * 1024 * 1024;

export function senderLogin(uid: number): string | null {
  return getpwuid(uid)?.name ?? null;
}

/** The GECOS field of `uid` from the password file, or null. */
export function gecosOf(uid: number, file = PASSWD_FILE): { name: string; gecos: string } | null {
  let text: string;
  try {
    const buf = readFileSync(file);
    text = buf.subarray(0, PASSWD_MAX_BYTES).toString('latin1');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 5 && f[2] !== '' && Number(f[2]) === uid) return { name: f[0]!, gecos: f[4]! };
  }
  return null;
}

export function senderFullName(uid: number, env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env.NAME;
  if (fromEnv !== undefined) return fromEnv;
  const pw = gecosOf(uid);
  if (!pw) return null;
  let out = '';
  for (const ch of pw.gecos) {
    if (ch === ',' || ch === ';' || ch === '%') break;
    if (ch === '&') {
      if (pw.name !== '') out += pw.name[0]!.toUpperCase() + pw.name.slice(1);
    } else {
      out += ch;
    }
  }
  return out;
}
