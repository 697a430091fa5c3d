/*
 * postconf_master - postconf's master.cf modes: -M, -F, -P and their edits
 *
 * What it does: runMasterModes() shows master.cf entries (-M, with
 * name[/type] selections, -f folding, -x expansion of -o values), their
 * fields (-F, "name/type/field = value", with name[/type[/field]]
 * selections and '*' wild cards) and their -o parameters (-P, sorted per
 * service), or hands -Me/-MX/-M#, -Fe and -Pe/-PX to the editor
 * (postconf_master_edit.ts). After showing, it warns about unused -o
 * parameters as postconf does. Output is byte for byte Postfix 3.7's.
 *
 * What it does not do: parse postconf's command line or check option
 * compatibility (postconf_options.ts), or show main.cf.
 *
 * DIAGNOSTICS
 * Fatal, with postconf's texts: a missing or malformed master.cf, a bad
 * pattern ("-M option requires service_name[/type]"). Warnings: a pattern
 * that matched nothing ("unmatched request: ..."), "-o" settings that no
 * program uses ("/etc/postfix/master.cf: unused parameter: name=value").
 */
import { closeSync, openSync } from 'node:fs';
import { MAIN_CONF_FILE } from '../global/mail_conf.js';
import { MASTER_CF_FILE, MASTER_FIELD } from '../global/master_cf.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { editMaster } from './postconf_master_edit.js';
import {
  PCF_FIELD_WILDCARD,
  PCF_MATCH_ANY,
  errnoText,
  matchServicePattern,
  parseFieldPattern,
  parseServicePattern,
  readPcfMaster,
  type PcfMasterEnt,
} from './postconf_master_ent.js';
import { formatMasterEntry, formatMasterField, formatMasterParam, type PrintMode } from './postconf_master_print.js';
import { masterExpander, scanMasterParameters } from './postconf_master_params.js';
import type { PostconfOptions } from './postconf_options.js';

type Out = (s: string) => void;

interface Request {
  raw: string;
  pattern: string[];
  matches: number;
}

function parseRequests(args: readonly string[], min: number, max: number, usage: string): Request[] {
  return args.map((raw) => {
    const pattern = parseServicePattern(raw, min, max);
    if (pattern === null) msgFatal(usage);
    return { raw, pattern, matches: 0 };
  });
}

function warnUnmatched(reqs: readonly Request[]): void {
  for (const r of reqs) if (r.matches === 0) msgWarn(`unmatched request: "${r.raw}"`);
}

/** Runs the entry/field/parameter selection for each entry, in file order. */
function forEachMatch(
  entries: readonly PcfMasterEnt[],
  reqs: Request[],
  show: (e: PcfMasterEnt, req: Request | null) => void,
): void {
  for (const e of entries) {
    if (reqs.length === 0) {
      show(e, null);
      continue;
    }
    for (const req of reqs) {
      if (matchServicePattern(req.pattern, e.argv[0], e.argv[1])) show(e, req);
    }
  }
}

function showEntries(entries: readonly PcfMasterEnt[], args: readonly string[], mode: PrintModeFor, out: Out): void {
  const reqs = parseRequests(args, 1, 2, '-M option requires service_name[/type]');
  forEachMatch(entries, reqs, (e, req) => {
    if (req) req.matches++;
    out(formatMasterEntry(e.argv, mode(e)));
  });
  warnUnmatched(reqs);
}

function showFields(entries: readonly PcfMasterEnt[], args: readonly string[], mode: PrintModeFor, out: Out): void {
  const reqs = parseRequests(args, 1, 3, '-F option requires service_name[/type[/field]]');
  const fields = reqs.map((r) => parseFieldPattern(r.pattern[2]));
  const all = (e: PcfMasterEnt): void => {
    for (let f = 0; f <= MASTER_FIELD.CMD; f++) out(formatMasterField(e.argv, f, mode(e)));
  };
  forEachMatch(entries, reqs, (e, req) => {
    if (!req) return all(e);
    req.matches++;
    const field = fields[reqs.indexOf(req)];
    if (field === PCF_FIELD_WILDCARD) all(e);
    else out(formatMasterField(e.argv, field, mode(e)));
  });
  warnUnmatched(reqs);
}

function showAllParams(e: PcfMasterEnt, dict: Map<string, string>, mode: PrintMode, out: Out): void {
  const names = [...dict.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) out(formatMasterParam(e.nameSpace, name, dict.get(name) as string, mode));
}

function showParams(entries: readonly PcfMasterEnt[], args: readonly string[], mode: PrintModeFor, out: Out): void {
  const reqs = parseRequests(args, 1, 3, '-P option requires service_name[/type[/parameter]]');
  for (const e of entries) {
    const dict = e.allParams;
    if (dict === null) continue;
    if (reqs.length === 0) {
      showAllParams(e, dict, mode(e), out);
      continue;
    }
    for (const req of reqs) {
      if (!matchServicePattern(req.pattern, e.argv[0], e.argv[1])) continue;
      const param = req.pattern[2];
      if (param === PCF_MATCH_ANY) {
        showAllParams(e, dict, mode(e), out);
        req.matches++;
      } else if (dict.has(param)) {
        out(formatMasterParam(e.nameSpace, param, dict.get(param) as string, mode(e)));
        req.matches++;
      }
    }
  }
  warnUnmatched(reqs);
}

type PrintModeFor = (e: PcfMasterEnt) => PrintMode;

/** postconf's display modes read main.cf and, unlike daemons, insist that it exists. */
function requireMainCf(configDir: string): void {
  const path = `${configDir}/${MAIN_CONF_FILE}`;
  try {
    closeSync(openSync(path, 'r'));
  } catch (e) {
    msgFatal(`open ${path}: ${errnoText(e)}`);
  }
}

/** Entry point from postconf.ts for -M, -F and -P (with or without -e/-X/-#). */
export function runMasterModes(opts: PostconfOptions, out: Out): number {
  if (opts.edit || opts.remove || opts.comment) {
    if (opts.args.length === 0) msgFatal('missing service argument');
    editMaster(opts, opts.args);
    return 0;
  }
  const entries = readPcfMaster(opts.configDir);
  requireMainCf(opts.configDir);
  const unused = scanMasterParameters(opts, entries);
  const expander = opts.expand ? masterExpander(opts) : null;
  const mode: PrintModeFor = (e) => ({
    fold: opts.fold,
    hideName: opts.hideNames,
    hideValue: opts.hideValues,
    expand: expander ? (v: string) => expander(e, v) : undefined,
  });
  if (opts.masterFields) showFields(entries, opts.args, mode, out);
  else if (opts.masterParams) showParams(entries, opts.args, mode, out);
  else showEntries(entries, opts.args, mode, out);
  if (!opts.quiet) {
    const dir = opts.configDir;
    for (const w of unused) {
      msgWarn(`${dir}/${MASTER_CF_FILE}: unused parameter: ${w.name}=${w.value}`);
    }
  }
  return 0;
}
