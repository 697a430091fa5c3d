/*
 * mkmap - open an indexed table for a bulk build (Postfix mkmap_open/mkmap_close)
 *
 * What it does: mkmapOpen() opens "type:name" for writing the way
 * postmap(1) and postalias(1) do: with create, the table is emptied
 * (O_CREAT|O_TRUNC) inside one bulk transaction that close() commits,
 * so readers see the old table until the new one is complete; without
 * create (postmap -i, -d) the existing entries are kept (a missing
 * indexed file is created, as Postfix's O_RDWR|O_CREAT does). Run as
 * root with a source file, the table is built with the source's owner
 * as effective uid/gid (Postfix's set_eugid in postmap/postalias) unless
 * asOwner is false (-o), and a newly created file gets the source's
 * permission bits (masked by the umask) unless inheritMode is false
 * (-p: default 0644). dictOpenChecked() opens any table without the
 * dict_surrogate stand-in: commands report an open failure fatally,
 * as Postfix does when dict_allow_surrogate is off.
 *
 * What it does not do: parse table source files (mkmap_source.ts) or
 * know any table type's file format (dict_lmdb.ts and friends).
 * Serialization of concurrent builders is the table's own: an LMDB
 * write transaction is exclusive, so no separate lock is taken.
 *
 * DIAGNOSTICS
 * mkmapOpen() ends the program with msgFatal() and the table's open
 * error text ("open database NAME.lmdb: ...") when the table cannot be
 * opened, or "unsupported dictionary type" / "... does not support
 * bulk-mode creation"-style text when the type cannot be written.
 */
import { chmodSync, existsSync, statSync } from 'node:fs';
import { dictOpen, type DictOpenOptions } from './dict.js';
import type { Dict, DictDupMode } from './dict_base.js';
import type { MailConfig } from './mail_conf.js';
import { msgFatal, msgSetSinks, msgSinks, stderrMsgSink, type MsgSink } from '../util/msg.js';

/** Permission bits of a new table when the source's are not inherited (postmap -p). */
export const MKMAP_DEFAULT_MODE = 0o644;

/** Table types whose files postmap/postalias build (all stored as lmdb). */
export const MKMAP_INDEXED_TYPES: ReadonlySet<string> = new Set(['lmdb', 'hash', 'btree']);

/** One table opened for a build. */
export interface Mkmap {
  dict: Dict;
  /** Add one entry (dup handling per the open options); rejects with DictError. */
  append(key: string, value: string): Promise<void>;
  /** Commit the build, fix the new file's mode, give back privileges. */
  close(): Promise<void>;
}

export interface MkmapOpenOptions {
  config: MailConfig;
  /** true: empty the table first (a build); false: keep existing entries (-i, -d). */
  create: boolean;
  dup: DictDupMode;
  try0Null: boolean;
  try1Null: boolean;
  fold: boolean;
  /** The source file: its owner and mode are given to the table. */
  sourcePath?: string;
  /** Default true: when root, build as the source's owner (false = postmap -o). */
  asOwner?: boolean;
  /** Default true: a new file gets the source's mode bits (false = postmap -p). */
  inheritMode?: boolean;
  /** Default: same as fold (see dict.ts). */
  utf8?: boolean;
}

/** Table types Postern knows (dict.ts) that cannot be built by postmap/postalias. */
const MKMAP_KNOWN_TYPES: ReadonlySet<string> = new Set([
  'inline', 'static', 'fail', 'texthash', 'regexp', 'pcre', 'cidr', 'environ', 'unix', 'nis',
  'unionmap', 'pipemap', 'randmap', 'sqlite', 'pgsql', 'mysql', 'ldap', 'memcache', 'tcp',
  'socketmap', 'proxy',
]);

/** Types Postern refuses altogether (see DICT_TYPES_REFUSED in dict.ts). */
const MKMAP_REFUSED_TYPES: ReadonlySet<string> = new Set(['cdb', 'dbm', 'sdbm', 'nisplus', 'netinfo']);

/**
 * Postfix mkmap_open()'s refusal text for a type that cannot be built,
 * or null when it can (lmdb, hash, btree; fail builds and then fails).
 */
export function mkmapTypeRefusal(type: string): string | null {
  if (MKMAP_INDEXED_TYPES.has(type) || type === 'fail') return null;
  if (MKMAP_KNOWN_TYPES.has(type)) return `unsupported dictionary type: ${type} does not support bulk-mode creation.`;
  if (MKMAP_REFUSED_TYPES.has(type)) return `unsupported dictionary type: ${type}: Postern stores indexed tables as lmdb: (use lmdb:)`;
  return `unsupported dictionary type: ${type}. Is the postfix-${type} package installed?`;
}

/** Types Postfix opens only read-only: O_RDWR gives "TYPE:NAME map requires O_RDONLY access mode". */
export const DICT_RDONLY_TYPES: ReadonlySet<string> = new Set([
  'inline', 'texthash', 'regexp', 'pcre', 'cidr', 'unix', 'nis', 'unionmap', 'pipemap', 'randmap',
  'sqlite', 'pgsql', 'mysql', 'ldap', 'tcp', 'socketmap',
]);

