/*
 * postconf_master_edit - postconf -Me/-MX/-M#, -Fe, -Pe/-PX: edit master.cf
 *
 * What it does: copies master.cf to master.cf.tmp while replacing,
 * removing or commenting out whole entries (-Me name/type="name type ...",
 * -MX name/type, -M# name/type), replacing one column (-Fe
 * name/type/field=value) or adding, replacing or removing one "-o"
 * setting (-Pe name/type/param=value, -PX name/type/param), then renames
 * the copy into place. Comments, blank lines and untouched entries are
 * kept byte for byte; an edited entry is printed in postconf's folded
 * layout; a new entry (-Me for a service not present) is appended. This
 * follows Postfix 3.7's pcf_edit_master() step by step, including its
 * handling of an entry whose new name differs from the selected one and
 * its line count that stops after a gobbled multi-line entry. One
 * deliberate difference: a new entry appended after an unterminated last
 * line starts on a line of its own (Postfix 3.7 glues the two together).
 *
 * Unlike Postfix, the new text is complete before master.cf.tmp is
 * created, so an edit that stops on an error leaves no master.cf.tmp.
 *
 * What it does not do: lock out a concurrent postconf (Postfix locks
 * master.cf.tmp), or edit main.cf.
 *
 * DIAGNOSTICS
 * Fatal, with postconf's texts: malformed requests ("-Me, -MX or -M#
 * requires service_name/type", "-Pe does not accept whitespace in
 * parameter value", ...), master.cf lines the editor cannot handle
 * ("file F: line N: specify service name and type on the same line"),
 * I/O errors ("open F for reading: ..."). Warning: "unmatched
 * service_name/type: ..." for -Fe/-Pe/-PX requests that matched nothing.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { MASTER_FIELD, checkMasterFields, isSpace, splitMasterWords, splitNameValue } from '../global/master_cf.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import {
  PCF_FIELD_WILDCARD,
  PCF_MATCH_ANY,
  errnoText,
  expectsValue,
  hasBlank,
  masterCfPath,
  matchServicePattern,
  normalizeDaemonArgs,
  parseFieldPattern,
  parsePcfEntry,
  parseServicePattern,
} from './postconf_master_ent.js';
import { formatMasterEntry } from './postconf_master_print.js';
import type { PostconfOptions } from './postconf_options.js';

/** Suffix of the copy that is renamed over the original (EDIT_FILE_SUFFIX). */
export const EDIT_FILE_SUFFIX = '.tmp';
/** Mode of the rewritten file (edit_file_open's mode argument). */
export const EDIT_FILE_MODE = 0o644;
const EDIT_OPTS = '-Me, -Fe, -Pe, -X, or -#';

type Target = 'entry' | 'field' | 'param';

interface EditRequest {
  raw: string;
  pattern: string[];
  value: string | undefined;
  field: number;
  param: string;
  matches: number;
}

interface EditMode {
  target: Target;
  edit: boolean;
  remove: boolean;
  comment: boolean;
}

