/*
 * smtpd_check_test - unit tests of the smtpd restriction engine
 *
 * What it does: builds SmtpdChecks over inline: tables, a resolver that
 * classifies domains the way trivial-rewrite does (mydestination,
 * relay_domains, everything else default) and a DNS stub, with the
 * SmtpdState built in the test, and checks what the oracle test cannot
 * see from outside: the side effects recorded on the state (HOLD,
 * DISCARD, FILTER, REDIRECT, BCC, PREPEND), smtpd_delay_reject, the
 * defer_if_permit carried from HELO to RCPT, reject_unauth_pipelining,
 * resolver failures, stand-alone sessions, the open-relay refusal, and
 * the helpers (list splitting, access key order, RBL filters, macro
 * expansion, DSN fixing). Reply texts here were checked against the real
 * smtpd by smtpd_check_oracle_test.ts or follow the same code paths.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import type { DnsLookup, DnsReply } from '../global/dns_lookup.js';
import { MailConfig } from '../global/mail_conf.js';
import { FatalError, msgSetSinks, setFatalHandler } from '../util/msg.js';
import { SmtpdChecks } from './smtpd_check.js';
import { mailAccessKeys, splitRestrictions } from './smtpd_check_access.js';
import { macExpand, parseIpMatch, reversedAddr } from './smtpd_check_dns.js';
import { type CheckResolver, dsnSplit, RESOLVE_BITS, smtpdDsnFix } from './smtpd_check_log.js';
import { SMTPD_PEER_CODE, SmtpdState } from './smtpd_state.js';

const logs: string[] = [];
beforeEach(() => {
  logs.length = 0;
  msgSetSinks([{ write: (sev, text) => void logs.push(`${sev}: ${text}`) }]);
});
afterEach(() => msgSetSinks([]));

/** Local: local.test; relay: relay.test; "fail.test" makes the resolver fail; else default. */
const resolver: CheckResolver = {
  async resolve(_sender, address) {
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    if (domain === 'fail.test') throw new Error('resolver down');
    const flags = domain === 'local.test' ? RESOLVE_BITS.CLASS_LOCAL : domain === 'relay.test' ? RESOLVE_BITS.CLASS_RELAY : RESOLVE_BITS.CLASS_DEFAULT;
    return { transport: 'smtp', nexthop: domain, recipient: address, flags };
  },
};

const notFound: DnsReply = { status: 'notfound', nxdomain: true, why: 'NXDOMAIN' };
const dnsStub: DnsLookup = {
  async query(name, type) {
    if (name === 'temp.test') return { status: 'temp', why: 'SERVFAIL' };
    if (name === 'host.test' && type === 'A') return { status: 'ok', records: ['192.0.2.1'] };
    return notFound;
  },
  async hostAddrs() {
    return notFound;
  },
  async reverse() {
    return notFound;
  },
};

function makeChecks(settings: Record<string, string>): SmtpdChecks {
  const config = new MailConfig('/nonexistent', [], {
    compatibility_level: '3.6',
    myhostname: 'server.test',
    mydestination: 'local.test',
    relay_domains: 'relay.test',
    mynetworks: '192.0.2.0/28',
    local_recipient_maps: '',
    ...settings,
  });
  return new SmtpdChecks(config, { resolve: resolver, dns: dnsStub, sleep: async () => {} });
}

function session(checks: SmtpdChecks, addr = '198.51.100.1', name = 'client.test'): SmtpdState {
  const s = new SmtpdState(checks.config);
  s.setClient(name, addr, '4321');
  s.nameStatus = s.reverseNameStatus = name === 'unknown' ? SMTPD_PEER_CODE.PERM : SMTPD_PEER_CODE.OK;
  s.reverseName = name;
  s.protocol = 'ESMTP';
  s.heloName = 'helo.test';
  return s;
}

async function rcpt(checks: SmtpdChecks, s: SmtpdState, sender: string, recipient: string): Promise<string | null> {
  s.where = 'MAIL';
  const m = await checks.checkMail(s, sender);
  if (m !== null) return m;
  s.sender = sender;
  s.where = 'RCPT';
  return checks.checkRcpt(s, recipient);
}

