/*
 * mail_conf_edit_test - the main.cf editor behind postconf -e, -X and -#
 *
 * What it does: checks the text transformation on a small file (the
 * outputs below were produced by Postfix 3.7.11's postconf on the same
 * input; test/oracle/postconf_edit_test.ts compares whole files against
 * the oracle), the request errors, and that editMainCf replaces the file
 * atomically without leaving its temporary file.
 *
 * What it does not do: run postconf.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EDIT_FILE_SUFFIX, MainCfEditError, MainCfIoError, editMainCf, editMainCfText } from './mail_conf_edit.js';

const INPUT = '# top\na = 1\n  continued\n  # inner\nb = 2\n\nb = 3\n';

test('-e replaces every entry, warns on the second, appends new names sorted', () => {
  const r = editMainCfText(INPUT, 'P', 'edit', ['b=9', 'z = 1', 'c=0']);
  assert.equal(r.text, '# top\na = 1\n  continued\n  # inner\nb = 9\n\nb = 9\nc = 0\nz = 1\n');
  assert.deepEqual(r.warnings, ['P: multiple entries for "b"']);
});

test('-X drops the logical line with its continuation, keeps comments', () => {
  assert.equal(editMainCfText(INPUT, 'P', 'remove', ['a']).text, '# top\n  # inner\nb = 2\n\nb = 3\n');
});

test('-# comments out the logical line and its continuation', () => {
  assert.equal(editMainCfText(INPUT, 'P', 'comment', ['a']).text, '# top\n#a = 1\n#  continued\n  # inner\nb = 2\n\nb = 3\n');
});

test('bad requests', () => {
  assert.throws(() => editMainCfText(INPUT, 'P', 'edit', ['bad']), MainCfEditError);
  assert.throws(() => editMainCfText(INPUT, 'P', 'edit', ['a=b\nc']), /accepts no multi-line input/);
  assert.throws(() => editMainCfText(INPUT, 'P', 'edit', ['# a=b']), /accepts no comment input/);
  assert.throws(() => editMainCfText(INPUT, 'P', 'remove', ['a=b']), /requires parameter names without value/);
  assert.throws(() => editMainCfText(INPUT, 'P', 'remove', ['']), /requires non-blank parameter names/);
  const r = editMainCfText(INPUT, 'P', 'edit', ['a=1', 'a=2']);
  assert.deepEqual(r.warnings, ["ignoring earlier request: 'a = 1'"]);
});

test('editMainCf renames a complete temporary file into place', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mail-conf-edit-'));
  try {
    const path = join(dir, 'main.cf');
    writeFileSync(path, INPUT);
    editMainCf(path, 'edit', ['a = 5']);
    assert.equal(readFileSync(path, 'utf8'), '# top\na = 5\n  # inner\nb = 2\n\nb = 3\n');
    assert.equal(existsSync(`${path}${EDIT_FILE_SUFFIX}`), false);
    assert.throws(() => editMainCf(join(dir, 'nodir', 'main.cf'), 'edit', ['a=1']), MainCfIoError);
    rmSync(path);
    assert.throws(() => editMainCf(path, 'edit', ['a=1']), /for reading/);
    assert.equal(existsSync(`${path}${EDIT_FILE_SUFFIX}`), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
