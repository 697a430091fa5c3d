/*
 * qmgr_transport_params_test - per-transport parameters with default_* fallback, against the real postconf
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MailConfig, parseMainCf } from '../global/mail_conf.js';
import { FatalError, setFatalHandler } from '../util/msg.js';
import { readTransportParams, type TransportParams } from './qmgr_transport_params.js';

const MASTER_CF_DIST = '/usr/share/postfix/master.cf.dist';
const TIME_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

function configOf(text: string): MailConfig {
  return new MailConfig('/nonexistent', parseMainCf(text, 'main.cf').entries);
}

test('built-in defaults: smtp uses default_*, local has its own limits', () => {
  const c = configOf('');
  const smtp = readTransportParams(c, 'smtp', 100);
  assert.equal(smtp.destinationConcurrencyLimit, 20);
  assert.equal(smtp.initialDestinationConcurrency, 5);
  assert.equal(smtp.destinationRecipientLimit, 50);
  assert.equal(smtp.failedCohortLimit, 1);
  assert.equal(smtp.positiveFeedback, '1');
  assert.equal(smtp.negativeFeedback, '1');
  assert.equal(smtp.deliverySlotCost, 5);
  assert.equal(smtp.deliverySlotLoan, 3);
  assert.equal(smtp.deliverySlotDiscount, 50);
  assert.equal(smtp.minimumDeliverySlots, 3);
  assert.equal(smtp.recipientLimit, 20000);
  assert.equal(smtp.extraRecipientLimit, 1000);
  assert.equal(smtp.recipientRefillLimit, 100);
  assert.equal(smtp.recipientRefillDelayMs, 5000);
  assert.equal(smtp.destinationRateDelayMs, 0);
  assert.equal(smtp.processLimit, 100);
  const local = readTransportParams(c, 'local', 7);
  assert.equal(local.destinationConcurrencyLimit, 2);
  assert.equal(local.destinationRecipientLimit, 1);
  assert.equal(local.processLimit, 7);
});

test('feedback warnings name the per-transport parameter only when it differs', () => {
  const c = configOf('smtp_destination_concurrency_negative_feedback = 1/concurrency\n');
  const p = readTransportParams(c, 'smtp', 1);
  assert.equal(p.negativeFeedbackName, 'smtp_destination_concurrency_negative_feedback');
  assert.equal(p.positiveFeedbackName, 'default_destination_concurrency_positive_feedback');
});

test('a value below the minimum is fatal', () => {
  const c = configOf('smtp_initial_destination_concurrency = 0\n');
  setFatalHandler((severity, text) => {
    throw new FatalError(severity, text);
  });
  try {
    assert.throws(() => readTransportParams(c, 'smtp', 1), /invalid smtp_initial_destination_concurrency parameter value 0 < 1/);
  } finally {
    setFatalHandler(null);
  }
});

/** Parameter name suffix → TransportParams field, and whether postconf prints a time. */
const FIELDS: Array<[string, keyof TransportParams, 'int' | 'time' | 'str']> = [
  ['_destination_concurrency_limit', 'destinationConcurrencyLimit', 'int'],
  ['_initial_destination_concurrency', 'initialDestinationConcurrency', 'int'],
  ['_destination_recipient_limit', 'destinationRecipientLimit', 'int'],
  ['_destination_concurrency_failed_cohort_limit', 'failedCohortLimit', 'int'],
  ['_destination_concurrency_positive_feedback', 'positiveFeedback', 'str'],
  ['_destination_concurrency_negative_feedback', 'negativeFeedback', 'str'],
  ['_destination_rate_delay', 'destinationRateDelayMs', 'time'],
  ['_transport_rate_delay', 'transportRateDelayMs', 'time'],
  ['_delivery_slot_cost', 'deliverySlotCost', 'int'],
  ['_delivery_slot_loan', 'deliverySlotLoan', 'int'],
  ['_delivery_slot_discount', 'deliverySlotDiscount', 'int'],
  ['_minimum_delivery_slots', 'minimumDeliverySlots', 'int'],
  ['_recipient_limit', 'recipientLimit', 'int'],
  ['_extra_recipient_limit', 'extraRecipientLimit', 'int'],
  ['_recipient_refill_limit', 'recipientRefillLimit', 'int'],
  ['_recipient_refill_delay', 'recipientRefillDelayMs', 'time'],
];

test('oracle: the same values as the real postconf -xh for smtp, relay, local, virtual, lmtp, error', () => {
  const mainCf = [
    'default_destination_concurrency_limit = 7',
    'relay_destination_recipient_limit = 3',
    'smtp_destination_concurrency_positive_feedback = 1/concurrency',
    'default_destination_concurrency_negative_feedback = 1/4',
    'local_initial_destination_concurrency = 1',
    'default_destination_rate_delay = 2m',
    'virtual_transport_rate_delay = 3s',
    'default_delivery_slot_cost = 9',
    'lmtp_delivery_slot_discount = 20',
    'default_destination_concurrency_failed_cohort_limit = 10',
    'error_destination_concurrency_limit = 4',
    '',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'qmgr-params-'));
  try {
    writeFileSync(join(dir, 'main.cf'), mainCf);
    copyFileSync(MASTER_CF_DIST, join(dir, 'master.cf'));
    const config = configOf(mainCf);
    for (const transport of ['smtp', 'relay', 'local', 'virtual', 'lmtp', 'error']) {
      const names = FIELDS.map(([suffix]) => transport + suffix);
      const r = spawnSync('postconf', ['-c', dir, '-xh', ...names], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      const values = r.stdout.trimEnd().split('\n');
      assert.equal(values.length, FIELDS.length, r.stdout + r.stderr);
      const p = readTransportParams(config, transport, 100);
      FIELDS.forEach(([suffix, field, kind], i) => {
        const v = values[i];
        let want: string | number = v;
        if (kind === 'int') want = Number(v);
        if (kind === 'time') {
          const m = /^(\d+)([smhdw]?)$/.exec(v);
          assert.ok(m, `${transport}${suffix}: ${v}`);
          want = Number(m[1]) * TIME_MS[m[2] || 's'];
        }
        assert.equal(p[field], want, `${transport}${suffix}`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
