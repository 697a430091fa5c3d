/*
 * dict_lmdb_env - the lmdb npm package, loaded only when it is safe, and LMDB file checks
 *
 * What it does: loadLmdb() loads the lmdb package (lmdb-js) after
 * checking that it was built from source by scripts/build_lmdb.mjs in
 * the LMDB 0.9 data format (the format of Postfix's lmdb: tables), and
 * refuses otherwise: the package's prebuilt binary writes LMDB 1.0's
 * format and crashes reading 0.9 files. checkLmdbFile() reads an
 * existing file's header (magic 0xBEEFC0DE at offset 16, data version 1
 * at offset 20) before lmdb-js ever sees it. lmdbOpenEnv() opens one
 * environment (NAME.lmdb, no subdirectory; LMDB's own NAME.lmdb-lock
 * beside it) with binary keys and values. Also the map-size rules:
 * readers map generously so that a table grown by another process stays
 * readable; writers start at lmdb_map_size and double when full, as
 * Postfix's slmdb does. lmdbCloseEnv() closes a file's stores only with
 * its last user in the process (lmdb-js shares one LMDB environment per
 * file, and closing one store breaks the others). lmdbSyncLockTxnid()
 * keeps LMDB's lock file in step with commits made without it (Postfix
 * writes with MDB_NOLOCK) and with a data file replaced under it.
 *
 * What it does NOT do: fold keys, add null bytes, handle duplicates or
 * notice rebuilt files (dict_lmdb.ts).
 *
 * DIAGNOSTICS
 * Throws DictOpenError: "open database FILE: No such file or
 * directory", "open database FILE: not an LMDB 0.9 file (...)", "open
 * database FILE: REASON" from LMDB, and "the lmdb package was not built
 * in the LMDB 0.9 data format ..." when node_modules/lmdb lacks
 * build/Release/lmdb.node or reports another LMDB version.
 */
import { chmodSync, closeSync, existsSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RootDatabase } from 'lmdb';
import { DictOpenError } from './dict_base.js';

type LmdbModule = typeof import('lmdb');

/** The LMDB 0.9 meta page header fields we check (little-endian uint32 each). */
export const LMDB_HEADER = { magicOffset: 16, magic: 0xbeefc0de, versionOffset: 20, version: 1, size: 24 } as const;

/** LMDB 0.9's compiled-in key size limit (MDB_MAXKEYSIZE), which Postfix's liblmdb has. */
export const LMDB_MAX_KEY_SIZE = 511;

/** The file name suffix Postfix uses for lmdb: tables. */
export const LMDB_SUFFIX = '.lmdb';

/** LMDB's own lock file suffix (Postfix opens with MDB_NOLOCK and has none). */
export const LMDB_LOCK_SUFFIX = '-lock';

/** lmdb_map_size's default (mail_params). */
export const LMDB_DEFAULT_MAP_SIZE = 16 * 1024 * 1024;

/** Readers map at least this much address space, so writers elsewhere can grow the file. */
export const LMDB_READER_MAP_MIN = 4 * 1024 * 1024 * 1024;

/** A writer's map: this many times the data it may hold (file plus pending entries). */
export const LMDB_WRITER_MAP_FACTOR = 4;

/** Per-entry overhead assumed when sizing a writer's map (LMDB node header and slack). */
export const LMDB_ENTRY_OVERHEAD = 64;

/** Map doublings tried per commit before giving up (Postfix: a few per call). */
export const LMDB_GROW_RETRY_LIMIT = 16;

/** The LMDB error codes dict_lmdb reacts to. */
export const LMDB_ERR = {
  MAP_FULL: -30792,
  MAP_RESIZED: -30785,
  BAD_TXN: -30782,
  BAD_VALSIZE: -30781,
} as const;

/** LMDB's own text for MDB_BAD_VALSIZE, as Postfix prints it. */
export const LMDB_BAD_VALSIZE_TEXT = 'MDB_BAD_VALSIZE: Unsupported size of key/DB name/data, or wrong DUPFIXED size';

let loaded: LmdbModule | null = null;
let loadError: string | null = null;

/** The lmdb package, or DictOpenError when it is missing or not the LMDB 0.9 build. */
export function loadLmdb(): LmdbModule {
  if (loaded) return loaded;
  if (loadError !== null) throw new DictOpenError(loadError);
  const require = createRequire(import.meta.url);
  let main: string;
  try {
    main = require.resolve('lmdb');
  } catch {
    loadError = 'the lmdb package is not installed (npm install)';
    throw new DictOpenError(loadError);
  }
  // main is .../node_modules/lmdb/dist/index.cjs
  const pkgDir = dirname(dirname(main));
  const binary = join(pkgDir, 'build', 'Release', 'lmdb.node');
  if (!existsSync(binary)) {
    loadError = `the lmdb package was not built in the LMDB 0.9 data format (no ${binary}); run "node scripts/build_lmdb.mjs"`;
    throw new DictOpenError(loadError);
  }
  const mod = require('lmdb') as LmdbModule;
  const v = (mod as unknown as { version: { major: number; minor: number; versionString?: string } }).version;
  if (v.major !== 0 || v.minor !== 9) {
    loadError = `the lmdb package was not built in the LMDB 0.9 data format (it reports ${v.versionString ?? `${v.major}.${v.minor}`}); run "node scripts/build_lmdb.mjs"`;
    throw new DictOpenError(loadError);
  }
  loaded = mod;
  return mod;
}

