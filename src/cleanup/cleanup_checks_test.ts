/*
 * cleanup_checks_test - applying header/body check actions to cleanup's state
 *
 * State changes and log lines follow Postfix 3.7.11's cleanup_act();
 * the same behaviour is compared with the real cleanup(8) in
 * test/oracle/cleanup_checks_oracle_test.ts. Tables here are small
 * in-memory stand-ins (HbcMaps) so each action is tested alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import type { HbcMaps } from '../global/header_body_checks.js';
import { MailConfig } from '../global/mail_conf.js';
import { MIME_ERR } from '../global/mime_state.js';
import { CleanupChecks, unescapeChars } from './cleanup_checks.js';
import { headerRecords, inspectMessage, simState } from './cleanup_checks_test_lib.js';

/** A table list answering `value` for keys that match the pattern. */
function table(rules: Array<[RegExp, string]>): HbcMaps {
  return {
    empty: false,
    find: async (key) => {
      for (const [re, v] of rules) {
        const m = re.exec(key);
        if (m) return v.replace(/\$(\d)/g, (_, n: string) => m[Number(n)] ?? '');
      }
      return null;
    },
  };
}

function checks(settings: Record<string, string>, rules: Record<string, Array<[RegExp, string]>>): CleanupChecks {
  const entries = Object.entries(settings).map(([name, value], i) => ({ name, value, file: 'main.cf', line: i + 1 }));
  return new CleanupChecks(new MailConfig('/nonexistent', entries), { openMaps: (param) => table(rules[param] ?? []) });
}

const ALL = { header_checks: 'x:h', mime_header_checks: 'x:m', nested_header_checks: 'x:n', body_checks: 'x:b' };
const ctx = 'from host[1.2.3.4]; from=<s@example.com> to=<r@example.net> proto=ESMTP helo=<helo.example>';
const smtpState = () =>
  simState({
    queueId: 'QID',
    sender: 's@example.com',
    recip: 'r@example.net',
    attr: { log_message_origin: 'host[1.2.3.4]', log_protocol_name: 'ESMTP', log_helo_name: 'helo.example' },
  });

test('REJECT: reason, CONT or DEFER, inspection off, one reject line; later lines not inspected', async () => {
  const c = checks(ALL, { header_checks: [[/^Subject: bad/, 'REJECT go away'], [/^X-Temp/, 'REJECT 4.7.1 later']], body_checks: [[/./, 'WARN b']] });
  const r = await inspectMessage(c, 'Subject: bad\nX-Temp: 1\n\nbody\n', smtpState());
  assert.equal(r.state.errs, CLEANUP_STAT.CONT);
  assert.equal(r.state.reason, '5.7.1 go away');
  assert.equal(r.state.flags & CLEANUP_FLAG.FILTER_ALL, 0);
  assert.deepEqual(r.logs, [`QID: reject: header Subject: bad ${ctx}: 5.7.1 go away`]);
  const d = await inspectMessage(c, 'X-Temp: 1\n\nbody\n', smtpState());
  assert.equal(d.state.errs, CLEANUP_STAT.DEFER);
  assert.equal(d.state.reason, '4.7.1 later');
  assert.deepEqual(d.content, [], 'nothing is written after a DEFER');
});

test('WARN, INFO, STRIP, IGNORE, DUNNO, REPLACE, PREPEND on headers and body lines', async () => {
  const c = checks(ALL, {
    header_checks: [
      [/^X-Warn/, 'WARN w'],
      [/^X-Info/, 'INFO'],
      [/^X-Strip/, 'STRIP s'],
      [/^X-Ignore/, 'IGNORE'],
      [/^X-Dunno/, 'DUNNO'],
      [/^Subject: (.*)/, 'REPLACE Subject: [tag] $1'],
      [/^X-Pre/, 'PREPEND X-Added: yes'],
    ],
    body_checks: [
      [/^secret/, 'REPLACE [removed]'],
      [/^first/, 'PREPEND before first'],
      [/^drop/, 'IGNORE'],
    ],
  });
  const r = await inspectMessage(c, 'X-Warn: 1\nX-Info: 1\nX-Strip: 1\nX-Ignore: 1\nX-Dunno: 1\nSubject: hi\nX-Pre: 1\n\nfirst\nsecret\ndrop\nlast\n', smtpState());
  assert.deepEqual(r.content, ['X-Warn: 1', 'X-Info: 1', 'X-Dunno: 1', 'Subject: [tag] hi', 'X-Added: yes', 'X-Pre: 1', '', 'before first', 'first', '[removed]', 'last']);
  assert.deepEqual(r.logs, [
    `QID: warning: header X-Warn: 1 ${ctx}: w`,
    `QID: info: header X-Info: 1 ${ctx}`,
    `QID: strip: header X-Strip: 1 ${ctx}: s`,
    `QID: replace: header Subject: hi ${ctx}: Subject: [tag] hi`,
    `QID: prepend: header X-Pre: 1 ${ctx}: X-Added: yes`,
    `QID: prepend: body first ${ctx}: before first`,
    `QID: replace: body secret ${ctx}: [removed]`,
  ]);
  assert.equal(r.state.errs, 0);
});

