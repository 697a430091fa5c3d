/*
 * postconf - Postfix configuration utility (main.cf part)
 *
 * SYNOPSIS
 *   postconf [-dfhHnx] [-c config_dir] [-o name=value] [name ...]
 *   postconf -e [-c config_dir] name=value ...
 *   postconf -X | -# [-c config_dir] name ...
 *   postconf -M | -F | -P ... (master.cf; see postconf_master.ts)
 *
 * What it does: prints main.cf parameters as Postfix 3.7's postconf does,
 * byte for byte: every parameter sorted by name (built-in, per-service
 * names from master.cf, user-defined names), or the named ones; -d shows
 * defaults, -n only main.cf settings, -h values only, -x expands $name,
 * -f folds long lines, -o overrides a setting for this run. -e, -X and
 * -# edit main.cf in place, keeping comments and order. Afterwards it
 * warns about main.cf and master.cf settings no program uses, and about
 * unknown settings in legacy database client files (ldap:/path.cf).
 *
 * What it does not do: -a -A -b -C -l -m -t -T (rejected with a
 * fatal error), or repeat warnings as often as Postfix does when it
 * re-reads a main.cf younger than a second (it repeats them once).
 *
 * CONFIGURATION PARAMETERS
 *   config_directory (from -c or MAIL_CONFIG), and every parameter it shows.
 *
 * DIAGNOSTICS
 * Fatal (exit 1): usage errors, unreadable main.cf ("open
 * /etc/postfix/main.cf: No such file or directory"), a main.cf syntax
 * error ("/etc/postfix/main.cf, line 3: missing '=' after attribute
 * name: ..."), a $name syntax error with -x. Warnings: unknown parameter
 * names on the command line, unused or undefined parameters in main.cf,
 * a missing master.cf.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN_CONF_FILE, MainCfError, parseMainCf, type MainCfEntry } from '../global/mail_conf.js';
import { MainCfEditError, MainCfIoError, editMainCf, type EditMode } from '../global/mail_conf_edit.js';
import { MASTER_CF_FILE, MasterCfError, parseMasterCf } from '../global/master_cf.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgInit, msgSetVerbose, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { parsePostconfArgs, type PostconfOptions } from './postconf_options.js';
import { PcfParams, type PcfService } from './postconf_params.js';
import { showParameters } from './postconf_show.js';

/** Reads main.cf as postconf does: a missing file is fatal. */
export function readMainCfEntries(configDir: string): MainCfEntry[] {
  const file = join(configDir, MAIN_CONF_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return msgFatal(`open ${file}: ${strerror(err)}`);
  }
  try {
    const parsed = parseMainCf(text, file);
    for (const w of parsed.warnings) msgWarn(w);
    return parsed.entries;
  } catch (err) {
    if (err instanceof MainCfError) return msgFatal(err.message);
    throw err;
  }
}

/** master.cf services for parameter names; a missing file is only a warning. */
export function readServices(configDir: string): PcfService[] {
  const file = join(configDir, MASTER_CF_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    msgWarn(`open ${file}: ${strerror(err)}`);
    return [];
  }
  try {
    return parseMasterCf(text, file).map((e) => ({ service: e.service, command: e.command, overrides: e.overrides }));
  } catch (err) {
    if (err instanceof MasterCfError) return msgFatal(err.postconfText);
    throw err;
  }
}

/** Postfix re-reads a file modified less than this many seconds ago (dict_load_file_xt). */
const COOL_DOWN_SECONDS = 1;

/**
 * Postfix reads main.cf again, into the dictionary it already filled,
 * while the file is younger than COOL_DOWN_SECONDS ("pausing to let it
 * cool down"), so a fresh file's duplicate settings are also reported
 * against their first line. Repeat those warnings once (without the pause).
 */
function rereadWarnings(configDir: string, entries: MainCfEntry[]): void {
  const file = join(configDir, MAIN_CONF_FILE);
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
  if (![...counts.values()].some((n) => n > 1)) return;
  try {
    const st = statSync(file);
    if (st.mtimeMs / 1000 < Date.now() / 1000 - COOL_DOWN_SECONDS - 1) return;
    const names = new Map(entries.map((e) => [e.name, e.value] as [string, string]));
    for (const w of parseMainCf(readFileSync(file, 'utf8'), file, names).warnings) {
      if (w.includes(': overriding earlier entry: ')) msgWarn(w);
    }
  } catch {
    // Already reported by the first read.
  }
}

function editMode(opts: PostconfOptions): EditMode {
  if (opts.edit) return 'edit';
  if (opts.remove) return 'remove';
  return 'comment';
}

export async function main(argv: string[]): Promise<number> {
  msgInit('postconf');
  const opts = parsePostconfArgs(argv);
  msgSetVerbose(opts.verbose);
  let output = '';
  const out = (s: string) => {
    output += s;
  };
  try {
    if (opts.master || opts.masterFields || opts.masterParams) {
      // Loaded on demand: the main.cf modes do not depend on the master.cf code.
      const { runMasterModes } = await import('./postconf_master.js');
      return runMasterModes(opts, out);
    }
    if (opts.edit || opts.remove || opts.comment) {
      if (opts.args.length === 0) msgFatal('missing service argument');
      const path = join(opts.configDir, MAIN_CONF_FILE);
      try {
        for (const w of editMainCf(path, editMode(opts), opts.args)) msgWarn(w);
      } catch (err) {
        if (err instanceof MainCfEditError) msgFatal(err.message);
        if (err instanceof MainCfIoError) msgFatal(`${err.what}: ${strerror(err.cause)}`);
        throw err;
      }
      return 0;
    }
    let entries: MainCfEntry[] | null = null;
    if (!opts.defaults) {
      entries = readMainCfEntries(opts.configDir);
    }
    const services = readServices(opts.configDir);
    const params = new PcfParams(opts.configDir, entries, opts.defaults ? {} : opts.overrides, services);
    if (entries !== null) rereadWarnings(opts.configDir, entries);
    if (!opts.defaults) {
      params.dropReadonly();
      params.registerUserParameters(MASTER_CF_FILE);
      params.failOnBadValue();
    }
    showParameters(params, opts.args, opts, out);
    if (!opts.defaults && !opts.quiet) {
      params.flagUnusedMain();
      params.flagUnusedMaster(MASTER_CF_FILE);
    }
    return 0;
  } finally {
    if (output !== '') process.stdout.write(output);
  }
}

if (isMainModule(import.meta.url)) runMain(main);
