/*
 * dict_lmdb - the lmdb: table, Postfix's indexed default (also hash: and btree:)
 *
 * What it does: opens NAME.lmdb, the file Postfix's postmap(1) and
 * postalias(1) build, through the lmdb package built in the LMDB 0.9
 * data format, so files written by Postfix and by Postern are read by
 * both. Reading: keys folded when the table folds; a key is tried with
 * a trailing null byte (DICT_FLAG_TRY1NULL), then without (TRY0NULL),
 * and the table remembers which form the file uses, as Postfix's
 * dict_lmdb does; a value ends at its first null byte; an empty key is
 * a lookup error unless the file is known to use null bytes (LMDB has
 * no zero-length keys: Postfix fails the same way). A file changed in
 * place by Postern is seen at once (LMDB's MVCC: each event-loop turn
 * reads the newest snapshot), one changed by Postfix's postmap within
 * a second (its commits skip LMDB's lock file; dict_lmdb_env.ts
 * catches the lock file up); a file replaced by another (new inode) is
 * reopened, checked at most once a second. Writing (mode 'write' or 'create'):
 * update() with the DictOpenContext.dup rules and Postfix's texts,
 * delete(), sequence(); keys and values get a trailing null byte when
 * try1Null (both flags: the null byte, Postfix's Linux default), none
 * with try0Null only. With bulk every change is one transaction
 * committed by close(); 'create' empties the table in that same
 * transaction, so readers see the old table until the new one is
 * complete. hash: and btree: open NAME.lmdb too, with a warning once per
 * process and type.
 *
 * What it does NOT do: take Postfix's fcntl() locks (Node.js has no
 * fcntl locking): Postern readers and writers coordinate through LMDB's
 * own NAME.lmdb-lock file, which Postfix (MDB_NOLOCK) does not use, so a
 * table must not be written by Postfix's and Postern's programs at the
 * same time. Readers need write access to NAME.lmdb-lock (LMDB keeps
 * its reader table there): Postern's writers make it writable for
 * whoever may read the table; a table built by Postfix in a directory
 * the reader cannot write is refused with that reason. Read Berkeley DB hash:/btree: files (rebuild them with
 * postmap). Build a table from a source file (postmap).
 *
 * DIAGNOSTICS
 * Read-only opens warn "database NAME.lmdb is older than source file
 * NAME" as Postfix does (source changed after the build, over 100 s ago).
 * Open failures throw DictOpenError (dict.ts makes a surrogate): "open
 * database NAME.lmdb: No such file or directory" (read mode), "...: not
 * an LMDB 0.9 file (...)", an unbuilt lmdb package. hash:/btree: warn
 * "TYPE:NAME: Postern stores TYPE: tables as lmdb: (NAME.lmdb); rebuild
 * them with postmap". Lookups: "error reading TYPE:NAME: REASON" is
 * logged and the lookup rejects with DictError (also "error reading
 * TYPE:NAME: MDB_BAD_VALSIZE: ..." for the empty key). update() rejects with
 * DictError "TYPE:NAME: duplicate entry: \"KEY\"" (dup 'fatal'; 'warn'
 * logs that text as a warning) and "error updating TYPE:NAME:
 * MDB_BAD_VALSIZE: ..." for keys longer than LMDB's 511 bytes; these
 * are not logged (postmap reports them as fatal).
 */
import { statSync } from 'node:fs';
import { msgWarn } from '../util/msg.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError, foldKey } from './dict_base.js';
import {
  LMDB_BAD_VALSIZE_TEXT,
  LMDB_DEFAULT_MAP_SIZE,
  LMDB_ENTRY_OVERHEAD,
  LMDB_ERR,
  LMDB_GROW_RETRY_LIMIT,
  LMDB_MAX_KEY_SIZE,
  LMDB_SUFFIX,
  type LmdbEnv,
  checkLmdbFile,
  lmdbCloseEnv,
  lmdbErrorCode,
  lmdbOpenEnv,
  lmdbSyncLockTxnid,
  readerMapSize,
  writerMapSize,
} from './dict_lmdb_env.js';

