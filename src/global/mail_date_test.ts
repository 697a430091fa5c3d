/*
 * mail_date_test - the Date: format (the oracle test compares whole added headers with the real cleanup's)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailDate } from './mail_date.js';

test('day of month is space-padded, offset and zone follow', () => {
  const saved = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    assert.equal(mailDate(Date.UTC(2026, 11, 5, 20, 38, 7) / 1000), 'Sat,  5 Dec 2026 20:38:07 +0000 (UTC)');
    assert.equal(mailDate(Date.UTC(2026, 10, 28, 9, 0, 0) / 1000), 'Sat, 28 Nov 2026 09:00:00 +0000 (UTC)');
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});