describe('access actions recorded on the session', () => {
  const access =
    'inline:{ hold.test=HOLD, {filter.test=FILTER smtp:[127.0.0.1]:10025}, {redirect.test=REDIRECT admin@relay.test}, {bcc.test=BCC copy@relay.test}, {prepend.test=PREPEND X-Tag: yes}, {badprepend.test=PREPEND not a header}, discard.test=DISCARD }';
  it('HOLD, FILTER, REDIRECT, BCC, PREPEND', async () => {
    const checks = makeChecks({ smtpd_sender_restrictions: `check_sender_access ${access}` });
    for (const [dom, check] of [
      ['hold.test', (s: SmtpdState) => assert.equal(s.savedFlags & CLEANUP_FLAG.HOLD, CLEANUP_FLAG.HOLD)],
      ['filter.test', (s: SmtpdState) => assert.equal(s.savedFilter, 'smtp:[127.0.0.1]:10025')],
      ['redirect.test', (s: SmtpdState) => assert.equal(s.savedRedirect, 'admin@relay.test')],
      ['bcc.test', (s: SmtpdState) => assert.deepEqual(s.savedBcc, ['copy@relay.test'])],
      ['prepend.test', (s: SmtpdState) => assert.deepEqual(s.prependHeaders, ['X-Tag: yes'])],
      ['badprepend.test', (s: SmtpdState) => assert.deepEqual(s.prependHeaders, [])],
    ] as const) {
      const s = session(checks);
      assert.equal(await rcpt(checks, s, `a@${dom}`, 'x@relay.test'), null, dom);
      check(s);
    }
    assert.ok(logs.some((l) => l.includes('requires header: text')), logs.join('\n'));
    assert.ok(logs.some((l) => l === 'info: NOQUEUE: redirect: RCPT from client.test[198.51.100.1]: <a@redirect.test>: Sender address triggers REDIRECT admin@relay.test; from=<a@redirect.test> to=<x@relay.test> proto=ESMTP helo=<helo.test>'));
  });
  it('DISCARD accepts and skips every later restriction of the transaction', async () => {
    const checks = makeChecks({ smtpd_sender_restrictions: `check_sender_access ${access}`, smtpd_recipient_restrictions: 'reject_unauth_destination' });
    const s = session(checks);
    assert.equal(await rcpt(checks, s, 'a@discard.test', 'x@elsewhere.test'), null);
    assert.equal(s.discard, true);
    assert.equal(s.savedFlags & CLEANUP_FLAG.DISCARD, CLEANUP_FLAG.DISCARD);
    assert.equal(await checks.checkRcpt(s, 'y@elsewhere.test'), null);
  });
  it('with smtpd_delay_reject = no, HOLD in client restrictions is skipped with a warning', async () => {
    const checks = makeChecks({ smtpd_delay_reject: 'no', smtpd_client_restrictions: 'check_client_access inline:{client.test=HOLD}' });
    const s = session(checks);
    s.where = 'CONNECT';
    assert.equal(await checks.checkClient(s), null);
    assert.equal(s.savedFlags, 0);
    assert.ok(logs.some((l) => l.includes('with smtpd_delay_reject=no, action HOLD is always skipped in Client host or Helo command restrictions')));
  });
});