/** Postfix's refusal of a write open (postmap -d, postalias -d) for a read-only type, or null. */
export function dictRdonlyRefusal(type: string, name: string): string | null {
  return DICT_RDONLY_TYPES.has(type) ? `${type}:${name} map requires O_RDONLY access mode` : null;
}

/** The file(s) a table type keeps on disk for name, or [] when unknown. */
export function mkmapFiles(type: string, name: string): string[] {
  return MKMAP_INDEXED_TYPES.has(type) ? [`${name}.lmdb`, `${name}.lmdb-lock`] : [];
}

/** Split "type:name", with default_database_type when there is no type. */
export function mkmapSplitSpec(spec: string, config: MailConfig): { type: string; name: string } {
  // Postfix's split_at(): the first ':' separates the type.
  const colon = spec.indexOf(':');
  if (colon >= 0) return { type: spec.slice(0, colon), name: spec.slice(colon + 1) };
  return { type: config.get('default_database_type'), name: spec };
}

/**
 * dictOpen() without the surrogate: { dict } or { error: reason }.
 * The warning dictOpen() would log for an unopenable table is swallowed
 * and handed back as the reason instead.
 */
export function dictOpenChecked(spec: string, opts: DictOpenOptions): { dict: Dict } | { error: string } {
  const saved = [...msgSinks()];
  const marker = `${spec} is unavailable. `;
  let reason: string | null = null;
  const forward: MsgSink[] = saved;
  const capture: MsgSink = {
    write(severity, text) {
      if (reason === null && severity === 'warning' && text.startsWith(marker)) {
        reason = text.slice(marker.length);
        return;
      }
      for (const s of forward.length > 0 ? forward : [stderrMsgSink()]) s.write(severity, text);
    },
  };
  msgSetSinks([capture]);
  let dict: Dict;
  try {
    dict = dictOpen(spec, opts);
  } finally {
    msgSetSinks(saved);
  }
  if (reason !== null) return { error: reason };
  return { dict };
}

interface SavedIds { uid: number; gid: number }

function becomeOwner(sourcePath: string | undefined, asOwner: boolean): SavedIds | null {
  if (!asOwner || sourcePath === undefined) return null;
  if (typeof process.geteuid !== 'function' || process.getuid!() !== 0) return null;
  let st;
  try {
    st = statSync(sourcePath);
  } catch {
    return null;
  }
  const saved = { uid: process.geteuid(), gid: process.getegid!() };
  if (st.uid === saved.uid && st.gid === saved.gid) return null;
  if (saved.uid !== 0) process.seteuid!(0);
  process.setegid!(st.gid);
  process.seteuid!(st.uid);
  return saved;
}

function restoreIds(saved: SavedIds | null): void {
  if (!saved) return;
  process.seteuid!(0);
  process.setegid!(saved.gid);
  process.seteuid!(saved.uid);
}

/** Postfix mkmap_open(): a table opened for a bulk build or an incremental change. */
export async function mkmapOpen(spec: string, opts: MkmapOpenOptions): Promise<Mkmap> {
  const { type, name } = mkmapSplitSpec(spec, opts.config);
  const full = `${type}:${name}`;
  const files = mkmapFiles(type, name);
  const existed = files.map((f) => existsSync(f));
  // Postfix: umask(022), or with the source's bits umask(022 | (~mode & 077)).
  let mask = process.umask();
  if (opts.inheritMode !== false && opts.sourcePath !== undefined) {
    try {
      const st = statSync(opts.sourcePath);
      if (st.isFile()) mask = 0o022 | (~st.mode & 0o077);
    } catch {
      // The caller reports an unreadable source itself.
    }
  }
  const mode = MKMAP_DEFAULT_MODE & ~mask;
  const refusal = mkmapTypeRefusal(type);
  if (refusal !== null) return msgFatal(refusal);
  const saved = becomeOwner(opts.sourcePath, opts.asOwner !== false);
  const savedMask = process.umask(mask);
  // A missing indexed file is created even in incremental mode (O_RDWR|O_CREAT).
  const create = opts.create || (files.length > 0 && !existed[0]);
  const opened = dictOpenChecked(full, {
    config: opts.config,
    fold: opts.fold,
    utf8: opts.utf8,
    mode: create ? 'create' : 'write',
    dup: opts.dup,
    try0Null: opts.try0Null,
    try1Null: opts.try1Null,
    bulk: true,
  });
  process.umask(savedMask);
  if ('error' in opened) {
    restoreIds(saved);
    return msgFatal(opened.error);
  }
  const dict = opened.dict;
  const update = dict.update
    ? dict.update.bind(dict)
    : async (): Promise<void> => msgFatal(`${full}: update failed`);
  let closed = false;
  return {
    dict,
    append: (key, value) => update(key, value),
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await dict.close();
        files.forEach((f, i) => {
          if (existed[i] || !existsSync(f)) return;
          try {
            chmodSync(f, mode);
          } catch {
            // Not the file's owner: leave the mode LMDB gave it.
          }
        });
      } finally {
        restoreIds(saved);
      }
    },
  };
}