function parseRequest(raw: string, mode: EditMode): EditRequest {
  if (raw.includes('\n')) msgFatal(`${EDIT_OPTS} accept no multi-line input`);
  let cp = raw;
  while (cp.length > 0 && isSpace(cp[0])) cp = cp.slice(1);
  if (cp[0] === '#') msgFatal(`${EDIT_OPTS} accept no comment input`);
  let pattern: string;
  let value: string | undefined;
  if (mode.edit) {
    const nv = splitNameValue(cp);
    if ('error' in nv) msgFatal(`${nv.error}: "${raw}"`);
    pattern = nv.name;
    value = nv.value;
  } else {
    if (cp.includes('=')) msgFatal('-X or -# requires names without value');
    pattern = cp.replace(/[ \t\r\n\v\f]+$/, '');
  }
  const req: EditRequest = { raw, pattern: [], value, field: -1, param: '', matches: 0 };
  if (mode.target === 'entry') {
    const p = parseServicePattern(pattern, 2, 2);
    if (p === null) msgFatal('-Me, -MX or -M# requires service_name/type');
    req.pattern = p;
  } else if (mode.target === 'field') {
    const p = parseServicePattern(pattern, 3, 3);
    if (p === null) msgFatal('-Fe or -FX requires service_name/type/field_name');
    req.pattern = p;
    req.field = parseFieldPattern(p[2]);
    if (req.field === PCF_FIELD_WILDCARD) msgFatal('-Fe does not accept wild-card field name');
    if (mode.edit && req.field < MASTER_FIELD.CMD && hasBlank(value as string)) {
      msgFatal('-Fe does not accept whitespace in non-command field');
    }
  } else {
    const p = parseServicePattern(pattern, 3, 3);
    if (p === null) msgFatal('-Pe or -PX requires service_name/type/parameter');
    req.pattern = p;
    req.param = p[2];
    if (req.param === PCF_MATCH_ANY) msgFatal('-Pe does not accept wild-card parameter name');
    if (mode.edit && hasBlank(value as string)) msgFatal('-Pe does not accept whitespace in parameter value');
  }
  return req;
}

/** pcf_edit_master_field(): replace one column, or the command and its arguments. */
export function editMasterField(argv: string[], field: number, value: string): void {
  if (field === MASTER_FIELD.CMD) {
    argv.length = MASTER_FIELD.CMD;
    argv.push(...splitMasterWords(value));
    // Postfix 3.7 crashes here; we stop with a message instead.
    if (argv.length <= MASTER_FIELD.CMD) msgFatal(`-Fe requires a command: "${value}"`);
    normalizeDaemonArgs(argv);
  } else {
    argv[field] = value;
  }
  const bad = checkMasterFields(argv, value);
  if (bad !== null) msgFatal(bad);
}

/** pcf_edit_master_param(): replace, add (edit) or remove (value undefined) "-o name=value". */
export function editMasterParam(argv: string[], name: string, value: string | undefined): void {
  let matched = false;
  let field = MASTER_FIELD.CMD + 1;
  for (; field < argv.length; field++) {
    const arg = argv[field];
    if (arg[0] !== '-' || arg === '--') break;
    if (expectsValue(arg) && field + 1 < argv.length) {
      const aval = argv[field + 1];
      if (arg === '-o' && aval.startsWith(name) && aval[name.length] === '=') {
        matched = true;
        if (value !== undefined) {
          argv[field + 1] = `${name}=${value}`;
        } else {
          argv.splice(field, 2);
          field -= 2;
        }
      }
      field += 1;
    }
  }
  if (value !== undefined && !matched) argv.splice(field, 0, '-o', `${name}=${value}`);
}

/** Physical lines with their "\n" (an unterminated last line stays so, as in Postfix 3.7). */
function physicalLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function isContent(line: string): boolean {
  let i = 0;
  while (i < line.length && isSpace(line[i])) i++;
  return i < line.length && line[i] !== '#';
}

function parseOrFatal(text: string, context: string): string[] {
  const argv = parsePcfEntry(text);
  if ('error' in argv) msgFatal(`${argv.error}: "${context}"`);
  return argv;
}

