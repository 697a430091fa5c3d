/*
 * qmgr_sched_feedback_test - feedback parsing (qmgr_feedback_init rules) and %g formatting
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FEEDBACK_IDX, feedbackValue, formatG, parseFeedback } from './qmgr_sched_feedback.js';

test('plain numbers and fractions', () => {
  assert.deepEqual(parseFeedback('1', 'x'), { feedback: { index: FEEDBACK_IDX.NONE, base: 1, hysteresis: 1 }, warning: null });
  assert.equal(parseFeedback('0.5', 'x').feedback.base, 0.5);
  assert.equal(parseFeedback('1/4', 'x').feedback.base, 0.25);
  assert.equal(parseFeedback(' 1 / 8', 'x').feedback.base, 0.125);
  assert.equal(parseFeedback('0', 'x').feedback.base, 0);
  assert.equal(parseFeedback('1/4', 'x').feedback.index, FEEDBACK_IDX.NONE);
});

test('1/concurrency depends on the window', () => {
  const { feedback, warning } = parseFeedback('1/concurrency', 'x');
  assert.equal(warning, null);
  assert.equal(feedback.index, FEEDBACK_IDX.WIN);
  assert.equal(feedbackValue(feedback, 5), 0.2);
  assert.equal(feedbackValue(feedback, 20), 0.05);
  assert.equal(feedbackValue(parseFeedback('0.5/concurrency', 'x').feedback, 2), 0.25);
});

test('trailing text after a number is ignored, as sscanf does', () => {
  assert.equal(parseFeedback('1x', 'x').warning, null);
  assert.equal(parseFeedback('0.5 junk', 'x').feedback.base, 0.5);
});

test('malformed or unreasonable values warn and fall back to 1', () => {
  for (const bad of ['2', '-1', '1/0', 'abc', '', '1/', '1/concurrency x', '1/sqrt_concurrency', '3/2', 'nan']) {
    const r = parseFeedback(bad, 'smtp_destination_concurrency_negative_feedback');
    assert.equal(r.warning, `smtp_destination_concurrency_negative_feedback: ignoring malformed or unreasonable feedback: ${bad}`, bad);
    assert.deepEqual(r.feedback, { index: FEEDBACK_IDX.NONE, base: 1, hysteresis: 1 });
  }
});

test('formatG prints like C %g', () => {
  const cases: Array<[number, string]> = [
    [0, '0'],
    [1, '1'],
    [0.2, '0.2'],
    [1 / 3, '0.333333'],
    [0.05, '0.05'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [1234567, '1.23457e+06'],
    [123456, '123456'],
    [-0.25, '-0.25'],
    [1.0000001, '1'],
  ];
  for (const [v, s] of cases) assert.equal(formatG(v), s, String(v));
});
