/*
 * mail_params_readers_test - which programs read which parameter
 *
 * What it does: checks that every name in the reader lists is a Postfix 3.7
 * parameter (catches typos and names from other releases), that every
 * parameter has a reader, that each listed program exists in the installed
 * Postfix 3.7 (the oracle), spot checks taken from Postfix's source tables
 * (smtpd.c, qmgr.c, cleanup_init.c, mail_params.c, smtp_params.c, pipe.c),
 * and that MAIL_PARAMS and serviceParameters() carry the readers.
 *
 * What it does not do: re-derive the lists from the binaries (see the
 * header of mail_params_readers.ts for how to refresh them).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { MAIL_PARAMS, serviceParameters } from './mail_params.js';
import {
  GLOBAL_READER,
  PROGRAM_READS,
  paramReaders,
  programReads,
  serviceParamReaders,
} from './mail_params_readers.js';

/** Where Debian's Postfix 3.7 installs daemons and commands (the oracle). */
const ORACLE_DAEMON_DIR = '/usr/lib/postfix/sbin';
const ORACLE_COMMAND_DIR = '/usr/sbin';

test('every listed name is a Postfix 3.7 parameter, listed once per program', () => {
  for (const [program, names] of PROGRAM_READS) {
    assert.ok(names.length > 0, `${program}: empty list`);
    assert.equal(new Set(names).size, names.length, `${program}: duplicate name`);
    for (const name of names) assert.ok(MAIL_PARAMS.has(name), `${program}: ${name} is not a parameter`);
  }
});

test("'global' names are not repeated under a program", () => {
  const global = new Set(PROGRAM_READS.get(GLOBAL_READER));
  assert.ok(global.size > 100);
  for (const [program, names] of PROGRAM_READS) {
    if (program === GLOBAL_READER) continue;
    for (const name of names) assert.ok(!global.has(name), `${program}: ${name} is global`);
  }
});

test('every parameter has at least one reader', () => {
  const without = [...MAIL_PARAMS.keys()].filter((name) => paramReaders(name).length === 0);
  assert.deepEqual(without, []);
  assert.equal(MAIL_PARAMS.size, 831);
});

test('every listed program is installed by Postfix 3.7', () => {
  for (const program of PROGRAM_READS.keys()) {
    if (program === GLOBAL_READER) continue;
    const found = [ORACLE_DAEMON_DIR, ORACLE_COMMAND_DIR].some((dir) => existsSync(`${dir}/${program}`));
    assert.ok(found, `${program} not in ${ORACLE_DAEMON_DIR} or ${ORACLE_COMMAND_DIR}`);
  }
});

test('spot checks from the source tables', () => {
  // smtpd.c int_table: VAR_SMTPD_RCPT_LIMIT; qmgr.c and oqmgr.c: VAR_QMGR_ACT_LIMIT.
  assert.ok(paramReaders('smtpd_recipient_limit').includes('smtpd'));
  assert.deepEqual(paramReaders('qmgr_message_active_limit'), ['oqmgr', 'qmgr']);
  // cleanup_init.c str_table: VAR_HEADER_CHECKS (smtpd and others read it too, for receive_override_options).
  assert.ok(paramReaders('header_checks').includes('cleanup'));
  // mail_params.c: queue_directory, myhostname for every program.
  assert.deepEqual(paramReaders('queue_directory'), [GLOBAL_READER]);
  assert.equal(paramReaders('myhostname')[0], GLOBAL_READER);
  assert.ok(programReads('postcat', 'queue_directory'));
  // smtp_params.c: one binary, smtp_* names in smtp mode, lmtp_* names in lmtp mode.
  assert.ok(programReads('smtp', 'smtp_helo_name'));
  assert.ok(!programReads('lmtp', 'smtp_helo_name'));
  assert.ok(programReads('lmtp', 'lmtp_lhlo_name'));
  assert.ok(!programReads('smtp', 'lmtp_lhlo_name'));
  // Commands: postdrop.c, postqueue.c, sendmail.c.
  assert.ok(programReads('postdrop', 'authorized_submit_users'));
  assert.ok(programReads('sendmail', 'authorized_submit_users'));
  assert.ok(programReads('postqueue', 'authorized_mailq_users'));
  assert.ok(programReads('postqueue', 'authorized_flush_users'));
  assert.ok(programReads('sendmail', 'sendmail_fix_line_endings'));
  // Daemon tables: local.c, virtual.c, trivial-rewrite.c, postscreen.c, anvil.c, postlogd.c.
  assert.ok(programReads('local', 'mailbox_command'));
  assert.ok(programReads('virtual', 'virtual_mailbox_base'));
  assert.ok(programReads('trivial-rewrite', 'transport_maps'));
  assert.ok(programReads('postscreen', 'postscreen_dnsbl_sites'));
  assert.ok(programReads('anvil', 'anvil_rate_time_unit'));
  assert.ok(programReads('postlogd', 'postlogd_watchdog_timeout'));
  assert.ok(!programReads('smtpd', 'qmgr_message_active_limit'));
  assert.deepEqual(paramReaders('no_such_parameter'), []);
});

test('MAIL_PARAMS carries the readers', () => {
  for (const [name, spec] of MAIL_PARAMS) assert.deepEqual(spec.readers, [...paramReaders(name)], name);
});

test('per-service names: queue managers for all, pipe and spawn for their own', () => {
  assert.deepEqual(serviceParamReaders('_destination_concurrency_limit', 'smtp'), ['oqmgr', 'qmgr']);
  assert.deepEqual(serviceParamReaders('_delivery_slot_cost', 'local'), ['qmgr']);
  assert.deepEqual(serviceParamReaders('_time_limit', 'pipe'), ['pipe']);
  assert.deepEqual(serviceParamReaders('_time_limit', 'smtp'), []);
  const names = serviceParameters([
    { service: 'relay', command: 'smtp' },
    { service: 'uucp', command: 'pipe' },
    { service: 'spawner', command: 'spawn' },
  ]);
  assert.deepEqual(names.get('relay_destination_concurrency_limit')?.readers, ['oqmgr', 'qmgr']);
  assert.deepEqual(names.get('uucp_time_limit')?.readers, ['pipe']);
  assert.deepEqual(names.get('spawner_time_limit')?.readers, ['spawn']);
  for (const spec of names.values()) assert.ok((spec.readers ?? []).length > 0, spec.name);
});
