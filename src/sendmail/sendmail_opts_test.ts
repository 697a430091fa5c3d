/*
 * sendmail_opts_test - sendmail's command line, the line reader and -t extraction
 *
 * What it does: checks parseSendmailArgs() on the options and quirks
 * that the oracle test does not reach cheaply (modes, conflicts, -C,
 * -q forms), StreamLfReader's record boundaries at the line limit, and
 * HeaderExtractor's header grouping and Resent- rule. The records
 * themselves are compared with Postfix's in test/oracle/sendmail_postdrop_test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REC_TYPE } from '../global/rec_type.js';
import { msgSetSinks } from '../util/msg.js';
import { StreamLfReader } from './sendmail_enqueue.js';
import { HeaderExtractor, headerNameLength } from './sendmail_extract.js';
import { configDirFromC, DEL_REQ_FLAG, dsnNotifyMask, parseSendmailArgs, preScanConfigDir, SM_MODE } from './sendmail_opts.js';

function quiet<T>(fn: () => T): { value: T; warnings: string[] } {
  const warnings: string[] = [];
  msgSetSinks([{ write: (_s, t) => void warnings.push(t) }]);
  try {
    return { value: fn(), warnings };
  } finally {
    msgSetSinks([]);
  }
}

test('sendmail opts: modes from the name and from -b/-I/-q', () => {
  const mode = (argv: string[], name = 'sendmail'): number => {
    const r = parseSendmailArgs(argv, name);
    assert.ok(r.ok);
    return r.args.mode;
  };
  assert.equal(mode([]), SM_MODE.ENQUEUE);
  assert.equal(mode([], 'mailq'), SM_MODE.MAILQ);
  assert.equal(mode([], 'newaliases'), SM_MODE.NEWALIAS);
  assert.equal(mode(['-bp']), SM_MODE.MAILQ);
  assert.equal(mode(['-bs']), SM_MODE.USER);
  assert.equal(mode(['-bi']), SM_MODE.NEWALIAS);
  assert.equal(mode(['-I']), SM_MODE.NEWALIAS);
  assert.equal(mode(['-q']), SM_MODE.FLUSHQ);
  assert.equal(mode(['-bh']), SM_MODE.IGNORE);
  assert.equal(mode(['-bd']), SM_MODE.DAEMON);
});

test('sendmail opts: -q forms', () => {
  const r = parseSendmailArgs(['-q30m']);
  assert.ok(r.ok && r.args.qtime === '30m' && r.args.mode === SM_MODE.ENQUEUE);
  const s = parseSendmailArgs(['-qRexample.com']);
  assert.ok(s.ok && s.args.siteToFlush === 'example.com');
  const i = parseSendmailArgs(['-qIABC123']);
  assert.ok(i.ok && i.args.idToFlush === 'ABC123');
  assert.deepEqual(parseSendmailArgs(['-qR']), { ok: false, fatal: 'specify: -qRsitename', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-qS']), { ok: false, fatal: '-qS is not implemented', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-bp', '-qRx']), { ok: false, fatal: '-qR can be used only in delivery mode', status: 64 });
});

test('sendmail opts: conflicts and bad values', () => {
  assert.deepEqual(parseSendmailArgs(['-bp', '-t']), { ok: false, fatal: '-t can be used only in delivery mode', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-bv', '-t']), { ok: false, fatal: '-t option cannot be used with -bv', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-bv', '-N', 'success']), { ok: false, fatal: '-N option cannot be used with -bv', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-bx']), { ok: false, fatal: 'unsupported: -bx', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-Xfoo']), { ok: false, fatal: 'unsupported: -Xf', status: 64 });
  assert.deepEqual(parseSendmailArgs(['-oA']), { ok: false, fatal: '-oA requires pathname', status: 64 });
});

test('sendmail opts: one -v asks for a report, -i/-oi clear the dot rule, -- ends options', () => {
  const r = parseSendmailArgs(['-v', '-oi', '--', '-notanoption@x']);
  assert.ok(r.ok);
  assert.equal(r.args.traceFlags, DEL_REQ_FLAG.RECORD);
  assert.equal(r.args.verbose, 0);
  assert.equal(r.args.aeof, false);
  assert.deepEqual(r.args.recipients, ['-notanoption@x']);
  const two = parseSendmailArgs(['-v', '-v', 'a@b']);
  assert.ok(two.ok && two.args.verbose === 2 && two.args.traceFlags === 0);
});

test('sendmail opts: -N values as dsn_notify_mask', () => {
  const { value, warnings } = quiet(() => [dsnNotifyMask('success,delay'), dsnNotifyMask('NEVER'), dsnNotifyMask('never,success'), dsnNotifyMask('bogus')]);
  assert.deepEqual(value, [10, 1, 0, 0]);
  assert.deepEqual(warnings, ['unknown DSN NOTIFY command value "bogus" in "bogus"']);
});

test('sendmail opts: -C names main.cf or its directory; the pre-scan finds it', () => {
  assert.equal(configDirFromC('/etc/x/main.cf'), '/etc/x');
  assert.equal(configDirFromC('/etc/x'), '/etc/x');
  assert.equal(preScanConfigDir(['-t', '-C', '/a/main.cf', 'r@x']), '/a');
  assert.equal(preScanConfigDir(['-q', '-C/b']), '/b');
  assert.equal(preScanConfigDir(['r@x', '-C', '/c']), null);
});

test('sendmail opts: the old -V xy form keeps xy as an argument (Postfix quirk)', () => {
  const { value } = quiet(() => parseSendmailArgs(['-V', '+=', 'a@b']));
  assert.ok(value.ok);
  assert.equal(value.args.verpDefault, true);
  assert.deepEqual(value.args.recipients, ['+=', 'a@b']);
});

async function records(input: string, limit: number): Promise<string[]> {
  async function* src(): AsyncGenerator<Buffer> {
    for (const part of input.split('|')) yield Buffer.from(part, 'latin1');
  }
  const reader = new StreamLfReader(src());
  const out: string[] = [];
  for (let r = await reader.next(limit); r; r = await reader.next(limit)) out.push(`${r.type === REC_TYPE.NORM ? 'N' : 'L'}:${r.data.toString('latin1')}`);
  return out;
}

test('sendmail reader: lines, pieces at the limit, unterminated end (rec_streamlf_get)', async () => {
  assert.deepEqual(await records('ab|c\nde\n', 10), ['N:abc', 'N:de']);
  assert.deepEqual(await records('abcdefgh\n', 4), ['L:abcd', 'L:efgh', 'N:']);
  assert.deepEqual(await records('abcdef', 4), ['L:abcd', 'L:ef']);
  assert.deepEqual(await records('\n\n', 4), ['N:', 'N:']);
  assert.deepEqual(await records('', 4), []);
});

test('sendmail -t: headers are grouped, re-emitted, and addresses taken', () => {
  const out: string[] = [];
  const x = new HeaderExtractor((t, s) => void out.push(`${t === REC_TYPE.NORM ? 'N' : 'L'}:${s}`), 10, 1000);
  for (const line of ['To: a@b,', ' Joe <c@d>', 'Cc: e@f', 'Subject: 0123456789', '', 'To: body@x']) x.update(REC_TYPE.NORM, line);
  assert.ok(x.finish());
  assert.deepEqual(x.extracted, ['a@b', 'c@d', 'e@f']);
  assert.deepEqual(out, ['N:To: a@b,', 'N: Joe <c@d>', 'N:Cc: e@f', 'L:Subject: 0', 'N:123456789', 'N:', 'N:To: body@x']);
});

test('sendmail -t: Resent- headers win once seen', () => {
  const x = new HeaderExtractor(() => {}, 1000, 1000);
  for (const line of ['To: a@b', 'Resent-To: r@s', 'Cc: ignored@x', 'Resent-Bcc: rb@s', '']) x.update(REC_TYPE.NORM, line);
  x.finish();
  assert.deepEqual(x.extracted, ['r@s', 'rb@s']);
  assert.deepEqual(x.recipients, ['a@b']);
});

test('sendmail -t: a header over header_size_limit is an error', () => {
  const x = new HeaderExtractor(() => {}, 1000, 20);
  assert.equal(x.update(REC_TYPE.NORM, 'Subject: 0123456789abcdef'), false);
});

test('sendmail -t: is_header rules', () => {
  assert.equal(headerNameLength('To: x'), 2);
  assert.equal(headerNameLength('To : x'), 2);
  assert.equal(headerNameLength(' To: x'), 0);
  assert.equal(headerNameLength(': x'), 0);
  assert.equal(headerNameLength('No colon'), 0);
  assert.equal(headerNameLength('X\u00e9: x'), 0);
});
