/*
 * postalias_query - postalias -q, -q -, -s, -d and -d - (Postfix postalias.c)
 *
 * What it does: the read and delete modes of postalias(1), over any
 * table type dictOpen() knows:
 * - postaliasQuery(): -q key against each table in turn; the first
 *   value found is printed alone on a line; true when found.
 * - postaliasQueries(): -q - reads keys from standard input, one per
 *   line, and prints "key:<TAB>value" for the first table that has it;
 *   tables are opened when first needed, as Postfix does.
 * - postaliasSequence(): -s prints every entry of ONE table as
 *   "key:<TAB>value" (Postfix stops after the first table named).
 * - postaliasDelete()/postaliasDeletes(): -d key / -d - remove one entry
 *   per table; true when something was removed.
 * Keys are looked up as typed; the table folds them per -f (its
 * DICT_FLAG_FOLD_FIX) and applies the UTF-8 checks per -u.
 *
 * What it does NOT do: build tables (postalias_build.ts) or search the
 * partial keys local(8) tries (the man page says so too).
 *
 * DIAGNOSTICS
 * Fatal, with Postfix's texts: a table that cannot be opened (the
 * table's own reason, e.g. "open database NAME.lmdb: No such file or
 * directory"), "table TYPE:NAME: query error: ..." (also sequence and
 * delete), "can't sequence maps via the proxy service", "table
 * TYPE:NAME: sequence operation is not supported", "SPEC map requires
 * O_RDONLY access mode". Warnings for empty keys and values as Postfix.
 */
import { existsSync } from 'node:fs';
import type { Dict, DictOpenMode } from '../global/dict_base.js';
import { dictOpenChecked, mkmapFiles } from '../global/mkmap.js';
import type { MailConfig } from '../global/mail_conf.js';
import { msgFatal, msgWarn } from '../util/msg.js';

/** Longest line taken from standard input for -q - and -d - (a bound, not a Postfix rule). */
export const STDIN_LINE_LIMIT = 1024 * 1024;

/** The lookup flags postalias passes to every table it opens. */
export interface PostaliasDictFlags {
  config: MailConfig;
  fold: boolean;
  utf8: boolean;
  try0Null: boolean;
  try1Null: boolean;
}

/** "type:name" split as Postfix's split_at(): at the first ':', else default_database_type. */
export function postaliasSplitSpec(spec: string, config: MailConfig): { type: string; name: string } {
  const colon = spec.indexOf(':');
  if (colon >= 0) return { type: spec.slice(0, colon), name: spec.slice(colon + 1) };
  return { type: config.get('default_database_type'), name: spec };
}

function openTable(spec: string, flags: PostaliasDictFlags, mode: DictOpenMode): Dict {
  const { type, name } = postaliasSplitSpec(spec, flags.config);
  const opened = dictOpenChecked(`${type}:${name}`, {
    config: flags.config,
    fold: flags.fold,
    utf8: flags.utf8,
    mode,
    dup: 'warn',
    try0Null: flags.try0Null,
    try1Null: flags.try1Null,
    bulk: false,
  });
  if ('error' in opened) return msgFatal(opened.error);
  return opened.dict;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function warnEmptyValue(dict: Dict, key: string): void {
  msgWarn(`table ${dict.spec}: key ${key}: empty string result is not allowed`);
  msgWarn(`table ${dict.spec} should return NO RESULT in case of NOT FOUND`);
}

async function lookupOrDie(dict: Dict, key: string): Promise<string | null> {
  try {
    return await dict.lookup(key);
  } catch (err) {
    return msgFatal(`table ${dict.spec}: query error: ${errorText(err)}`);
  }
}

function out(text: string): void {
  process.stdout.write(Buffer.from(text, 'latin1'));
}

/** Lines of standard input without their newline (vstring_get_nonl), as byte strings. */
export async function* stdinLines(input: NodeJS.ReadableStream = process.stdin): AsyncGenerator<string> {
  let pending = '';
  for await (const chunk of input) {
    pending += Buffer.isBuffer(chunk) ? chunk.toString('latin1') : String(chunk);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      yield pending.slice(0, nl);
      pending = pending.slice(nl + 1);
    }
    if (pending.length > STDIN_LINE_LIMIT) msgFatal(`stdin: line longer than ${STDIN_LINE_LIMIT} bytes`);
  }
  if (pending !== '') yield pending;
}

