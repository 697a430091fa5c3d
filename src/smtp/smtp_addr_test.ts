/*
 * smtp_addr_test - unit tests of server address lookup (smtp_addr.ts) over a scripted DnsLookup
 *
 * What it does: MX preference order, shuffling of equal preferences (both
 * orders show up; never with smtp_randomize_addresses = no),
 * smtp_mx_address_limit, the A/AAAA fallback without MX records, a
 * temporary MX failure (4.4.3), inet_protocols filtering and numeric
 * hosts.
 *
 * What it does not do: real DNS (test/system/smtp_mx_test.ts uses dnsmasq).
 *
 * DIAGNOSTICS
 * Assertion failures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DnsLookup, DnsReply, DnsType } from '../global/dns_lookup.js';
import { domainAddr, hostAddr } from './smtp_addr.js';
import type { SmtpParams } from './smtp_params.js';

function fakeDns(zone: Record<string, DnsReply>): DnsLookup {
  const q = async (name: string, type: DnsType): Promise<DnsReply> => zone[`${name}/${type}`] ?? { status: 'notfound', nxdomain: true, why: 'nx' };
  return { query: q, hostAddrs: async (n) => q(n, 'A'), reverse: async () => ({ status: 'notfound', nxdomain: true, why: 'nx' }) };
}

const mx = (...recs: Array<[number, string]>): DnsReply => ({ status: 'ok', records: recs.map((r) => r[1]), mx: recs.map(([preference, exchange]) => ({ preference, exchange })) });
const a = (...addrs: string[]): DnsReply => ({ status: 'ok', records: addrs });

function params(over: Partial<SmtpParams> = {}): SmtpParams {
  return { hostLookup: ['dns'], disableDns: false, inetProtocols: ['all'], addressPreference: 'any', randomizeAddresses: true, mxAddressLimit: 5, deferIfNoMxAddress: false, ...over } as SmtpParams;
}

const ZONE = fakeDns({
  'eq.test/MX': mx([20, 'c.eq.test'], [10, 'a.eq.test'], [10, 'b.eq.test']),
  'a.eq.test/A': a('192.0.2.1'),
  'b.eq.test/A': a('192.0.2.2'),
  'c.eq.test/A': a('192.0.2.3'),
  'c.eq.test/AAAA': a('2001:db8::3'),
  'nomx.test/A': a('192.0.2.9'),
  'nomx.test/MX': { status: 'notfound', nxdomain: false, why: 'nodata' },
  'temp.test/MX': { status: 'temp', why: 'SERVFAIL' },
});

test('MX preference order with equal preferences shuffled', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 60; i++) {
    const r = await domainAddr(ZONE, 'eq.test', params());
    assert.ok(r.ok);
    assert.deepEqual(r.addrs.slice(2).map((x) => [x.host, x.addr, x.pref]), [
      ['c.eq.test', '192.0.2.3', 20],
      ['c.eq.test', '2001:db8::3', 20],
    ]);
    seen.add(r.addrs.slice(0, 2).map((x) => x.host).join(','));
  }
  assert.deepEqual([...seen].sort(), ['a.eq.test,b.eq.test', 'b.eq.test,a.eq.test']);
  for (let i = 0; i < 10; i++) {
    const r = await domainAddr(ZONE, 'eq.test', params({ randomizeAddresses: false }));
    assert.ok(r.ok);
    assert.deepEqual(r.addrs.map((x) => x.host), ['a.eq.test', 'b.eq.test', 'c.eq.test', 'c.eq.test']);
  }
});

test('smtp_mx_address_limit and inet_protocols', async () => {
  const r = await domainAddr(ZONE, 'eq.test', params({ mxAddressLimit: 3, randomizeAddresses: false }));
  assert.ok(r.ok);
  assert.equal(r.addrs.length, 3);
  const v4 = await domainAddr(ZONE, 'eq.test', params({ inetProtocols: ['ipv4'], randomizeAddresses: false }));
  assert.ok(v4.ok);
  assert.deepEqual(v4.addrs.map((x) => x.addr), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
});

test('no MX records: the domain\'s own address; temporary MX failure: 4.4.3', async () => {
  const r = await domainAddr(ZONE, 'nomx.test', params());
  assert.deepEqual(r, { ok: true, addrs: [{ host: 'nomx.test', addr: '192.0.2.9', pref: 0 }] });
  assert.deepEqual(await domainAddr(ZONE, 'temp.test', params()), {
    ok: false,
    status: '4.4.3',
    reason: 'Host or domain name not found. Name service error for name=temp.test type=MX: Host not found, try again',
  });
});

test('numeric hosts need no lookup', async () => {
  assert.deepEqual(await hostAddr(ZONE, '192.0.2.7', params()), { ok: true, addrs: [{ host: '192.0.2.7', addr: '192.0.2.7', pref: 0 }] });
});
