/*
 * mail_conf_edit - rewrite main.cf for postconf -e, -X and -# (Postfix pcf_edit_main)
 *
 * What it does: editMainCfText() copies main.cf text while replacing
 * (-e), removing (-X) or commenting out (-#) the logical lines of the
 * named parameters, keeping every other line, comment and blank line as
 * it was; -e appends settings that were not found, sorted by name.
 * editMainCf() does that to a file atomically (write a temporary file in
 * the same directory, fsync, rename).
 *
 * What it does not do: check that names are known parameters (postconf
 * does not either), or edit master.cf (master_cf_edit.ts).
 *
 * DIAGNOSTICS
 * Bad requests throw MainCfEditError with Postfix's texts ("-e, -X, or -#
 * accepts no multi-line input", "missing '=' after attribute name: ...").
 * Duplicate requests and duplicate main.cf entries produce warnings
 * ("ignoring earlier request", "multiple entries for").
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { splitNameval } from './mail_conf.js';

export type EditMode = 'edit' | 'remove' | 'comment';

export class MainCfEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MainCfEditError';
  }
}

/** The suffix of the temporary file beside main.cf (Postfix EDIT_FILE_SUFFIX). */
export const EDIT_FILE_SUFFIX = '.tmp';

interface Request {
  value: string | undefined;
  found: number;
}

/** Parses the command-line requests into name → value (undefined for -X/-#). */
export function parseEditRequests(mode: EditMode, args: string[], warnings: string[]): Map<string, Request> {
  const table = new Map<string, Request>();
  for (const arg of args) {
    if (arg.includes('\n')) throw new MainCfEditError('-e, -X, or -# accepts no multi-line input');
    const cp = arg.replace(/^[ \t\r\n\v\f]+/, '');
    if (cp.startsWith('#')) throw new MainCfEditError('-e, -X, or -# accepts no comment input');
    let name: string;
    let value: string | undefined;
    if (mode === 'edit') {
      const r = splitNameval(cp);
      if ('error' in r) throw new MainCfEditError(`${r.error}: "${cp}"`);
      name = r.name;
      value = r.value;
    } else {
      if (cp === '') throw new MainCfEditError('-X or -# requires non-blank parameter names');
      if (cp.includes('=')) throw new MainCfEditError('-X or -# requires parameter names without value');
      name = cp.replace(/[ \t\r\n\v\f]+$/, '');
      value = undefined;
    }
    const earlier = table.get(name);
    if (earlier) {
      warnings.push(`ignoring earlier request: '${name} = ${earlier.value ?? '(null)'}'`);
      table.delete(name);
    }
    table.set(name, { value, found: 0 });
  }
  return table;
}

/** The edit itself, on text. path is only used in warnings. */
export function editMainCfText(
  text: string,
  path: string,
  mode: EditMode,
  args: string[],
): { text: string; warnings: string[] } {
  const warnings: string[] = [];
  const table = parseEditRequests(mode, args, warnings);
  const lines = text.split('\n');
  const hasFinalNewline = lines.length > 0 && lines[lines.length - 1] === '';
  if (hasFinalNewline) lines.pop();
  let out = '';
  let interesting = false;
  for (const line0 of lines) {
    const line = `${line0}\n`;
    const body = line0.replace(/^[ \t\r\n\v\f]+/, '');
    if (body === '' || body.startsWith('#')) {
      out += line;
      continue;
    }
    if (body !== line0) {
      if (!interesting) out += line;
      else if (mode === 'comment') out += `#${line}`;
      continue;
    }
    const key = /^[^ \t\r\n\v\f=]*/.exec(line0)?.[0] ?? '';
    const req = table.get(key);
    interesting = req !== undefined;
    if (!req) {
      out += line;
      continue;
    }
    if (req.found++ === 1) warnings.push(`${path}: multiple entries for "${key}"`);
    if (mode === 'edit') out += `${key} = ${req.value}\n`;
    else if (mode === 'comment') out += `#${line}`;
  }
  if (mode === 'edit') {
    const missing = [...table.entries()].filter(([, r]) => r.found === 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [name, r] of missing) out += `${name} = ${r.value}\n`;
  }
  return { text: out, warnings };
}

/** An I/O failure, worded as postconf words it ("open /x/main.cf.tmp: ..."). */
export class MainCfIoError extends Error {
  constructor(
    readonly what: string,
    override readonly cause: unknown,
  ) {
    super(what);
    this.name = 'MainCfIoError';
  }
}

/**
 * Edits the file in place, atomically: requests are checked first, then
 * the temporary file is created, then the original read (Postfix's order,
 * so the same failure is reported first).
 */
export function editMainCf(path: string, mode: EditMode, args: string[]): string[] {
  parseEditRequests(mode, args, []);
  const tmp = `${path}${EDIT_FILE_SUFFIX}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w', 0o644);
  } catch (err) {
    throw new MainCfIoError(`open ${tmp}`, err);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw new MainCfIoError(`open ${path} for reading`, err);
  }
  const result = editMainCfText(text, path, mode, args);
  try {
    writeSync(fd, result.text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw new MainCfIoError(`write ${tmp}`, err);
  }
  closeSync(fd);
  renameSync(tmp, path);
  return result.warnings;
}