/** How often (ms) a reader checks whether its file was replaced. */
export const LMDB_REOPEN_CHECK_MS = 1000;

/** A source file changed less than this many seconds ago is not warned about (being rebuilt). */
export const LMDB_SOURCE_GRACE_S = 100;

/** Table types warned about once per process (hash:, btree:). */
const aliasWarned = new Set<string>();

/** The warning for a hash:/btree: table opened as lmdb:. */
export function lmdbAliasWarning(type: string, name: string): string {
  return `${type}:${name}: Postern stores ${type}: tables as lmdb: (${name}${LMDB_SUFFIX}); rebuild them with postmap`;
}

/** The configured initial map size (lmdb_map_size). */
function configuredMapSize(ctx: DictOpenContext): number {
  const text = ctx.config?.get('lmdb_map_size');
  const n = text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(n) && n > 0 ? n : LMDB_DEFAULT_MAP_SIZE;
}

/** A byte string (one char per byte) as a Buffer. */
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A stored value or key as Postfix returns it: up to the first null byte. */
function untilNull(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

export function dictLmdbOpen(ctx: DictOpenContext): Dict {
  if ((ctx.type === 'hash' || ctx.type === 'btree') && !aliasWarned.has(ctx.type)) {
    aliasWarned.add(ctx.type);
    msgWarn(lmdbAliasWarning(ctx.type, ctx.name));
  }
  const file = ctx.name + LMDB_SUFFIX;
  const readOnly = ctx.mode === 'read';
  const mapConfigured = configuredMapSize(ctx);
  const state = checkLmdbFile(file);
  if (state.kind === 'missing' && readOnly) throw new DictOpenError(`open database ${file}: No such file or directory`);
  if (state.kind === 'empty' && readOnly) throw new DictOpenError(`open database ${file}: not an LMDB 0.9 file (empty)`);
  const size = state.kind === 'lmdb' ? state.size : 0;
  if (readOnly) {
    lmdbSyncLockTxnid(file);
    warnIfOlderThanSource(file, ctx.name);
  }
  let env: LmdbEnv = lmdbOpenEnv(file, readOnly, readOnly ? readerMapSize(mapConfigured, size) : writerMapSize(mapConfigured, size, 0));

  // Postfix's DICT_FLAG_TRY1NULL/TRY0NULL, narrowed once the file's habit is known.
  let try1 = ctx.try1Null;
  let try0 = ctx.try0Null;
  if (!try1 && !try0) try1 = try0 = true;

  // Writers: pending bulk changes (stored key → stored value, null = delete).
  const pending = new Map<string, string | null>();
  const truncate = ctx.mode === 'create' && ctx.bulk;
  let closed = false;
  let lastCheck = Date.now();
  const oldEnvs: LmdbEnv[] = [];

  // ----- readers: notice a replaced file, reopen after MDB_MAP_RESIZED -----

  const reopen = (why: 'replaced' | 'resized'): void => {
    const st = checkLmdbFile(file);
    if (st.kind !== 'lmdb') throw new DictOpenError(`open database ${file}: ${st.kind === 'missing' ? 'No such file or directory' : 'not an LMDB 0.9 file (empty)'}`);
    const grown = why === 'resized' ? env.mapSize * 2 : 0;
    const next = lmdbOpenEnv(file, true, Math.max(grown, readerMapSize(mapConfigured, st.size)));
    oldEnvs.push(env);
    env = next;
    const old = oldEnvs.splice(0);
    // Closing may wait for the old snapshot's readers; nothing depends on it.
    for (const o of old) lmdbCloseEnv(o).catch(() => {});
  };

  const maybeReopen = (): void => {
    if (!readOnly) return;
    const now = Date.now();
    if (now - lastCheck < LMDB_REOPEN_CHECK_MS) return;
    lastCheck = now;
    lmdbSyncLockTxnid(file);
    let st: LmdbFileId;
    try {
      st = fileId(file);
    } catch {
      return; // gone for now (being replaced?): keep reading the old one
    }
    if (st.dev === env.dev && st.ino === env.ino) return;
    try {
      reopen('replaced');
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      msgWarn(`error reading ${ctx.spec}: ${why}`);
      throw new DictError(ctx.spec, `error reading ${ctx.spec}: ${why}`);
    }
  };

  /** One raw get; null when absent. Errors become DictError after a warning. */
  const getStored = (key: string): string | null => {
    if (pending.has(key)) {
      const v = pending.get(key);
      return v === undefined || v === null ? null : v;
    }
    if (truncate) return null;
    const kb = bytes(key);
    if (kb.length === 0 || kb.length > LMDB_MAX_KEY_SIZE) return null; // LMDB cannot hold it: not found, as Postfix
    for (let attempt = 0; ; attempt++) {
      try {
        const v = env.db.getBinary(kb);
        return v === undefined ? null : v.toString('latin1');
      } catch (err) {
        if (readOnly && attempt === 0 && lmdbErrorCode(err) === LMDB_ERR.MAP_RESIZED) {
          try {
            reopen('resized');
            continue;
          } catch { /* fall through to the error below */ }
        }
        const why = err instanceof Error ? err.message : String(err);
        msgWarn(`error reading ${ctx.spec}: ${why}`);
        throw new DictError(ctx.spec, `error reading ${ctx.spec}: ${why}`);
      }
    }
  };

  const lookupSync = (name: string): string | null => {
    if (closed) throw new DictError(ctx.spec, `${ctx.spec}: table is closed`);
    maybeReopen();
    const key = foldKey(name, ctx.fold, ctx.utf8);
    if (try1) {
      const v = getStored(key + '\0');
      if (v !== null) {
        try0 = false;
        return untilNull(v);
      }
    }
    if (try0) {
      if (key === '') {
        // LMDB refuses a zero-length key; Postfix's lookup fails the same way.
        msgWarn(`error reading ${ctx.spec}: ${LMDB_BAD_VALSIZE_TEXT}`);
        throw new DictError(ctx.spec, `error reading ${ctx.spec}: ${LMDB_BAD_VALSIZE_TEXT}`);
      }
      const v = getStored(key);
      if (v !== null) {
        try1 = false;
        return untilNull(v);
      }
    }
    return null;
  };

  const dict: Dict = {
    spec: ctx.spec,
    type: ctx.type,
    pattern: false,
    lookup: async (key: string) => lookupSync(key),
    lookupSync,
    sequence: () => sequence(),
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        if (pending.size > 0 || truncate) await commit([...pending], truncate);
      } finally {
        pending.clear();
        await lmdbCloseEnv(env);
      }
    },
  };

  async function* sequence(): AsyncIterable<[string, string]> {
    maybeReopen();
    let range: Iterable<{ key: Buffer; value: Buffer }>;
    try {
      range = env.db.getRange({}) as Iterable<{ key: Buffer; value: Buffer }>;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      msgWarn(`error seeking ${ctx.spec}: ${why}`);
      throw new DictError(ctx.spec, `error seeking ${ctx.spec}: ${why}`);
    }
    for (const { key, value } of range) yield [untilNull(key.toString('latin1')), untilNull(value.toString('latin1'))];
  }

  if (readOnly) return dict;

  // ----- writers -----

  /** Commits changes in one transaction, growing the map when LMDB says it is full. */
  async function commit(ops: Array<[string, string | null]>, clear: boolean): Promise<void> {
    const need = ops.reduce((n, [k, v]) => n + k.length + (v?.length ?? 0) + LMDB_ENTRY_OVERHEAD, 0);
    const wanted = writerMapSize(mapConfigured, fileSize(file), need);
    if (wanted > env.mapSize) await regrow(wanted);
    // LMDB inserts fastest in key order; into the emptied table, as appends.
    // Comparing one-byte-per-char strings orders them as LMDB's memcmp does.
    const sorted = ops.slice().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const append = clear ? { append: true } : undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        env.db.transactionSync(() => {
          if (clear) env.db.clearSync();
          for (const [k, v] of sorted) {
            if (v === null) {
              if (!clear) env.db.removeSync(bytes(k));
            } else if (append) env.db.putSync(bytes(k), bytes(v), append);
            else env.db.putSync(bytes(k), bytes(v));
          }
        });
        return;
      } catch (err) {
        const code = lmdbErrorCode(err);
        const full = code === LMDB_ERR.MAP_FULL || code === LMDB_ERR.BAD_TXN;
        if (full && attempt < LMDB_GROW_RETRY_LIMIT) {
          await regrow(env.mapSize * 2);
          continue;
        }
        const why = err instanceof Error ? err.message : String(err);
        throw new DictError(ctx.spec, `error updating ${ctx.spec}: ${why}`);
      }
    }
  }

  /** Reopens the writable environment with a bigger map (lmdb-js cannot resize in place). */
  async function regrow(mapSize: number): Promise<void> {
    await lmdbCloseEnv(env);
    env = lmdbOpenEnv(file, false, mapSize);
  }

  /** Chooses the stored form for a write: Postfix's Linux default is the null byte. */
  const writeForm = (): boolean => {
    if (try1 && try0) try0 = false;
    return try1;
  };

  const checkKeySize = (stored: string): void => {
    if (stored.length === 0 || stored.length > LMDB_MAX_KEY_SIZE) {
      throw new DictError(ctx.spec, `error updating ${ctx.spec}: ${LMDB_BAD_VALSIZE_TEXT}`);
    }
  };

  if (ctx.mode === 'create' && !ctx.bulk) {
    // O_TRUNC without bulk: empty the table now, in its own transaction.
    try {
      env.db.transactionSync(() => env.db.clearSync());
    } catch (err) {
      void lmdbCloseEnv(env);
      throw new DictOpenError(`open database ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  dict.update = async (name: string, value: string): Promise<void> => {
    if (closed) throw new DictError(ctx.spec, `${ctx.spec}: table is closed`);
    const key = foldKey(name, ctx.fold, ctx.utf8);
    const nul = writeForm() ? '\0' : '';
    const storedKey = key + nul;
    const storedValue = value + nul;
    checkKeySize(storedKey);
    if (ctx.dup !== 'replace' && getStored(storedKey) !== null) {
      const text = `${ctx.spec}: duplicate entry: "${key}"`;
      if (ctx.dup === 'ignore') return;
      if (ctx.dup === 'warn') {
        msgWarn(text);
        return;
      }
      throw new DictError(ctx.spec, text);
    }
    if (ctx.bulk) {
      pending.set(storedKey, storedValue);
      return;
    }
    await commit([[storedKey, storedValue]], false);
  };

  dict.delete = async (name: string): Promise<boolean> => {
    if (closed) throw new DictError(ctx.spec, `${ctx.spec}: table is closed`);
    const key = foldKey(name, ctx.fold, ctx.utf8);
    const forms: Array<[string, 'one' | 'zero']> = [];
    if (try1) forms.push([key + '\0', 'one']);
    if (try0) forms.push([key, 'zero']);
    for (const [stored, form] of forms) {
      if (stored.length === 0) throw new DictError(ctx.spec, `error deleting from ${ctx.spec}: ${LMDB_BAD_VALSIZE_TEXT}`);
      if (stored.length > LMDB_MAX_KEY_SIZE) continue;
      if (getStored(stored) === null) continue;
      if (form === 'one') try0 = false;
      else try1 = false;
      if (ctx.bulk) pending.set(stored, null);
      else await commit([[stored, null]], false);
      return true;
    }
    return false;
  };

  return dict;
}

/** Postfix's reminder that the source file changed after the table was built. */
function warnIfOlderThanSource(file: string, source: string): void {
  try {
    const table = Math.floor(statSync(file).mtimeMs / 1000);
    const src = Math.floor(statSync(source).mtimeMs / 1000);
    if (src > table && src < Math.floor(Date.now() / 1000) - LMDB_SOURCE_GRACE_S) {
      msgWarn(`database ${file} is older than source file ${source}`);
    }
  } catch {
    // no source file next to the table: nothing to compare
  }
}

/** Device and inode of a file (throws when it is not there). */
interface LmdbFileId { dev: number; ino: number }

function fileId(file: string): LmdbFileId {
  const st = statSync(file);
  return { dev: st.dev, ino: st.ino };
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