/** postalias -q key: the first table that has the key wins; true when found. */
export async function postaliasQuery(specs: readonly string[], key: string, flags: PostaliasDictFlags): Promise<boolean> {
  for (const spec of specs) {
    const dict = openTable(spec, flags, 'read');
    const value = await lookupOrDie(dict, key);
    if (value !== null) {
      if (value === '') warnEmptyValue(dict, key);
      out(`${value}\n`);
      await dict.close();
      return true;
    }
    await dict.close();
  }
  return false;
}

/** postalias -q -: keys from standard input; true when at least one was found. */
export async function postaliasQueries(
  specs: readonly string[],
  flags: PostaliasDictFlags,
  input: AsyncIterable<string> = stdinLines(),
): Promise<boolean> {
  const dicts: Array<Dict | null> = specs.map(() => null);
  let found = false;
  for await (const key of input) {
    for (let n = 0; n < specs.length; n++) {
      const dict = (dicts[n] ??= openTable(specs[n]!, flags, 'read'));
      const value = await lookupOrDie(dict, key);
      if (value !== null) {
        if (value === '') warnEmptyValue(dict, key);
        out(`${key}:\t${value}\n`);
        found = true;
        break;
      }
    }
  }
  for (const dict of dicts) if (dict) await dict.close();
  return found;
}

/** postalias -s: every entry of the first table named. */
export async function postaliasSequence(spec: string, flags: PostaliasDictFlags): Promise<void> {
  const { type } = postaliasSplitSpec(spec, flags.config);
  if (type === 'proxy') msgFatal("can't sequence maps via the proxy service");
  const dict = openTable(spec, flags, 'read');
  if (!dict.sequence) msgFatal(`table ${dict.spec}: sequence operation is not supported`);
  try {
    for await (const [key, value] of dict.sequence()) {
      if (key === '') {
        msgWarn(`table ${dict.spec}: empty lookup key value is not allowed`);
      } else if (value === '') {
        warnEmptyValue(dict, key);
      }
      out(`${key}:\t${value}\n`);
    }
  } catch (err) {
    msgFatal(`table ${dict.spec}: sequence error: ${errorText(err)}`);
  }
  await dict.close();
}

/**
 * A table opened for -d. Postfix opens it O_RDWR (O_RDWR|O_CREAT for
 * proxy:); LMDB then creates a missing file, so an indexed table that
 * does not exist yet is created empty here too.
 */
function openForDelete(spec: string, flags: PostaliasDictFlags): Dict {
  const { type, name } = postaliasSplitSpec(spec, flags.config);
  const files = mkmapFiles(type, name);
  const mode: DictOpenMode = files.length > 0 && !existsSync(files[0]!) ? 'create' : 'write';
  const dict = openTable(spec, flags, mode);
  if (!dict.delete) msgFatal(`${dict.spec} map requires O_RDONLY access mode`);
  return dict;
}

async function deleteOrDie(dict: Dict, key: string): Promise<boolean> {
  try {
    return await dict.delete!(key);
  } catch (err) {
    return msgFatal(`table ${dict.spec}: delete error: ${errorText(err)}`);
  }
}

async function closeOrDie(dict: Dict): Promise<void> {
  try {
    await dict.close();
  } catch (err) {
    msgFatal(`table ${dict.spec}: delete error: ${errorText(err)}`);
  }
}

/** postalias -d key: one entry removed from each table; true when any was there. */
export async function postaliasDelete(specs: readonly string[], key: string, flags: PostaliasDictFlags): Promise<boolean> {
  let found = false;
  for (const spec of specs) {
    const dict = openForDelete(spec, flags);
    if (await deleteOrDie(dict, key)) found = true;
    await closeOrDie(dict);
  }
  return found;
}

/** postalias -d -: keys from standard input, removed from every table. */
export async function postaliasDeletes(
  specs: readonly string[],
  flags: PostaliasDictFlags,
  input: AsyncIterable<string> = stdinLines(),
): Promise<boolean> {
  const dicts = specs.map((spec) => openForDelete(spec, flags));
  let found = false;
  for await (const key of input) {
    for (const dict of dicts) if (await deleteOrDie(dict, key)) found = true;
  }
  for (const dict of dicts) await closeOrDie(dict);
  return found;
}
