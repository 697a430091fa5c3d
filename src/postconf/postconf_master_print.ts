/*
 * postconf_master_print - postconf's layout of master.cf entries, fields and parameters
 *
 * What it does: formats a normalized entry the way postconf -M prints it
 * (columns at Postfix's preferred positions, each "-o name=value" on a line
 * of its own when folding, "{...}" around values with blanks), one field
 * the way -F prints "name/type/field = value", and one parameter line the
 * way -P prints "name/type/param = value" (white space normalized, folded
 * at PCF_LINE_LIMIT with -f). Output is byte for byte Postfix 3.7's.
 *
 * What it does not do: select entries, expand $name (the caller passes an
 * expander for -x), or write anything (functions return strings).
 *
 * DIAGNOSTICS
 * None: input is already checked.
 */
import { MASTER_FIELD, MASTER_FIELD_NAMES, MASTER_MIN_FIELDS } from '../global/master_cf.js';
import { PCF_NAMESP_SEP, expectsValue, hasBlank } from './postconf_master_ent.js';
import { PCF_INDENT_LEN, PCF_INDENT_TEXT, PCF_LINE_LIMIT, formatLine } from './postconf_print.js';

/** Preferred start column of each of the eight master.cf columns. */
export const PCF_COLUMN_GOAL = [0, 11, 17, 25, 33, 41, 49, 57] as const;

export interface PrintMode {
  fold: boolean;
  /** Expands $name in a "-o name=value" word (postconf -x), or undefined. */
  expand?: (value: string) => string;
  hideName?: boolean;
  /** postconf -H: the name ("service/type/field" or "service/type/param") without a value. */
  hideValue?: boolean;
}

/** A line being built, with its current length as Postfix counts it. */
class LineBuilder {
  text = '';
  len = 0;
  add(s: string): void {
    this.text += s;
    this.len += s.length;
  }
  wrap(): void {
    this.text += `\n${PCF_INDENT_TEXT}`;
    this.len = PCF_INDENT_LEN;
  }
}

/**
 * The daemon arguments after the command (shared by -M and -F).
 * valueExtra is what an option and its value add besides their own
 * lengths: 3 in -M, 1 in -F (Postfix's counts).
 */
function appendArgs(b: LineBuilder, argv: readonly string[], mode: PrintMode, valueExtra: number): void {
  let inOptions = true;
  for (let field = MASTER_MIN_FIELDS; field < argv.length; field++) {
    const arg = argv[field];
    let argLen = arg.length;
    let value: string | undefined;
    let needBraces = false;
    if (inOptions) {
      if (arg[0] !== '-' || arg === '--') {
        inOptions = false;
      } else if (expectsValue(arg) && field + 1 < argv.length) {
        value = argv[field + 1];
        b.len = PCF_LINE_LIMIT; // an option with a value starts a new line
        if (arg === '-o' && mode.expand) value = mode.expand(value);
        argLen += value.length + valueExtra;
        needBraces = hasBlank(value);
        if (needBraces) argLen += 2;
      }
    } else {
      needBraces = hasBlank(arg);
    }
    if (b.len > PCF_INDENT_LEN) {
      if (!mode.fold || b.len + 1 + argLen < PCF_LINE_LIMIT) b.add(' ');
      else b.wrap();
    }
    const braceArg = !inOptions && needBraces;
    b.add(braceArg ? `{${arg}}` : arg);
    if (value !== undefined) {
      b.add(' ');
      b.add(needBraces ? `{${value}}` : value);
      field += 1;
      b.len = PCF_LINE_LIMIT; // and the next item starts a new line too
    }
  }
}

/** pcf_print_master_entry(): one entry, newline-terminated. */
export function formatMasterEntry(argv: readonly string[], mode: PrintMode): string {
  const b = new LineBuilder();
  for (let field = 0; field < MASTER_MIN_FIELDS; field++) {
    if (b.len > 0) {
      do b.add(' ');
      while (b.len < PCF_COLUMN_GOAL[field]);
    }
    b.add(argv[field] ?? '');
  }
  appendArgs(b, argv, mode, 3);
  return `${b.text}\n`;
}

/** pcf_print_master_field(): "name/type/field = value" (just the name with -H), newline-terminated. */
export function formatMasterField(argv: readonly string[], field: number, mode: PrintMode): string {
  if (mode.hideValue) return `${argv[0]}${PCF_NAMESP_SEP}${argv[1]}${PCF_NAMESP_SEP}${MASTER_FIELD_NAMES[field]}\n`;
  const b = new LineBuilder();
  const value = argv[field] ?? '';
  if (!mode.hideName) {
    b.add(`${argv[0]}${PCF_NAMESP_SEP}${argv[1]}${PCF_NAMESP_SEP}${MASTER_FIELD_NAMES[field]} = `);
    if (b.len + value.length > PCF_LINE_LIMIT) b.wrap();
  }
  b.add(value);
  if (field === MASTER_FIELD.CMD) appendArgs(b, argv, mode, 1);
  return `${b.text}\n`;
}

/** pcf_print_master_param(): "name/type/param = value", just the value with -h, just the name with -H. */
export function formatMasterParam(nameSpace: string, name: string, value: string, mode: PrintMode): string {
  if (mode.hideValue) return formatLine(`${nameSpace}${PCF_NAMESP_SEP}${name}`, mode.fold);
  const v = mode.expand ? mode.expand(value) : value;
  return mode.hideName ? formatLine(v, mode.fold) : formatLine(`${nameSpace}${PCF_NAMESP_SEP}${name} = ${v}`, mode.fold);
}
