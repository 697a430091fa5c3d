/*
 * postmap_query - postmap -q, -q -, -b/-h, -s and -d (Postfix postmap_query & co.)
 *
 * What it does: postmapQuery() looks one key up in one table and prints
 * the value; postmapQueries() reads keys from standard input (one per
 * line) and prints "key<TAB>value" for each key found in the first
 * table that has it, opening tables only when first needed; with -h/-b
 * it feeds standard input as a message through the MIME state machine
 * (MIME processing only with -m) and queries each logical header (-h)
 * and/or body line (-b), stopping after the primary headers when only
 * -h is given. postmapSequence() prints every entry of a table;
 * postmapDelete()/postmapDeletes() remove keys. With -F values are
 * base64-decoded. Any table type dictOpen() knows can be queried;
 * lookups use lookupSync() when the table offers it.
 *
 * What it does not do: build tables (postmap_build.ts) or make the
 * partial-key searches of access(5)/virtual(5) (a single query per key,
 * as postmap does).
 *
 * DIAGNOSTICS
 * Fatal "table TYPE:NAME: query error[: reason]", "... sequence error",
 * "... delete error", the table's open error (no surrogate: a command
 * reports it), "can't sequence maps via the proxy service", "TYPE:NAME
 * map requires O_RDONLY access mode", "message format error: TEXT";
 * warnings "table TYPE:NAME: key KEY: empty string result is not
 * allowed" / "table TYPE:NAME should return NO RESULT in case of NOT
 * FOUND", "table TYPE:NAME: empty lookup key value is not allowed",
 * "table TYPE:NAME: key KEY: malformed BASE64 value: VALUE".
 */
import { existsSync } from 'node:fs';
import { type Dict, DictError } from '../global/dict_base.js';
import { type DictOpenOptions } from '../global/dict.js';
import { mimeStateDetail, MimeState } from '../global/mime_state.js';
import { dictOpenChecked, dictRdonlyRefusal, mkmapFiles, mkmapSplitSpec } from '../global/mkmap.js';
import { REC_TYPE } from '../global/rec_type.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import type { PostmapFlags, PostmapOut } from './postmap.js';
import { postmapFromB64 } from './postmap_file.js';

type Mode = NonNullable<DictOpenOptions['mode']>;

/** Open a table as postmap does: default_database_type, no surrogate. */
function openMap(map: string, flags: PostmapFlags, mode: Mode): Dict {
  const { type, name } = mkmapSplitSpec(map, flags.config);
  const spec = `${type}:${name}`;
  const opened = dictOpenChecked(spec, {
    config: flags.config,
    fold: flags.fold,
    utf8: flags.utf8,
    mode,
    try0Null: flags.try0Null,
    try1Null: flags.try1Null,
  });
  if ('error' in opened) return msgFatal(opened.error);
  return opened.dict;
}

/** The errno text the real postmap prints after a fail: table's error. */
const FAIL_ERRNO_TEXT = 'Application error';

/** The text after "table TYPE:NAME: OP error" for a DictError. */
function errorText(spec: string, op: string, err: DictError): string {
  const prefix = `table ${spec}: ${op} error`;
  if (spec.startsWith('fail:')) return `${prefix}: ${FAIL_ERRNO_TEXT}`;
  if (err.message.startsWith(prefix) || err.message.startsWith(`table ${spec}:`)) return err.message;
  return `${prefix}: ${err.message}`;
}

function warnEmpty(spec: string, key: string): void {
  msgWarn(`table ${spec}: key ${key}: empty string result is not allowed`);
  msgWarn(`table ${spec} should return NO RESULT in case of NOT FOUND`);
}

/** One lookup as postmap makes it: with -F decoded; fatal on a table error. */
async function lookup(dict: Dict, key: string, flags: PostmapFlags): Promise<string | null> {
  let value: string | null;
  try {
    value = dict.lookupSync ? dict.lookupSync(key) : await dict.lookup(key);
  } catch (err) {
    if (err instanceof DictError) return msgFatal(errorText(dict.spec, 'query', err));
    throw err;
  }
  if (value === null || !flags.rhsIsFile) return value;
  const decoded = postmapFromB64(value);
  if ('error' in decoded) {
    msgWarn(`table ${dict.spec}: key ${key}: ${decoded.error}`);
    return msgFatal(`table ${dict.spec}: query error`);
  }
  return decoded.value;
}

/** postmap -q KEY on one table; true when found (the value is printed). */
export async function postmapQuery(map: string, key: string, flags: PostmapFlags, out: PostmapOut): Promise<boolean> {
  const dict = openMap(map, flags, 'read');
  const value = await lookup(dict, key, flags);
  if (value === null) return false;
  if (value === '') warnEmpty(dict.spec, key);
  out.write(`${value}\n`);
  return true;
}

