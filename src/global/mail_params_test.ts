/*
 * mail_params_test - the parameter table, per-service names, unknown names
 *
 * What it does: checks table invariants (types, time units, raw set),
 * the per-service names a master.cf creates (compared with Postfix 3.7's
 * postconf -d for the same services in test/oracle/postconf_defaults_test.ts;
 * here the rules: which programs get which suffixes, built-in names kept),
 * unknownParameters() and the host-dependent helpers.
 *
 * What it does not do: compare defaults with the oracle (the oracle tests do).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MailConfig, parseMainCf } from './mail_conf.js';
import {
  MAIL_PARAMS,
  defaultMydomain,
  formatIpv6,
  serviceParameters,
  unknownParameters,
  validParameterNames,
} from './mail_params.js';

test('table invariants', () => {
  assert.ok(MAIL_PARAMS.size > 800);
  for (const spec of MAIL_PARAMS.values()) {
    if (spec.type === 'bool') assert.match(spec.defaultValue, /^(yes|no|\$\w+)$/, spec.name);
    if (spec.type === 'time') assert.match(spec.timeUnit ?? '', /^[smhdw]$/, spec.name);
  }
  assert.equal(MAIL_PARAMS.get('message_size_limit')?.type, 'long');
  assert.equal(MAIL_PARAMS.get('maximal_queue_lifetime')?.timeUnit, 'd');
  assert.equal(MAIL_PARAMS.get('smtputf8_enable')?.type, 'nbool');
  const raw = [...MAIL_PARAMS.values()].filter((s) => s.type === 'raw').map((s) => s.name);
  assert.deepEqual(raw, [
    'command_execution_directory',
    'default_rbl_reply',
    'forward_path',
    'luser_relay',
    'mailbox_command',
    'postscreen_expansion_filter',
    'postscreen_reject_footer',
    'smtpd_expansion_filter',
    'smtpd_reject_footer',
  ]);
  assert.equal(MAIL_PARAMS.get('myhostname')?.hostDependent, true);
});

test('per-service names by program', () => {
  const names = serviceParameters([
    { service: 'relay', command: 'smtp' },
    { service: 'uucp', command: 'pipe' },
    { service: 'local', command: 'local' },
    { service: 'spawner', command: 'spawn' },
    { service: 'smtp', command: 'smtpd' },
  ]);
  assert.equal(names.get('relay_destination_concurrency_limit')?.defaultValue, '$default_destination_concurrency_limit');
  assert.equal(names.get('relay_initial_destination_concurrency')?.defaultValue, '$initial_destination_concurrency');
  assert.equal(names.has('relay_time_limit'), false, 'smtp services get no _time_limit');
  assert.equal(names.get('uucp_time_limit')?.defaultValue, '$command_time_limit');
  assert.equal(names.get('spawner_time_limit')?.defaultValue, '$command_time_limit');
  assert.equal(names.has('spawner_destination_concurrency_limit'), false);
  assert.equal(names.has('local_destination_concurrency_limit'), false, 'built-in names keep their own default');
  assert.equal(names.has('local_delivery_slot_cost'), true);
  assert.equal([...names.keys()].some((n) => n.startsWith('smtp_')), false, 'smtpd is no delivery agent');
  assert.equal(names.get('relay_destination_rate_delay')?.type, 'time');
});

test('unknownParameters with service names or master.cf entries', () => {
  const text = 'relay_destination_concurrency_limit = 5\nfoo_bar = 1\nmyorigin = x\nuucp_time_limit = 1h\n';
  const config = new MailConfig('/x', parseMainCf(text, '/x/main.cf').entries);
  assert.deepEqual(
    unknownParameters(config, ['relay', 'uucp']).map((u) => `${u.name}=${u.value}@${u.line}`),
    ['foo_bar=1@2'],
  );
  assert.deepEqual(
    unknownParameters(config, [{ service: 'relay', command: 'smtp' }]).map((u) => u.name),
    ['foo_bar', 'uucp_time_limit'],
  );
  const valid = validParameterNames([{ service: 'relay', command: 'smtp' }]);
  assert.ok(valid.has('relay_destination_concurrency_limit'));
  assert.ok(valid.has('myorigin'));
  assert.ok(!valid.has('foo_bar'));
});

test('mydomain from myhostname, as postconf derives it', () => {
  assert.equal(defaultMydomain('mail.example.com'), 'example.com');
  assert.equal(defaultMydomain('example.com'), 'localdomain');
  assert.equal(defaultMydomain('vm'), 'localdomain');
});

test('IPv6 text form', () => {
  assert.equal(formatIpv6([0xfd00, 0, 0, 0, 0, 0, 0, 0]), 'fd00::');
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 1]), '::1');
  assert.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]), '2001:db8:0:1::1');
  assert.equal(formatIpv6([1, 0, 2, 0, 3, 0, 4, 0]), '1:0:2:0:3:0:4:0');
});
