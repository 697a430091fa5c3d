/*
 * postalias_build - create or update one alias database (Postfix postalias())
 *
 * What it does: postaliasBuild() reads an aliases(5) source (the file
 * named by the table, or standard input with -i), splits it into logical
 * lines as readllines() does (a line starting with white space continues
 * the previous one; '#' lines and blank lines are skipped), turns each
 * into a key and value (postalias_parse.ts) and stores them through
 * mkmapOpen(): a build empties the table inside one bulk transaction
 * that becomes visible at close(), -i keeps the existing entries. Then,
 * as Postfix does, it stores the Sendmail "@: @" entry that says the
 * database is complete (replacing an old one with -i), and, as Postfix
 * built on Linux does (HAS_NIS), the NIS entries YP_LAST_MODIFIED (the
 * time, "%010ld") and YP_MASTER_NAME ($myhostname), stored without a
 * terminating null byte and without case folding. Run as root, the
 * table is built as the source file's owner and a new file takes the
 * source's permission bits (mkmap.ts; -o and -p turn that off).
 *
 * What it does NOT do: query (postalias_query.ts) or take a lock
 * beyond the table's own write transaction. The NIS entries are written
 * in a second short transaction after the bulk one: readers may see the
 * complete table for a moment without them, which local(8) never asks.
 *
 * DIAGNOSTICS
 * Warnings "FILE, line N: need name:value pair", "FILE, line N: name
 * must be local", "FILE, line N: non-UTF-8 input ... -- ignoring this
 * line", "FILE: logical line must not start with whitespace: ...", and
 * the table's "TABLE: duplicate entry: "KEY"". Fatal: "can't create maps
 * via the proxy service", "open FILE: REASON", "fstat FILE: REASON",
 * the table's own update error (e.g. "error updating lmdb:NAME:
 * MDB_BAD_VALSIZE: ..." for a key LMDB cannot store), and "table
 * fail:NAME: write error: Application error" for the fail: table.
 */
import { fstatSync } from 'node:fs';
import type { Dict, DictDupMode } from '../global/dict_base.js';
import { dictOpenChecked, mkmapOpen, type Mkmap } from '../global/mkmap.js';
import { DICT_FILE_MAX_BYTES } from '../global/dict_file.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mkmapLogicalLines, mkmapReadSource } from '../global/mkmap_source.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { aliasEntry, aliasLineUtf8Ok, aliasNonUtf8Warning } from './postalias_parse.js';
import { postaliasSplitSpec } from './postalias_query.js';

/** The Sendmail signature that says the database is complete. */
export const ALIAS_SENDMAIL_SIGNATURE = { key: '@', value: '@' } as const;

/** The NIS entries Postfix adds on hosts with NIS support (Linux). */
export const ALIAS_NIS_KEYS = { LAST_MODIFIED: 'YP_LAST_MODIFIED', MASTER_NAME: 'YP_MASTER_NAME' } as const;

/** File descriptor of standard input. */
const STDIN_FD = 0;

export interface PostaliasBuildOptions {
  config: MailConfig;
  /** -i: entries from standard input, existing entries kept. */
  incremental: boolean;
  dup: DictDupMode;
  fold: boolean;
  /** UTF-8 requested (no -u); active when smtputf8_enable is on too. */
  utf8: boolean;
  try0Null: boolean;
  try1Null: boolean;
  /** false with -o. */
  asOwner: boolean;
  /** false with -p. */
  inheritMode: boolean;
}

/** Standard input to its end (a pipe or terminal may not be read synchronously), bounded. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), 'latin1');
    total += b.length;
    if (total > DICT_FILE_MAX_BYTES) msgFatal(`read stdin: input is larger than ${DICT_FILE_MAX_BYTES} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('latin1');
}

/** Standard input is read once; a second -i table gets no entries, as with Postfix. */
let stdinConsumed = false;

async function readSource(path: string, incremental: boolean): Promise<{ text: string; path: string; regular: boolean }> {
  if (incremental) {
    let regular = false;
    try {
      regular = fstatSync(STDIN_FD).isFile();
    } catch (err) {
      msgFatal(`fstat ${path}: ${strerror(err)}`);
    }
    const text = stdinConsumed ? '' : await readStdin();
    stdinConsumed = true;
    return { text, path: 'stdin', regular };
  }
  return { text: mkmapReadSource(path), path, regular: true };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * What Postfix's "%m" shows after a fail: table refuses an update (its
 * dict_fail sets an errno that strerror() calls this).
 */
