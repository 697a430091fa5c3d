/*
 * mail_proto_test - wire names match the installed Postfix 3.7
 *
 * What it does: looks for every attribute name, protocol name, service
 * name and flush request name of mail_proto.ts as a NUL-terminated string
 * in the real Postfix binaries and libraries (the C compiler stores each
 * string literal that way), so a typo or a name Postfix does not use
 * fails here. What it does not do: check the one-letter trigger codes
 * (mail_trigger_test.ts compares trigger bytes with postkick instead).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { FLUSH_REQ, MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_SERVICE, mailPathname } from './mail_proto.js';

const POSTFIX_LIB = '/usr/lib/postfix';
let image: Buffer;

before(() => {
  const files = [
    ...readdirSync(POSTFIX_LIB).filter((f) => f.endsWith('.so')).map((f) => join(POSTFIX_LIB, f)),
    ...readdirSync(join(POSTFIX_LIB, 'sbin')).map((f) => join(POSTFIX_LIB, 'sbin', f)),
    '/usr/sbin/postqueue',
    '/usr/sbin/postkick',
  ];
  image = Buffer.concat(files.map((f) => readFileSync(f)));
  assert.ok(image.length > 1_000_000, 'the Postfix binaries are installed');
});

function missing(values: Record<string, string>): string[] {
  return Object.entries(values)
    .filter(([, v]) => v !== '' && !image.includes(Buffer.from(`${v}\0`, 'latin1')))
    .map(([k, v]) => `${k}=${v}`);
}

describe('mail_proto names', () => {
  it('every MAIL_ATTR name occurs in Postfix', () => {
    assert.deepEqual(missing(MAIL_ATTR), []);
  });

  it('every announced protocol name occurs in Postfix', () => {
    assert.deepEqual(missing(MAIL_ATTR_PROTO), []);
  });

  it('every service and flush request name occurs in Postfix', () => {
    assert.deepEqual(missing(MAIL_SERVICE), []);
    assert.deepEqual(missing(FLUSH_REQ), []);
  });

  it('the check itself can fail', () => {
    assert.deepEqual(missing({ X: 'no_such_attribute_name_in_postfix' }), ['X=no_such_attribute_name_in_postfix']);
  });

  it('builds endpoint paths as queue_directory/class/service', () => {
    assert.equal(mailPathname('/var/spool/postfix/', 'private', 'qmgr'), '/var/spool/postfix/private/qmgr');
  });
});
