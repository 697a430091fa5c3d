/*
 * dict_changed - has a table file changed since this process read it? (Postfix dict_changed_name)
 *
 * What it does: table types that read their whole source file at open
 * time (texthash, regexp, pcre, cidr) record the file's identity (inode,
 * size, modification time) with dictWatchFile(). dictChangedName()
 * returns the "type:name" of the first recorded table whose file now
 * differs (replaced, edited, removed), checking at most once per
 * DICT_CHANGED_CHECK_MS; the server skeleton asks before it takes a new
 * client and retires the process, as Postfix daemons log "table
 * TYPE:NAME has changed -- restarting" and exit, so that the next process
 * reads the new file.
 *
 * What it does not do: reread a table in place (the next process does),
 * or watch lmdb: files (LMDB readers see a rebuild through its own
 * transactions; dict_lmdb.ts reopens a replaced file itself).
 *
 * DIAGNOSTICS
 * None: a file that cannot be stat()ed counts as changed.
 */
import { statSync, type Stats } from 'node:fs';

/** Look at the files at most this often (a stat per file per check). */
export const DICT_CHANGED_CHECK_MS = 1000;

interface Watched {
  spec: string;
  ino: number;
  size: number;
  mtimeMs: number;
}

const watched = new Map<string, Watched>();
let lastCheck = 0;

/** Remember a table file as it was when its content was read (stats from fstat of that read). */
export function dictWatchFile(spec: string, path: string, st: Stats): void {
  watched.set(path, { spec, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
}

/** The first watched table whose file changed, or null; throttled unless `force`. */
export function dictChangedName(now = Date.now(), force = false): string | null {
  if (watched.size === 0) return null;
  if (!force && now - lastCheck < DICT_CHANGED_CHECK_MS) return null;
  lastCheck = now;
  for (const [path, w] of watched) {
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      return w.spec;
    }
    if (st.ino !== w.ino || st.size !== w.size || st.mtimeMs !== w.mtimeMs) return w.spec;
  }
  return null;
}

/** Forget every watched file (tests, dictCacheClear). */
export function dictWatchClear(): void {
  watched.clear();
  lastCheck = 0;
}
