/*
 * dict_unix - the unix: table: the password and group files (Postfix dict_unix)
 *
 * What it does: "unix:passwd.byname" answers a user name with its
 * passwd entry as one line ("name:passwd:uid:gid:gecos:dir:shell") and
 * "unix:group.byname" a group name with "name:passwd:gid:member,...",
 * as Postfix's dict_unix does through getpwnam()/getgrnam(); the key is
 * folded when the table folds (the default). The files are read at each
 * lookup (they are small and may change).
 *
 * What it does not do: NSS sources other than /etc/passwd and
 * /etc/group (LDAP, NIS, systemd users).
 *
 * DIAGNOSTICS
 * Any other name fails to open (surrogate) with Postfix's "unknown
 * table: unix:NAME". An unreadable file finds nothing.
 */
import { readFileSync } from 'node:fs';
import { type Dict, type DictOpenContext, DictOpenError, foldKey, syncDict } from './dict_base.js';

export const UNIX_PASSWD_FILE = '/etc/passwd';
export const UNIX_GROUP_FILE = '/etc/group';

/** The colon-separated line of a passwd/group file whose first field is name. */
function fileEntry(file: string, name: string, fields: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= fields && f[0] === name) return f;
  }
  return null;
}

export function dictUnixOpen(ctx: DictOpenContext, files = { passwd: UNIX_PASSWD_FILE, group: UNIX_GROUP_FILE }): Dict {
  const key = (k: string) => foldKey(k, ctx.fold, ctx.utf8);
  switch (ctx.name) {
    case 'passwd.byname':
      return syncDict(ctx, false, (k) => {
        const f = fileEntry(files.passwd, key(k), 7);
        return f ? f.slice(0, 7).join(':') : null;
      });
    case 'group.byname':
      return syncDict(ctx, false, (k) => {
        const f = fileEntry(files.group, key(k), 4);
        return f ? f.slice(0, 4).join(':') : null;
      });
    default:
      throw new DictOpenError(`unknown table: ${ctx.spec}`);
  }
}
