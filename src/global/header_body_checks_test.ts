/*
 * header_body_checks_test - action parsing, log line format, table routing and limits
 *
 * Action semantics and texts follow header_checks(5) and Postfix
 * 3.7.11's cleanup_act(); the log line format and every warning text
 * here were also seen from the real cleanup in
 * test/oracle/cleanup_checks_oracle_test.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/lib/temp_dir.js';
import { HBC_DEFAULT_REJECT, type HbcMaps, HeaderBodyChecks, dsnPrepend, dsnValid, hbcLogText, hbcParseAction } from './header_body_checks.js';
import { MailConfig } from './mail_conf.js';

test('dsnValid / dsnPrepend: an RFC 3463 code at the start wins, else the default', () => {
  assert.equal(dsnValid('5.7.0 text'), 5);
  assert.equal(dsnValid('4.123.456'), 9);
  assert.equal(dsnValid('3.1.1 x'), 0);
  assert.equal(dsnValid('5.7.1x'), 0);
  assert.equal(dsnValid('5.7 x'), 0);
  assert.equal(dsnPrepend('5.7.1', 'go away'), '5.7.1 go away');
  assert.equal(dsnPrepend('5.7.1', '  4.7.0   later'), '4.7.0 later');
});

test('REJECT: default text, own text, own code, 4xx defers, bad code becomes 4', () => {
  assert.deepEqual(hbcParseAction('REJECT', 'header', 'header_checks'), { kind: 'reject', reason: HBC_DEFAULT_REJECT, defer: false });
  assert.equal(HBC_DEFAULT_REJECT, '5.7.1 message content rejected');
  assert.deepEqual(hbcParseAction('reject  go away', 'body', 'body_checks'), { kind: 'reject', reason: '5.7.1 go away', defer: false });
  assert.deepEqual(hbcParseAction('REJECT 5.7.0 custom', 'header', 'x'), { kind: 'reject', reason: '5.7.0 custom', defer: false });
  assert.deepEqual(hbcParseAction('REJECT 4.7.1 later', 'header', 'x'), { kind: 'reject', reason: '4.7.1 later', defer: true });
  assert.deepEqual(hbcParseAction('REJECT 2.0.0 odd', 'header', 'x'), {
    kind: 'reject',
    reason: '4.0.0 odd',
    defer: true,
    warning: 'bad DSN action in 2.0.0 odd -- need 4.x.x or 5.x.x',
  });
});

test('every other action, case-insensitive, with its argument checks', () => {
  const p = (v: string, where: 'header' | 'body' = 'header') => hbcParseAction(v, where, 'header_checks');
  assert.deepEqual(p('WARN watch this'), { kind: 'warn', text: 'watch this' });
  assert.deepEqual(p('warn'), { kind: 'warn', text: '' });
  assert.deepEqual(p('INFO noted'), { kind: 'info', text: 'noted' });
  assert.deepEqual(p('hOlD mixed'), { kind: 'hold', text: 'mixed' });
  assert.deepEqual(p('DISCARD'), { kind: 'discard', text: '' });
  assert.deepEqual(p('PASS trusted'), { kind: 'pass', text: 'trusted' });
  assert.deepEqual(p('FILTER smtp:[127.0.0.1]:10025'), { kind: 'filter', nexthop: 'smtp:[127.0.0.1]:10025' });
  assert.deepEqual(p('FILTER'), { kind: 'invalid', warning: 'missing FILTER command argument in header_checks map' });
  assert.deepEqual(p('FILTER nocolon'), { kind: 'invalid', warning: 'bad FILTER command nocolon in header_checks -- need transport:destination' });
  assert.deepEqual(p('REDIRECT a@b'), { kind: 'redirect', address: 'a@b' });
  assert.deepEqual(p('REDIRECT nobody'), { kind: 'invalid', warning: 'bad REDIRECT target "nobody" in header_checks map -- need user@domain' });
  assert.deepEqual(p('BCC a@b'), { kind: 'bcc', address: 'a@b' });
  assert.deepEqual(p('BCC'), { kind: 'invalid', warning: 'bad BCC address "" in header_checks map -- need user@domain' });
  assert.deepEqual(p('PREPEND X-A: b'), { kind: 'prepend', text: 'X-A: b' });
  assert.deepEqual(p('PREPEND plain text', 'body'), { kind: 'prepend', text: 'plain text' });
  assert.deepEqual(p('PREPEND plain text'), {
    kind: 'invalid',
    warning: 'bad PREPEND header text "plain text" in header_checks map -- need "headername: headervalue"',
  });
  assert.deepEqual(p('PREPEND'), { kind: 'invalid', warning: 'PREPEND action without text in header_checks map' });
  assert.deepEqual(p('REPLACE Subject: new'), { kind: 'replace', text: 'Subject: new' });
  assert.deepEqual(p('REPLACE new body', 'body'), { kind: 'replace', text: 'new body' });
  assert.deepEqual(p('REPLACE no colon'), {
    kind: 'invalid',
    warning: 'bad REPLACE header text "no colon" in header_checks map -- need "headername: headervalue"',
  });
  assert.deepEqual(p('REPLACE'), { kind: 'invalid', warning: 'REPLACE action without text in header_checks map' });
  assert.deepEqual(p('STRIP why'), { kind: 'strip', text: 'why' });
  assert.deepEqual(p('IGNORE whatever'), { kind: 'ignore' });
  assert.deepEqual(p('DUNNO'), { kind: 'dunno' });
  assert.deepEqual(p('ok'), { kind: 'dunno' });
  assert.deepEqual(p('FROBNICATE now'), { kind: 'invalid', warning: 'unknown command in header_checks map: FROBNICATE now' });
  assert.deepEqual(p('DEFER later'), { kind: 'invalid', warning: 'unknown command in header_checks map: DEFER later' });
});

test('hbcLogText: Postfix cleanup_act_log form; parts left out when absent; text capped at 200', () => {
  const ctx = { queueId: 'ABC', origin: 'host[1.2.3.4]', sender: 'a@b', recipient: 'c@d', proto: 'ESMTP', helo: 'x' };
  assert.equal(
    hbcLogText(ctx, 'warning', 'header', 'Subject: hi', 'text'),
    'ABC: warning: header Subject: hi from host[1.2.3.4]; from=<a@b> to=<c@d> proto=ESMTP helo=<x>: text',
  );
  assert.equal(hbcLogText({ queueId: 'ABC', origin: 'local', sender: '' }, 'hold', 'body', 'line', ''), 'ABC: hold: body line from local; from=<>');
  assert.equal(hbcLogText({ queueId: 'Q' }, 'info', 'body', 'x'.repeat(300), 't'), `Q: info: body ${'x'.repeat(200)} from unknown;: t`);
});

function mapsOf(entries: Record<string, string>, calls: string[]): HbcMaps {
  return {
    empty: false,
    find: async (key: string) => {
      calls.push(key);
      for (const [re, v] of Object.entries(entries)) if (new RegExp(re).test(key)) return v;
      return null;
    },
  };
}

test('routing: primary/nested lists by block, MIME headers anywhere to mime_header_checks; empty lists skipped', async () => {
  const seen: string[] = [];
  const hbc = new HeaderBodyChecks(
    { header_checks: 'H', mime_header_checks: 'M', nested_header_checks: '', body_checks: 'B', body_checks_size_limit: 10 },
    { openMaps: (param) => mapsOf({ '.': `INFO ${param}` }, seen) },
  );
  assert.equal((await hbc.checkHeader('primary', 'Subject: x'))?.mapClass, 'header_checks');
  assert.equal((await hbc.checkHeader('primary', 'Content-Type: text/plain'))?.mapClass, 'mime_header_checks');
  assert.equal((await hbc.checkHeader('nested', 'MIME-Version: 1.0'))?.mapClass, 'mime_header_checks');
  assert.equal(await hbc.checkHeader('nested', 'Subject: x'), null, 'nested_header_checks is empty');
  const m = await hbc.checkBody('line', 9);
  assert.deepEqual(m, { where: 'body', line: 'line', mapClass: 'body_checks', value: 'INFO body_checks', effect: { kind: 'info', text: 'body_checks' } });
  assert.equal(await hbc.checkBody('line', 10), null, 'at body_checks_size_limit');
  const unlimited = new HeaderBodyChecks(
    { header_checks: '', mime_header_checks: '', nested_header_checks: '', body_checks: 'B', body_checks_size_limit: 0 },
    { openMaps: () => mapsOf({ '.': 'DUNNO' }, seen) },
  );
  assert.equal(unlimited.hasHeaderChecks, false);
  assert.equal((await unlimited.checkBody('x', 1e9))?.effect.kind, 'dunno');
});

test('regexp: and pcre: tables through Maps, a failing table becomes lookup-error', async (t) => {
  const dir = tempDir(t, 'hbc-test-');
  writeFileSync(join(dir, 'h.regexp'), '/^Subject: (.*)spam/ REJECT spam $1\n/^X-8: .*\\xe9/ WARN eight\n');
  writeFileSync(join(dir, 'b.pcre'), '/^line (\\d+)$/ REPLACE line #$1\n');
  const config = new MailConfig(dir, []);
  const hbc = new HeaderBodyChecks(
    {
      header_checks: `regexp:${join(dir, 'h.regexp')}`,
      mime_header_checks: 'fail:broken',
      nested_header_checks: '',
      body_checks: `pcre:${join(dir, 'b.pcre')}`,
      body_checks_size_limit: 51200,
    },
    { config },
  );
  assert.deepEqual((await hbc.checkHeader('primary', 'Subject: buy spam'))?.effect, { kind: 'reject', reason: '5.7.1 spam buy ', defer: false });
  assert.equal(await hbc.checkHeader('primary', 'Subject: fine'), null);
  assert.deepEqual((await hbc.checkBody('line 42', 0))?.effect, { kind: 'replace', text: 'line #42' });
  const e = await hbc.checkHeader('primary', 'Content-Type: text/plain');
  assert.equal(e?.effect.kind, 'lookup-error');
  assert.equal(e?.mapClass, 'mime_header_checks');
});

test('defaults: mime_header_checks and nested_header_checks are $header_checks', async (t) => {
  const dir = tempDir(t, 'hbc-test-');
  writeFileSync(join(dir, 'h.regexp'), '/^(Content-Type|Subject):/ INFO seen\n');
  const hbc = HeaderBodyChecks.fromConfig(new MailConfig(dir, [{ name: 'header_checks', value: `regexp:${join(dir, 'h.regexp')}`, file: 'main.cf', line: 1 }]));
  assert.equal(hbc.bodyChecks, null);
  assert.equal(hbc.bodySizeLimit, 51200);
  const m = await hbc.checkHeader('primary', 'Content-Type: text/plain');
  assert.deepEqual([m?.mapClass, m?.effect], ['mime_header_checks', { kind: 'info', text: 'seen' }]);
  const n = await hbc.checkHeader('nested', 'Subject: inner');
  assert.deepEqual([n?.mapClass, n?.effect], ['nested_header_checks', { kind: 'info', text: 'seen' }]);
});