test('HOLD once, DISCARD wins and stops inspection, HOLD after DISCARD is not logged', async () => {
  const c = checks(ALL, { header_checks: [[/^X-Hold/, 'HOLD h'], [/^X-Discard/, 'DISCARD d']], body_checks: [[/^hold/, 'HOLD again']] });
  const h = await inspectMessage(c, 'X-Hold: 1\nX-Hold: 2\n\nhold\n', smtpState());
  assert.equal(h.state.flags & CLEANUP_FLAG.HOLD, CLEANUP_FLAG.HOLD);
  assert.deepEqual(h.logs, [`QID: hold: header X-Hold: 1 ${ctx}: h`]);
  const d = await inspectMessage(c, 'X-Discard: 1\nX-Hold: 1\n\nhold\n', smtpState());
  assert.equal(d.state.flags & (CLEANUP_FLAG.DISCARD | CLEANUP_FLAG.HOLD | CLEANUP_FLAG.FILTER), CLEANUP_FLAG.DISCARD);
  assert.deepEqual(d.logs, [`QID: discard: header X-Discard: 1 ${ctx}: d`]);
});

test('FILTER and REDIRECT: last one wins; REDIRECT and PASS end inspection; BCC collects', async () => {
  const c = checks(ALL, {
    header_checks: [[/^X-F(\d)/, 'FILTER smtp:[10.0.0.$1]:25'], [/^X-Bcc: (.*)/, 'BCC $1'], [/^X-Redirect/, 'REDIRECT r2@example.org']],
    body_checks: [[/^pass/, 'PASS ok'], [/./, 'WARN not reached']],
  });
  const r = await inspectMessage(c, 'X-F1: a\nX-F2: b\nX-Bcc: c1@example.org\nX-Bcc: c2@example.org\n\nx\n', smtpState());
  assert.equal(r.state.filter, 'smtp:[10.0.0.2]:25');
  assert.deepEqual(r.state.hbcRcpt, ['c1@example.org', 'c2@example.org']);
  assert.match(r.logs[3]!, /^QID: bcc: header X-Bcc: c2@example.org from .*: c2@example.org$/);
  assert.equal(r.logs.length, 5, 'filter x2, bcc x2, body warning');
  const p = await inspectMessage(c, 'X-Redirect: 1\nX-F1: a\n\nx\n', smtpState());
  assert.equal(p.state.redirect, 'r2@example.org');
  assert.equal(p.state.filter, null, 'no inspection after REDIRECT');
  const q = await inspectMessage(c, 'Subject: x\n\npass\nmore\n', smtpState());
  assert.deepEqual(q.logs, [`QID: pass: body pass ${ctx}: ok`]);
});

test('bad arguments and unknown actions: warning, line kept; a failing table: warning and WRITE', async () => {
  const failing: HbcMaps = { empty: false, find: async () => Promise.reject(new Error('boom')) };
  const entries = Object.entries(ALL).map(([name, value], i) => ({ name, value, file: 'main.cf', line: i + 1 }));
  const c = new CleanupChecks(new MailConfig('/nonexistent', entries), {
    openMaps: (param) => (param === 'body_checks' ? failing : table([[/^X-Bad/, 'REDIRECT nobody'], [/^X-Odd/, 'SHOUT']])),
  });
  const r = await inspectMessage(c, 'X-Bad: 1\nX-Odd: 2\n\nbody\n', smtpState());
  assert.deepEqual(r.content, ['X-Bad: 1', 'X-Odd: 2', '']);
  assert.deepEqual(r.logs, [
    'warning: bad REDIRECT target "nobody" in header_checks map -- need user@domain',
    'warning: unknown command in header_checks map: SHOUT',
    'warning: QID: body_checks map lookup problem -- message not accepted, try again later',
  ]);
  assert.equal(r.state.errs, CLEANUP_STAT.WRITE);
});

test('no inspection without CLEANUP_FLAG_FILTER', async () => {
  const c = checks(ALL, { header_checks: [[/./, 'REJECT']], body_checks: [[/./, 'REJECT']] });
  const r = await inspectMessage(c, 'Subject: x\n\nbody\n', simState({ flags: CLEANUP_FLAG.MAP_OK }));
  assert.equal(r.state.errs, 0);
  assert.deepEqual(r.logs, []);
  assert.deepEqual(r.content, ['Subject: x', '', 'body']);
});