/** The edited text of master.cf (pure apart from fatal errors and warnings). */
export function editMasterText(text: string, path: string, mode: EditMode, reqs: EditRequest[]): string {
  const lines = physicalLines(text);
  let dst = '';
  let next = 0;
  let lineno = 0;
  let matched = false;
  const entryEdit = mode.target === 'entry' && mode.edit;
  while (next < lines.length) {
    const line = lines[next++];
    lineno += 1;
    if (!isContent(line)) {
      dst += line;
      continue;
    }
    if (isSpace(line[0])) {
      if (!matched) dst += line;
      else if (mode.comment) dst += `#${line}`;
      continue;
    }
    matched = false;
    const words = line.split(/[ \t\r\n]+/).filter((w) => w !== '');
    if (words.length < 2) msgFatal(`file ${path}: line ${lineno}: specify service name and type on the same line`);
    const [name, type] = words;
    if (name.includes('=')) {
      msgFatal(`file ${path}: line ${lineno}: service name syntax "${name}" is unsupported with ${EDIT_OPTS}`);
    }
    if (/[=/]/.test(type)) {
      msgFatal(`file ${path}: line ${lineno}: service type syntax "${type}" is unsupported with ${EDIT_OPTS}`);
    }
    let newEntry: string[] | null = null;
    for (const req of reqs) {
      const tentative = entryEdit ? parseOrFatal(req.value as string, req.raw) : null;
      let useTentative = false;
      if (matchServicePattern(req.pattern, name, type)) {
        matched = true;
        req.matches += 1;
        if (mode.edit || (mode.target === 'param' && mode.remove)) {
          if (mode.target === 'entry') {
            if (req.matches === 1) useTentative = true;
          } else {
            if (newEntry === null) {
              // Gobble the continuation lines; comments among them go out first.
              let full = line;
              while (next < lines.length) {
                const ch = lines[next][0];
                if (ch !== '#' && !isSpace(ch)) break;
                const more = lines[next++];
                if (isContent(more)) full += more;
                else dst += more;
              }
              const parsed = parsePcfEntry(full);
              if ('error' in parsed) msgFatal(`file ${path}: line ${lineno}: ${parsed.error}`);
              newEntry = parsed;
            }
            if (mode.target === 'field') editMasterField(newEntry, req.field, req.value as string);
            else editMasterParam(newEntry, req.param, mode.edit ? req.value : undefined);
          }
        }
      } else if (tentative !== null && matchServicePattern(tentative, name, type)) {
        matched = true;
        req.matches += 1;
        if (req.matches === 1) useTentative = true;
      }
      if (tentative !== null && useTentative) newEntry = tentative;
    }
    if (newEntry !== null) dst += formatMasterEntry(newEntry, { fold: true });
    else if (!matched) dst += line;
    else if (mode.comment) dst += `#${line}`;
  }
  for (const req of reqs) {
    if (req.matches !== 0) continue;
    // Postfix 3.7 would glue a new entry to an unterminated last line; we don't.
    if (entryEdit && dst !== '' && !dst.endsWith('\n')) dst += '\n';
    if (entryEdit) dst += formatMasterEntry(parseOrFatal(req.value as string, req.raw), { fold: true });
    else if (mode.target !== 'entry') msgWarn(`unmatched service_name/type: "${req.raw}"`);
  }
  return dst;
}

/** Writes path atomically: path.tmp, flushed to disk, then renamed over path. */
function replaceFile(path: string, content: string): void {
  const tmp = `${path}${EDIT_FILE_SUFFIX}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w', EDIT_FILE_MODE);
  } catch (e) {
    msgFatal(`open ${tmp}: ${errnoText(e)}`);
  }
  try {
    writeSync(fd, Buffer.from(content, 'latin1'));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    msgFatal(`close ${tmp}: ${errnoText(e)}`);
  }
}

/** Entry point for the master.cf edit modes. */
export function editMaster(opts: PostconfOptions, args: readonly string[]): void {
  const mode: EditMode = {
    target: opts.masterFields ? 'field' : opts.masterParams ? 'param' : 'entry',
    edit: opts.edit,
    remove: opts.remove,
    comment: opts.comment,
  };
  // master.cf is handled as bytes (latin1), so the requests must be too.
  const reqs = args.map((a) => parseRequest(Buffer.from(a, 'utf8').toString('latin1'), mode));
  const path = masterCfPath(opts.configDir);
  let text: string;
  try {
    // latin1 keeps every byte as it is, and counts columns in bytes as Postfix does.
    text = readFileSync(path, 'latin1');
  } catch (e) {
    msgFatal(`open ${path} for reading: ${errnoText(e)}`);
  }
  replaceFile(path, editMasterText(text, path, mode, reqs));
}