/** Keys from stdin against the tables in order; true when any key was found. */
export async function postmapQueries(maps: readonly string[], flags: PostmapFlags, out: PostmapOut): Promise<boolean> {
  const dicts: Array<Dict | null> = maps.map(() => null);
  let found = false;
  const queryAll = async (key: string): Promise<void> => {
    for (let n = 0; n < maps.length; n++) {
      const dict = (dicts[n] ??= openMap(maps[n]!, flags, 'read'));
      const value = await lookup(dict, key, flags);
      if (value !== null) {
        if (value === '') warnEmpty(dict.spec, key);
        out.write(`${key}\t${value}\n`);
        found = true;
        return;
      }
    }
  };
  const input = flags.readStdin();
  const lines = input.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (!flags.header && !flags.body) {
    for (const key of lines) await queryAll(key);
  } else {
    let headerDone = false;
    const fullKey = flags.body || flags.mime;
    const mime = new MimeState({
      disableMime: !flags.mime,
      headerSizeLimit: flags.config.getInt('header_size_limit'),
      nestingLimit: flags.config.getInt('mime_nesting_limit'),
      boundaryLengthLimit: flags.config.getInt('mime_boundary_length_limit'),
    }, {
      header: async (_kind, text) => {
        if (flags.header) await queryAll(text);
      },
      headerEnd: async (kind) => {
        if (!fullKey && kind === 'primary') headerDone = true;
      },
      body: async (_type, text) => {
        if (flags.body) await queryAll(text);
      },
      bodyEnd: async () => {},
    });
    for (const line of lines) {
      if (headerDone || mime.errors !== 0) break;
      await mime.update(REC_TYPE.NORM, line);
    }
    if (mime.errors === 0) await mime.finish();
    if (mime.errors !== 0) msgFatal(`message format error: ${mimeStateDetail(mime.errors)?.text ?? 'unknown MIME error'}`);
  }
  for (const dict of dicts) if (dict) await dict.close();
  return found;
}

/** postmap -s: every entry of one table. */
export async function postmapSequence(map: string, flags: PostmapFlags, out: PostmapOut): Promise<void> {
  const { type } = mkmapSplitSpec(map, flags.config);
  if (type === 'proxy') msgFatal("can't sequence maps via the proxy service");
  const dict = openMap(map, flags, 'read');
  if (dict.type === 'fail') return msgFatal(`table ${dict.spec}: sequence error: ${FAIL_ERRNO_TEXT}`);
  if (!dict.sequence) return msgFatal(`table ${dict.spec}: sequence operation is not supported`);
  try {
    for await (const [key, raw] of dict.sequence()) {
      let value = raw;
      if (key === '') {
        msgWarn(`table ${dict.spec}: empty lookup key value is not allowed`);
      } else if (value === '') {
        warnEmpty(dict.spec, key);
      }
      if (flags.rhsIsFile) {
        const decoded = postmapFromB64(value);
        if ('error' in decoded) {
          msgWarn(`table ${dict.spec}: key ${key}: ${decoded.error}`);
          continue;
        }
        value = decoded.value;
      }
      out.write(`${key}\t${value}\n`);
    }
  } catch (err) {
    if (err instanceof DictError) msgFatal(errorText(dict.spec, 'sequence', err));
    throw err;
  }
  await dict.close();
}

/** A table opened for deletes: an indexed file that does not exist is created (O_RDWR on LMDB). */
function openForDelete(map: string, flags: PostmapFlags): Dict {
  const { type, name } = mkmapSplitSpec(map, flags.config);
  const refusal = dictRdonlyRefusal(type, name);
  if (refusal !== null) return msgFatal(refusal);
  const files = mkmapFiles(type, name);
  const mode: Mode = files.length > 0 && !existsSync(files[0]!) ? 'create' : 'write';
  const dict = openMap(map, flags, mode);
  if (dict.type === 'fail') return msgFatal(`table ${dict.spec}: delete error: ${FAIL_ERRNO_TEXT}`);
  if (!dict.delete) return msgFatal(`table ${dict.spec}: delete operation is not supported`);
  return dict;
}

async function deleteKey(dict: Dict, key: string): Promise<boolean> {
  try {
    return await dict.delete!(key);
  } catch (err) {
    if (err instanceof DictError) return msgFatal(errorText(dict.spec, 'delete', err));
    throw err;
  }
}

/** postmap -d KEY on one table; true when the key was there. */
export async function postmapDelete(map: string, key: string, flags: PostmapFlags): Promise<boolean> {
  const dict = openForDelete(map, flags);
  const found = await deleteKey(dict, key);
  await dict.close();
  return found;
}

/** postmap -d -: keys from stdin removed from every table; true when any was there. */
export async function postmapDeletes(maps: readonly string[], flags: PostmapFlags): Promise<boolean> {
  const dicts = maps.map((m) => openForDelete(m, flags));
  const lines = flags.readStdin().split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let found = false;
  for (const key of lines) {
    for (const dict of dicts) found = (await deleteKey(dict, key)) || found;
  }
  for (const dict of dicts) await dict.close();
  return found;
}