/** What checkLmdbFile() found. */
export type LmdbFileState = { kind: 'missing' } | { kind: 'empty' } | { kind: 'lmdb'; size: number; dev: number; ino: number };

/**
 * Looks at FILE before LMDB does: missing, empty (LMDB will initialize
 * it), or a valid LMDB 0.9 file. Anything else → DictOpenError.
 */
export function checkLmdbFile(file: string): LmdbFileState {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { kind: 'missing' };
    throw new DictOpenError(`open database ${file}: ${errnoText(e)}`);
  }
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new DictOpenError(`open database ${file}: not a regular file`);
    if (st.size === 0) return { kind: 'empty' };
    const head = Buffer.alloc(LMDB_HEADER.size);
    let got: number;
    try {
      got = readSync(fd, head, 0, head.length, 0);
    } catch (err) {
      throw new DictOpenError(`open database ${file}: ${errnoText(err as NodeJS.ErrnoException)}`);
    }
    if (got < LMDB_HEADER.size) throw new DictOpenError(`open database ${file}: not an LMDB 0.9 file (too short)`);
    const magic = head.readUInt32LE(LMDB_HEADER.magicOffset);
    if (magic !== LMDB_HEADER.magic) throw new DictOpenError(`open database ${file}: not an LMDB 0.9 file (bad magic number)`);
    const version = head.readUInt32LE(LMDB_HEADER.versionOffset);
    if (version !== LMDB_HEADER.version) {
      throw new DictOpenError(`open database ${file}: not an LMDB 0.9 file (LMDB data format version ${version}; rebuild it with postmap)`);
    }
    return { kind: 'lmdb', size: st.size, dev: st.dev, ino: st.ino };
  } finally {
    closeSync(fd);
  }
}

/** "No such file or directory"-style text for an errno error, as strerror() gives it. */
export function errnoText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': return 'Permission denied';
    case 'EISDIR': return 'Is a directory';
    case 'ENOTDIR': return 'Not a directory';
    case 'EROFS': return 'Read-only file system';
    default: return e.message;
  }
}

/** The smallest power of two ≥ n. */
function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Map size for a reader of a file of `size` bytes. */
export function readerMapSize(configured: number, size: number): number {
  return Math.max(configured, LMDB_READER_MAP_MIN, pow2AtLeast(size * LMDB_WRITER_MAP_FACTOR));
}

/** Map size for a writer about to hold a file of `size` bytes plus `pending` bytes of entries. */
export function writerMapSize(configured: number, size: number, pending: number): number {
  return Math.max(configured, pow2AtLeast((size + pending) * LMDB_WRITER_MAP_FACTOR));
}

/** One open environment (its unnamed database, the one Postfix uses). */
export interface LmdbEnv {
  db: RootDatabase<Buffer, Buffer>;
  mapSize: number;
  dev: number;
  ino: number;
}

