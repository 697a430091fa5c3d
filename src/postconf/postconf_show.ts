/*
 * postconf_show - print main.cf parameters as postconf(1) does
 *
 * What it does: formatParamLine() normalises white space between words
 * and, with -f, folds lines longer than PCF_LINE_LIMIT with a
 * PCF_INDENT_LEN indent (Postfix pcf_print_line); showParameters() prints
 * all parameters sorted by name, or the named ones in the order given
 * ("name = value", the value alone with -h, the name alone with -H), with -d defaults, -n
 * settings only, -x expansion (raw parameters are never expanded).
 *
 * What it does not do: read files (postconf.ts builds the PcfParams) or
 * show master.cf (postconf_master.ts).
 *
 * DIAGNOSTICS
 * "name: unknown parameter" warning for a name postconf does not know.
 */
import { msgWarn } from '../util/msg.js';
import type { PcfParams } from './postconf_params.js';

/** Postfix's PCF_LINE_LIMIT: -f folds before a word that would reach it. */
export const PCF_LINE_LIMIT = 80;
/** Continuation indent with -f. */
export const PCF_INDENT_LEN = 4;
const PCF_INDENT_TEXT = ' '.repeat(PCF_INDENT_LEN);
const PCF_SEPARATORS = /[ \t\r\n]+/;

/** One output line (with its newline), white space normalised, optionally folded. */
export function formatParamLine(text: string, fold: boolean): string {
  let out = '';
  let lineLen = 0;
  for (const word of text.split(PCF_SEPARATORS)) {
    if (word.length === 0) continue;
    if (lineLen > 0) {
      if (!fold || lineLen + word.length < PCF_LINE_LIMIT) {
        out += ' ';
        lineLen += 1;
      } else {
        out += `\n${PCF_INDENT_TEXT}`;
        lineLen = PCF_INDENT_LEN;
      }
    }
    out += word;
    lineLen += word.length;
  }
  return `${out}\n`;
}

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
    out(formatParamLine(name, mode.fold));
    return;
  }
  const p = params.table.get(name);
  if (mode.expand && p && !p.raw) value = params.expand(value, { defaults: mode.defaults });
  out(formatParamLine(mode.hideNames ? value : `${name} = ${value}`, mode.fold));
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