export const FAIL_TABLE_WRITE_ERROR = 'Application error';

/**
 * A failed update. Postfix's indexed tables end the program themselves
 * with their own text ("error updating lmdb:NAME: ..."), which DictError
 * carries; the fail: table instead reports an error that postalias turns
 * into "table fail:NAME: write error: %m".
 */
async function appendOrDie(mkmap: Mkmap, key: string, value: string): Promise<void> {
  if (mkmap.dict.type === 'fail') msgFatal(`table ${mkmap.dict.spec}: write error: ${FAIL_TABLE_WRITE_ERROR}`);
  try {
    await mkmap.append(key, value);
  } catch (err) {
    msgFatal(errorText(err));
  }
}

/** The NIS time stamp: seconds since the epoch, zero-padded to ten digits ("%010ld"). */
export function nisTimeStamp(now: number = Date.now()): string {
  return String(Math.floor(now / 1000)).padStart(10, '0');
}

/** YP_LAST_MODIFIED and YP_MASTER_NAME: no null byte, no folding, replacing old ones. */
async function writeNisEntries(spec: string, opts: PostaliasBuildOptions): Promise<void> {
  const opened = dictOpenChecked(spec, {
    config: opts.config,
    fold: false,
    utf8: false,
    mode: 'write',
    dup: 'replace',
    try0Null: true,
    try1Null: false,
    bulk: true,
  });
  if ('error' in opened) return msgFatal(opened.error);
  const dict: Dict = opened.dict;
  if (!dict.update) return;
  try {
    await dict.update(ALIAS_NIS_KEYS.LAST_MODIFIED, nisTimeStamp());
    await dict.update(ALIAS_NIS_KEYS.MASTER_NAME, opts.config.get('myhostname'));
    await dict.close();
  } catch (err) {
    msgFatal(`table ${spec}: write error: ${errorText(err)}`);
  }
}

/** postalias [-i] [type:]file: build or update one alias database. */
export async function postaliasBuild(specArg: string, opts: PostaliasBuildOptions): Promise<void> {
  const { type, name } = postaliasSplitSpec(specArg, opts.config);
  const spec = `${type}:${name}`;
  if (!opts.incremental && type === 'proxy') msgFatal("can't create maps via the proxy service");
  const source = await readSource(name, opts.incremental);
  const mkmap = await mkmapOpen(spec, {
    config: opts.config,
    create: !opts.incremental,
    dup: opts.dup,
    try0Null: opts.try0Null,
    try1Null: opts.try1Null,
    fold: opts.fold,
    utf8: opts.utf8,
    sourcePath: source.regular ? (opts.incremental ? '/dev/stdin' : name) : undefined,
    asOwner: opts.asOwner,
    inheritMode: opts.inheritMode,
  });
  const utf8Active = opts.utf8 && opts.config.getBool('smtputf8_enable');
  for (const line of mkmapLogicalLines(source.text, source.path)) {
    if (!aliasLineUtf8Ok(line.text, utf8Active)) {
      msgWarn(`${source.path}, line ${line.line}: ${aliasNonUtf8Warning(line.text)}`);
      continue;
    }
    const r = aliasEntry(line.text);
    if (r.kind === 'empty') continue;
    if (r.kind === 'warning') {
      msgWarn(`${source.path}, line ${line.line}: ${r.text}`);
      continue;
    }
    await appendOrDie(mkmap, r.key, r.value);
  }
  // With -i an old signature is replaced (Postfix turns on DICT_FLAG_DUP_REPLACE).
  if (opts.incremental && mkmap.dict.delete) {
    try {
      await mkmap.dict.delete(ALIAS_SENDMAIL_SIGNATURE.key);
    } catch (err) {
      msgFatal(`table ${spec}: write error: ${errorText(err)}`);
    }
  }
  await appendOrDie(mkmap, ALIAS_SENDMAIL_SIGNATURE.key, ALIAS_SENDMAIL_SIGNATURE.value);
  try {
    await mkmap.close();
  } catch (err) {
    msgFatal(`table ${spec}: write error: ${errorText(err)}`);
  }
  await writeNisEntries(spec, opts);
}