/** Opens FILE with lmdb-js: read-only or writable, binary keys and values, no subdirectory. */
export function lmdbOpenEnv(file: string, readOnly: boolean, mapSize: number): LmdbEnv {
  const lmdb = loadLmdb();
  let db: RootDatabase<Buffer, Buffer>;
  try {
    db = lmdb.open<Buffer, Buffer>({
      path: file,
      noSubdir: true,
      readOnly,
      mapSize,
      keyEncoding: 'binary',
      encoding: 'binary',
      overlappingSync: false,
      cache: false,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EACCES' || /permission denied/i.test(e.message)
      ? `Permission denied (the reader must be able to write ${file}${LMDB_LOCK_SUFFIX}, LMDB's lock file)`
      : e.message;
    throw new DictOpenError(`open database ${file}: ${why}`);
  }
  const st = statSync(file);
  if (!readOnly) shareLockFile(file, st.mode);
  const env = { db, mapSize, dev: st.dev, ino: st.ino };
  const id = envId(env);
  const shared = openStores.get(id);
  if (shared) {
    shared.count++;
    shared.stores.push(db);
  } else {
    openStores.set(id, { count: 1, stores: [db] });
  }
  return env;
}

/**
 * lmdb-js shares one LMDB environment among all opens of a file in the
 * process, and closing any of them breaks the others' reads ("Invalid
 * argument"). So stores are closed only when the last user of the file
 * (device and inode) closes, all together.
 */
const openStores = new Map<string, { count: number; stores: Array<RootDatabase<Buffer, Buffer>> }>();

const envId = (env: { dev: number; ino: number }): string => `${env.dev}:${env.ino}`;

/** Releases an environment from lmdbOpenEnv(); really closes with its file's last user. */
export async function lmdbCloseEnv(env: LmdbEnv): Promise<void> {
  const id = envId(env);
  const shared = openStores.get(id);
  if (!shared) return;
  if (--shared.count > 0) return;
  openStores.delete(id);
  for (const store of shared.stores) await store.close();
}

/**
 * A writer makes LMDB's lock file writable by whoever may read the
 * table (every reader registers itself in it); errors are ignored.
 */
function shareLockFile(file: string, tableMode: number): void {
  const readBits = tableMode & 0o444;
  try {
    chmodSync(file + LMDB_LOCK_SUFFIX, (tableMode & 0o666) | (readBits >> 1));
  } catch {
    // not ours to change: readers then need write access some other way
  }
}

/** The LMDB error code carried by an lmdb-js exception, if any. */
export function lmdbErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Where LMDB 0.9 keeps things that lmdbSyncLockTxnid() reads: in the
 * data file, each of the two meta pages holds its page size (the free
 * DB's md_pad) and its transaction id; in the lock file, after the
 * magic, the format and the reader mutex (pthread_mutex_t: 40 bytes on
 * x86-64 glibc, 48 on arm64), the id of the newest committed transaction
 * that new readers start from.
 */
export const LMDB_LAYOUT = {
  metaPageSizeOffset: 40,
  metaTxnidOffset: 144,
  lockMagicOffset: 0,
  lockTxnidOffsetByArch: { x64: 48, arm64: 56 } as Readonly<Record<string, number>>,
} as const;

function readAt(fd: number, offset: number, length: number): Buffer | null {
  const b = Buffer.alloc(length);
  return readSync(fd, b, 0, length, offset) === length ? b : null;
}

/** The newest transaction id of the two meta pages, or null for an odd file. */
function newestTxnid(fd: number): bigint | null {
  const meta0 = readAt(fd, 0, LMDB_LAYOUT.metaTxnidOffset + 8);
  if (!meta0 || meta0.readUInt32LE(LMDB_HEADER.magicOffset) !== LMDB_HEADER.magic) return null;
  const psize = meta0.readUInt32LE(LMDB_LAYOUT.metaPageSizeOffset);
  const meta1 = readAt(fd, psize, LMDB_LAYOUT.metaTxnidOffset + 8);
  if (!meta1 || meta1.readUInt32LE(LMDB_HEADER.magicOffset) !== LMDB_HEADER.magic) return null;
  const t0 = meta0.readBigUInt64LE(LMDB_LAYOUT.metaTxnidOffset);
  const t1 = meta1.readBigUInt64LE(LMDB_LAYOUT.metaTxnidOffset);
  return t0 > t1 ? t0 : t1;
}

/**
 * Postfix writes its tables with MDB_NOLOCK: its commits never reach
 * LMDB's lock file, from which readers here take the newest transaction,
 * so a table changed by the real postmap would stay invisible to a
 * Postern reader that keeps it open. This compares the newest meta
 * page's transaction id with the lock file's and, when the file is
 * ahead, advances the lock file (what LMDB's own writer does at commit);
 * when the lock file is ahead of a file replaced under it, sets it back
 * to the file's newest transaction. Returns true when it changed it. Unknown CPU layouts and odd files: no change.
 */
export function lmdbSyncLockTxnid(file: string): boolean {
  const lockOffset = LMDB_LAYOUT.lockTxnidOffsetByArch[process.arch];
  if (lockOffset === undefined) return false;
  let dataFd = -1;
  let lockFd = -1;
  try {
    dataFd = openSync(file, 'r');
    const fd = dataFd;
    let newest = newestTxnid(fd);
    if (newest === null) return false;
    lockFd = openSync(file + LMDB_LOCK_SUFFIX, 'r+');
    const lock = readAt(lockFd, 0, lockOffset + 8);
    if (!lock || lock.readUInt32LE(LMDB_LAYOUT.lockMagicOffset) !== LMDB_HEADER.magic) return false;
    const current = lock.readBigUInt64LE(lockOffset);
    if (current === newest) return false;
    if (current > newest) {
      // Either a Postern writer is between its meta page and lock file
      // updates (look again), or the lock file outlived the data file it
      // was made for (a table replaced by another): then readers would
      // pick a meta page by the wrong transaction's parity.
      newest = newestTxnid(fd);
      if (newest === null || current <= newest) return false;
    }
    const out = Buffer.alloc(8);
    out.writeBigUInt64LE(newest);
    writeSync(lockFd, out, 0, 8, lockOffset);
    return true;
  } catch {
    return false;
  } finally {
    if (dataFd >= 0) closeSync(dataFd);
    if (lockFd >= 0) closeSync(lockFd);
  }
}
