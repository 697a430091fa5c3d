/*
 * smtpd_token_test - the command tokenizer, DSN parameter parsing, the
 * Received: header forms, and the client name lookup of a session.
 * Token cases follow Postfix's smtpd_token test program's rules; the
 * Received: lines are the real smtpd's (see smtpd_proto_test.ts).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { DnsLookup, DnsReply } from '../global/dns_lookup.js';
import { dsnNotifyMask, dsnRetCode, xtextUnquote } from './smtpd_dsn.js';
import { receivedHeader } from './smtpd_received.js';
import { open, sharedLogs, startFakeCleanup, startSmtpd, talk, testConfig } from './smtpd_test_lib.js';
import { collapseArgs, neuter, smtpdToken } from './smtpd_token.js';

const texts = (line: string): Array<[string, boolean]> => smtpdToken(line).map((t) => [t.text, t.error]);

describe('smtpdToken', () => {
  it('splits at white space and ends FROM:/TO: at the colon', () => {
    assert.deepEqual(texts('MAIL FROM:<a@b> SIZE=10'), [['MAIL', false], ['FROM:', false], ['<a@b>', false], ['SIZE=10', false]]);
    assert.deepEqual(texts('rcpt to:<x@y>'), [['rcpt', false], ['to:', false], ['<x@y>', false]]);
    assert.deepEqual(texts('MAIL FROM: <a@b>'), [['MAIL', false], ['FROM:', false], ['<a@b>', false]]);
    assert.deepEqual(texts('  NOOP   '), [['NOOP', false]]);
    assert.deepEqual(texts(''), []);
  });
  it('keeps white space inside <...> and "...", and backslash-escaped', () => {
    assert.deepEqual(texts('RCPT TO:<"a b"@c> X'), [['RCPT', false], ['TO:', false], ['<"a b"@c>', false], ['X', false]]);
    assert.deepEqual(texts('VRFY "x y"@z'), [['VRFY', false], ['"x y"@z', false]]);
    assert.deepEqual(texts('A a\\ b'), [['A', false], ['a\\ b', false]]);
    assert.deepEqual(texts('A <a<b c>d>'), [['A', false], ['<a<b c>d>', false]]);
  });
  it('marks an unclosed <...> or "..." as an error token', () => {
    assert.deepEqual(texts('MAIL FROM:<a@b'), [['MAIL', false], ['FROM:', false], ['<a@b', true]]);
    assert.deepEqual(texts('X "abc'), [['X', false], ['"abc', true]]);
  });
  it('collapses and neuters as Postfix does for HELO names', () => {
    assert.equal(neuter(collapseArgs(smtpdToken('foo.bar  baz'))), 'foo.bar?baz');
    assert.equal(neuter('a<b>(c)\\"d;@'), 'a?b??c???d??');
  });
});

describe('DSN parameters', () => {
  it('decodes xtext and refuses malformed escapes', () => {
    assert.equal(xtextUnquote('abc+2Bd'), 'abc+d');
    assert.equal(xtextUnquote('X+40y.z'), 'X@y.z');
    assert.equal(xtextUnquote('a+ZZ'), null);
    assert.equal(xtextUnquote('a+2'), null);
  });
  it('maps NOTIFY and RET as Postfix dsn_mask', () => {
    assert.equal(dsnNotifyMask('SUCCESS,DELAY'), 10);
    assert.equal(dsnNotifyMask('never'), 1);
    assert.equal(dsnNotifyMask('NEVER,SUCCESS'), 0);
    assert.equal(dsnNotifyMask('FAILURE'), 4);
    assert.equal(dsnRetCode('FULL'), 1);
    assert.equal(dsnRetCode('hdrs'), 2);
    assert.equal(dsnRetCode('X'), 0);
  });
});

describe('Received: header', () => {
  const base = {
    heloName: 'h',
    name: 'unknown',
    rfcAddr: '127.0.0.1',
    myhostname: 'oracle.example',
    mailName: 'Postfix',
    protocol: 'ESMTP',
    smtputf8: false,
    authenticated: false,
    tls: false,
    queueId: 'ABC',
    rcptCount: 1,
    recipient: 'a b@c',
    arrivalSec: 0,
  };
  it('names the one recipient, quoted, or none for several', () => {
    const one = receivedHeader(base);
    assert.equal(one[1], '\tby oracle.example (Postfix) with ESMTP id ABC');
    assert.match(one[2]!, /^\tfor <"a b"@c>; /);
    const many = receivedHeader({ ...base, rcptCount: 2, heloName: null, rfcAddr: 'IPv6:::1', protocol: 'SMTP' });
    assert.equal(many[0], 'Received: from unknown (unknown [IPv6:::1])');
    assert.equal(many[1], '\tby oracle.example (Postfix) with SMTP id ABC;');
  });
  it('uses UTF8SMTP and the RFC 3848 A suffix', () => {
    assert.equal(receivedHeader({ ...base, smtputf8: true, authenticated: true })[1], '\tby oracle.example (Postfix) with UTF8SMTPA id ABC');
    assert.equal(receivedHeader({ ...base, authenticated: true })[1], '\tby oracle.example (Postfix) with ESMTPA id ABC');
  });
});

describe('client name lookup (smtpd_peername_lookup = yes)', () => {
  const fakeDns = (ptr: string[], a: string[]): DnsLookup => ({
    query: async (): Promise<DnsReply> => ({ status: 'notfound', nxdomain: true, why: 'none' }) as DnsReply,
    hostAddrs: async (): Promise<DnsReply> => ({ status: 'ok', records: a }) as unknown as DnsReply,
    reverse: async (): Promise<DnsReply> => ({ status: 'ok', records: ptr }) as unknown as DnsReply,
  });
  const servers: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  it('logs the verified name, or unknown when the forward lookup does not confirm it', async () => {
    const fc = await startFakeCleanup();
    const good = await startSmtpd(testConfig({ smtpd_peername_lookup: 'yes' }), { cleanupEndpoint: fc.path, dns: fakeDns(['mx.example.com.'], ['127.0.0.1']) });
    const forged = await startSmtpd(testConfig({ smtpd_peername_lookup: 'yes' }), { cleanupEndpoint: fc.path, dns: fakeDns(['mx.example.com.'], ['192.0.2.9']) });
    servers.push(good, forged, { close: async () => fc.close() });
    for (const srv of [good, forged]) {
      const { sock } = await open(srv.port);
      await talk(sock, 'QUIT\r\n', 1);
      await srv.idle();
    }
    assert.ok(sharedLogs.includes('connect from mx.example.com[127.0.0.1]'), sharedLogs.join('\n'));
    assert.ok(sharedLogs.includes('warning: hostname mx.example.com does not resolve to address 127.0.0.1'), sharedLogs.join('\n'));
    assert.ok(sharedLogs.includes('disconnect from unknown[127.0.0.1] quit=1 commands=1'), sharedLogs.join('\n'));
  });
});