test('mimeOptions: strict settings only for filtered mail; nesting reported when any check or strict option is on', () => {
  const plain = checks({}, {});
  assert.deepEqual(plain.mimeOptions(CLEANUP_FLAG.MASK_EXTERNAL), {
    disableMime: false,
    headerSizeLimit: 102400,
    nestingLimit: 100,
    boundaryLengthLimit: 2048,
    report8bitInHeader: false,
    report8bitIn7bitBody: false,
    reportEncodingDomain: false,
    reportNesting: false,
  });
  const strict = checks({ strict_8bitmime: 'yes', header_size_limit: '500' }, {});
  const o = strict.mimeOptions(CLEANUP_FLAG.MASK_EXTERNAL);
  assert.equal(o.report8bitInHeader && o.report8bitIn7bitBody && o.reportNesting && o.headerSizeLimit === 500, true);
  assert.equal(strict.mimeOptions(CLEANUP_FLAG.MAP_OK).report8bitInHeader, undefined);
  assert.equal(checks({ header_checks: 'x:h' }, {}).mimeOptions(CLEANUP_FLAG.FILTER).reportNesting, true);
  assert.equal(checks({ disable_mime_input_processing: 'yes', strict_8bitmime: 'yes' }, {}).mimeOptions(CLEANUP_FLAG.FILTER).report8bitInHeader, undefined);
});

test('MIME errors: "reject: mime-error" line, 5.6.0 reason at the end unless a reason is set', async () => {
  const c = checks({ strict_7bit_headers: 'yes' }, {});
  const r = await inspectMessage(c, 'Subject: caf\xe9\n\nx\n', smtpState());
  assert.deepEqual(r.logs, [
    'QID: reject: mime-error improper use of 8-bit data in message header: Subject: caf? from host[1.2.3.4]; from=<s@example.com> to=<r@example.net>',
  ]);
  assert.equal(r.state.reason, '5.6.0 improper use of 8-bit data in message header');
  assert.equal(r.state.errs, CLEANUP_STAT.CONT);
  const s = simState({ reason: '5.7.1 earlier' });
  c.mimeDone(s, MIME_ERR.NESTING);
  assert.equal(s.reason, '5.7.1 earlier');
  const t = simState();
  c.mimeDone(t, MIME_ERR.TRUNC_HEADER);
  assert.equal(t.errs, 0, 'header truncation alone is no error');
});

test('message_reject_characters and message_strip_characters', async () => {
  assert.equal(unescapeChars('\\t\\001\\\\x'), '\t\x01\\x');
  const c = checks({ message_strip_characters: '\\0\\r', message_reject_characters: '\\001' }, {});
  const r = await inspectMessage(c, 'Subject: a\0b\r\n\nx\n', smtpState());
  assert.deepEqual(r.content, ['Subject: ab', '', 'x']);
  const j = await inspectMessage(c, 'Subject: a\x01b\n\nx\n', smtpState());
  assert.equal(j.state.reason, '5.7.1 disallowed character');
  assert.deepEqual(j.logs, [`QID: reject: content Subject: a\x01b ${ctx}: 5.7.1 disallowed character`.replace('\x01', '?')]);
});

test('headerRecords: tab for unfolded lines, cut at a line boundary or at the limit', () => {
  assert.deepEqual(headerRecords('To: a,\nb', 100), ['To: a,', '\tb']);
  assert.deepEqual(headerRecords(`X: ${'a'.repeat(10)}\n\t${'b'.repeat(10)}`, 20), ['X: aaaaaaaaaa', '\tbbbbb']);
  assert.deepEqual(headerRecords(`X: ${'a'.repeat(18)}\n\tbb`, 20), [`X: ${'a'.repeat(17)}`]);
  assert.deepEqual(headerRecords(`X: ${'a'.repeat(16)}\n\tbbbbbbbb`, 20), [`X: ${'a'.repeat(16)}`], 'nice cut: more than 90% kept');
});

test('info_log_address_format = external quotes the addresses in action logs', async () => {
  const c = checks({ ...ALL, info_log_address_format: 'external' }, { header_checks: [[/^Subject/, 'WARN w']] });
  const st = simState({ queueId: 'Q', sender: 'a b@example.com', recip: 'c@example.net', attr: { log_message_origin: 'local' } });
  const r = await inspectMessage(c, 'Subject: x\n\n', st);
  assert.deepEqual(r.logs, ['Q: warning: header Subject: x from local; from=<"a b"@example.com> to=<c@example.net>: w']);
  const e = await inspectMessage(c, 'Subject: x\n\n', simState({ queueId: 'Q', sender: '', recip: null, attr: {} }));
  assert.deepEqual(e.logs, ['Q: warning: header Subject: x from unknown; from=<>: w']);
});