describe('stages', () => {
  it('smtpd_delay_reject = yes defers client, HELO and sender decisions to RCPT', async () => {
    const checks = makeChecks({ smtpd_client_restrictions: 'reject' });
    const s = session(checks);
    assert.equal(await checks.checkClient(s), null);
    assert.equal(await checks.checkHelo(s, 'helo.test'), null);
    assert.equal(await rcpt(checks, s, 'a@relay.test', 'b@relay.test'), '554 5.7.1 <client.test[198.51.100.1]>: Client host rejected: Access denied');
  });
  it('smtpd_delay_reject = no rejects at once', async () => {
    const checks = makeChecks({ smtpd_delay_reject: 'no', smtpd_helo_restrictions: 'reject_non_fqdn_helo_hostname' });
    const s = session(checks);
    s.where = 'EHLO';
    assert.equal(await checks.checkHelo(s, 'nodots'), '504 5.5.2 <nodots>: Helo command rejected: need fully-qualified hostname');
  });
  it('a defer_if_permit from HELO turns the RCPT permit into 450', async () => {
    const checks = makeChecks({ smtpd_helo_restrictions: 'reject_unknown_helo_hostname' });
    const s = session(checks);
    s.heloName = 'temp.test';
    assert.equal(await rcpt(checks, s, 'a@relay.test', 'b@relay.test'), '450 4.7.1 <temp.test>: Helo command rejected: Host not found');
    s.heloName = 'host.test';
    assert.equal(await rcpt(checks, s, 'a@relay.test', 'b@relay.test'), null);
  });
  it('reject_unauth_pipelining looks at early input', async () => {
    const checks = makeChecks({ smtpd_data_restrictions: 'reject_unauth_pipelining' });
    const s = session(checks);
    s.rcptCount = 1;
    s.where = 'DATA';
    assert.equal(await checks.checkData(s), null);
    s.setEarlyInputProbe(() => true);
    assert.equal(await checks.checkData(s), '503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining');
  });
  it('a resolver failure is a temporary lookup failure', async () => {
    const checks = makeChecks({});
    const s = session(checks);
    assert.equal(await rcpt(checks, s, 'a@relay.test', 'x@fail.test'), '451 4.3.0 <x@fail.test>: Temporary lookup failure');
  });
  it('postmaster, stand-alone sessions and SIZE', async () => {
    const checks = makeChecks({ smtpd_client_restrictions: 'reject', message_size_limit: '1000' });
    const s = session(checks);
    s.sender = '';
    assert.equal(await checks.checkRcpt(s, 'Postmaster'), null);
    s.standAlone = true;
    assert.equal(await checks.checkRcpt(s, 'x@relay.test'), null);
    assert.equal(checks.checkSize(s, 1000), null);
    assert.equal(checks.checkSize(s, 1001), '552 5.3.4 Message size exceeds fixed limit');
  });
  it('sleep N waits through the injected sleeper; a bad argument is a configuration error', async () => {
    const slept: number[] = [];
    const config = new MailConfig('/nonexistent', [], { compatibility_level: '3.6', mydestination: 'local.test', local_recipient_maps: '', smtpd_client_restrictions: 'sleep 3, permit' });
    const checks = new SmtpdChecks(config, { resolve: resolver, dns: dnsStub, sleep: async (n) => void slept.push(n) });
    assert.equal(await rcpt(checks, session(checks), 'a@relay.test', 'b@local.test'), null);
    assert.deepEqual(slept, [3]);
    const bad = makeChecks({ smtpd_client_restrictions: 'sleep x' });
    assert.equal(await rcpt(bad, session(bad), 'a@relay.test', 'b@local.test'), '451 4.3.5 Server configuration error');
  });
  it('a restriction class that names itself ends with 451 4.3.5, not a hang', async () => {
    const checks = makeChecks({ smtpd_restriction_classes: 'loopy', loopy: 'loopy', smtpd_client_restrictions: 'loopy' });
    assert.equal(await rcpt(checks, session(checks), 'a@relay.test', 'b@local.test'), '451 4.3.5 Server configuration error');
    assert.ok(logs.some((l) => l.includes('causes unreasonable recursion')));
  });
  it('refuses a configuration that cannot reject relaying', () => {
    setFatalHandler((sev, text) => {
      throw new FatalError(sev, text);
    });
    try {
      assert.throws(() => makeChecks({ smtpd_relay_restrictions: '', smtpd_recipient_restrictions: 'permit, reject_unauth_destination' }), /specify at least one working instance/);
      assert.ok(logs.includes("warning: restriction `reject_unauth_destination' after `permit' is ignored"));
      assert.throws(() => makeChecks({ smtpd_restriction_classes: 'nothing' }), /restriction class `nothing' needs a definition/);
      makeChecks({ smtpd_relay_restrictions: '', smtpd_recipient_restrictions: 'cls', smtpd_restriction_classes: 'cls', cls: 'defer_unauth_destination' });
    } finally {
      setFatalHandler(null);
    }
  });
});

describe('server access and verification', () => {
  const nsDns: DnsLookup = {
    async query(name, type) {
      if (type === 'NS' && name === 'zone.test') return { status: 'ok', records: ['ns1.bad.test'] };
      if (type === 'MX' && name === 'mail.other.test') return { status: 'ok', records: ['mx.ok.test'], mx: [{ preference: 1, exchange: 'mx.ok.test' }] };
      return notFound;
    },
    async hostAddrs(name) {
      return name === 'mx.ok.test' ? { status: 'ok', records: ['192.0.2.9'] } : notFound;
    },
    async reverse() {
      return notFound;
    },
  };
  const build = (settings: Record<string, string>): SmtpdChecks =>
    new SmtpdChecks(new MailConfig('/nonexistent', [], { compatibility_level: '3.6', mydestination: 'local.test', local_recipient_maps: '', ...settings }), {
      resolve: resolver,
      dns: nsDns,
    });
  it('check_sender_ns_access walks up to the parent zone; check_sender_mx_access checks MX addresses', async () => {
    const checks = build({ smtpd_sender_restrictions: 'check_sender_ns_access inline:{ns1.bad.test=REJECT}, check_sender_mx_access inline:{ {192.0.2.9=REJECT mx net} }' });
    assert.equal(await rcpt(checks, session(checks), 'a@host.zone.test', 'b@local.test'), '554 5.7.1 <a@host.zone.test>: Sender address rejected: Access denied');
    assert.equal(await rcpt(checks, session(checks), 'a@mail.other.test', 'b@local.test'), '554 5.7.1 <a@mail.other.test>: Sender address rejected: mx net');
  });
  it('reject_unverified_* without a verify service: deferral per *_tempfail_action', async () => {
    const checks = build({ smtpd_recipient_restrictions: 'reject_unverified_recipient, permit', smtpd_relay_restrictions: 'reject_unauth_destination' });
    assert.equal(await rcpt(checks, session(checks), 'a@relay.test', 'b@local.test'), '450 4.1.1 <b@local.test>: Recipient address rejected: address verification problem');
    assert.ok(logs.includes('warning: verify service failure'));
    const now = build({ smtpd_sender_restrictions: 'reject_unverified_sender', unverified_sender_tempfail_action: 'defer' });
    assert.equal(await rcpt(now, session(now), 'a@relay.test', 'b@local.test'), '450 4.1.7 <a@relay.test>: Sender address rejected: address verification problem');
  });
});

describe('helpers', () => {
  it('splits restriction lists, keeping {...} together', () => {
    assert.deepEqual(splitRestrictions(' a, b\tinline:{x=1, {y=2 3}},c '), ['a', 'b', 'inline:{x=1, {y=2 3}}', 'c']);
  });
  it('access keys for addresses in Postfix order', () => {
    assert.deepEqual(
      mailAccessKeys('user+ext@a.b.test', '+', true).map((k) => `${k.key}${k.partial ? '' : ' (full)'}`),
      ['user+ext@a.b.test (full)', 'user@a.b.test', 'a.b.test', 'b.test', 'test', 'user+ext@', 'user@'],
    );
    assert.deepEqual(
      mailAccessKeys('u@a.b.test', '', false).map((k) => k.key),
      ['u@a.b.test', 'a.b.test', '.b.test', '.test', 'u@'],
    );
  });
  it('RBL result filters and reversed addresses', () => {
    const f = parseIpMatch('127.0.[0;1].[2..4;9]');
    assert.deepEqual(f.map((s) => [...s]), [[127], [0], [0, 1], [2, 3, 4, 9]]);
    assert.throws(() => parseIpMatch('127.0.0'), /bad address pattern/);
    assert.throws(() => parseIpMatch('127.0.0.[5..2]'), /bad address pattern/);
    assert.equal(reversedAddr('192.0.2.1'), '1.2.0.192');
    assert.equal(reversedAddr('2001:db8::1'), `1.0.0.0.${'0.'.repeat(20)}8.b.d.0.1.0.0.2`);
  });
  it('expands reply templates', () => {
    const v: Record<string, string> = { a: 'A', e: '' };
    const look = (n: string): string | null => v[n] ?? null;
    assert.equal(macExpand('$a ${a} ${a?yes $a} ${e?no} ${e:empty} $$', look), 'A A yes A  empty $');
    assert.equal(macExpand('$nope', look), null);
  });
  it('DSN splitting and fixing', () => {
    assert.deepEqual(dsnSplit('5.7.1', '4.2.0 busy'), { dsn: '4.2.0', text: 'busy' });
    assert.deepEqual(dsnSplit('5.7.1', 'no code'), { dsn: '5.7.1', text: 'no code' });
    assert.equal(smtpdDsnFix('5.1.1', 'Sender address'), '4.1.7');
    assert.equal(smtpdDsnFix('5.1.0', 'Sender address'), '4.1.0');
    assert.equal(smtpdDsnFix('5.1.7', 'Recipient address'), '4.1.3');
    assert.equal(smtpdDsnFix('5.1.1', 'Client host'), '4.0.0');
    assert.equal(smtpdDsnFix('5.7.1', 'Sender address'), '5.7.1');
  });
});
