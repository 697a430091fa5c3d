/*
 * postconf_show - print main.cf parameters as postconf(1) does
 *
 * What it does: formatLine() normalises white space between words
 * and, with -f, folds lines longer than PCF_LINE_LIMIT with a
 * PCF_INDENT_LEN indent (Postfix pcf_print_line); showParameters() prints
 * all parameters sorted by name, or the named ones in the order given
 * ("name = value", the value alone with -h, the name alone with -H), with -d defaults, -n
 * settings only, -x expansion (raw parameters are never expanded), each
 * line through formatLine() (postconf_print.ts: -f folding).
 *
 * What it does not do: read files (postconf.ts builds the PcfParams) or
 * show master.cf (postconf_master.ts).
 *
 * DIAGNOSTICS
 * "name: unknown parameter" warning for a name postconf does not know.
 */
import { msgWarn } from '../util/msg.js';
import type { PcfParams } from './postconf_params.js';
import { formatLine } from './postconf_print.js';

export interface ShowMode {
  defaults: boolean;
  nonDefault: boolean;
  hideNames: boolean;
  expand: boolean;
  fold: boolean;
  hideValues?: boolean;
}

function printParameter(params: PcfParams, name: string, mode: ShowMode, out: (s: string) => void): void {
  let value = params.lookup(name, mode);
  if (value === undefined) return;
  if (mode.hideValues) {
    out(formatLine(name, mode.fold));
    return;
  }
  const p = params.table.get(name);
  if (mode.expand && p && !p.raw) value = params.expand(value, { defaults: mode.defaults });
  out(formatLine(mode.hideNames ? value : `${name} = ${value}`, mode.fold));
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** All parameters (sorted) when names is empty, else the named ones in order. */
export function showParameters(params: PcfParams, names: string[], mode: ShowMode, out: (s: string) => void): void {
  if (names.length === 0) {
    for (const name of [...params.table.keys()].sort(byteOrder)) printParameter(params, name, mode, out);
    return;
  }
  for (const name of names) {
    if (!params.table.has(name)) msgWarn(`${name}: unknown parameter`);
    else printParameter(params, name, mode, out);
  }
}
