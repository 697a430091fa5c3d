/*
 * dns_lookup_test - DNS queries and the client name lookup against a dnsmasq the test starts
 *
 * What it does: checks the resolv.conf parser (ports, IPv6, errors naming
 * file and line), reverse names, and, against a dnsmasq on 127.0.0.1 and
 * a free port (authoritative for .test and 2.0.192.in-addr.arpa, so
 * other names are REFUSED: a temporary failure), A/AAAA/MX/TXT/PTR
 * answers, "not found" and temporary failures, and peerName()'s four
 * outcomes: verified name (2), forged (6), no PTR (5), failing reverse
 * zone (4).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, waitFor } from '../../test/lib/proc.js';
import { msgSetSinks } from '../util/msg.js';
import { dnsLookup, type DnsLookup, expandIpv6, parseResolvConf, peerName, reverseName, SMTPD_PEER_CODE } from './dns_lookup.js';

const DNSMASQ = '/usr/sbin/dnsmasq';
let dir = '';
let dnsmasq: ChildProcess | null = null;
let dns: DnsLookup;
const warnings: string[] = [];

before(async () => {
  msgSetSinks([{ write: (sev, text) => void (sev === 'warning' && warnings.push(text)) }]);
  dir = mkdtempSync(join(tmpdir(), 'postern-dns-'));
  const port = await freePort();
  dnsmasq = spawn(
    DNSMASQ,
    [
      '--no-resolv', '--no-hosts', '--keep-in-foreground', '--listen-address=127.0.0.1', `--port=${port}`, '--bind-interfaces',
      '--local=/test/', '--local=/2.0.192.in-addr.arpa/',
      '--host-record=good.test,192.0.2.10,2001:db8::10',
      '--ptr-record=10.2.0.192.in-addr.arpa,good.test',
      '--ptr-record=11.2.0.192.in-addr.arpa,forged.test',
      '--host-record=forged.test,192.0.2.99',
      '--ptr-record=12.2.0.192.in-addr.arpa,192.0.2.12',
      '--mx-host=good.test,mx.good.test,5',
      '--txt-record=good.test,first part',
    ],
    { stdio: 'ignore' },
  );
  const file = join(dir, 'resolv.conf');
  writeFileSync(file, `# test resolver\nsearch example\nnameserver 127.0.0.1:${port}\n`);
  dns = dnsLookup({ resolvConf: file });
  await waitFor('dnsmasq', async () => (await dns.query('good.test', 'A')).status === 'ok');
});

after(() => {
  if (dnsmasq && dnsmasq.exitCode === null) dnsmasq.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  msgSetSinks([]);
});

describe('resolv.conf parsing and names', () => {
  it('reads nameserver lines with optional ports', () => {
    assert.deepEqual(parseResolvConf('nameserver 127.0.0.1\nnameserver 127.0.0.2:5353\nnameserver [::1]:53\nnameserver ::1\n', 'f'), [
      '127.0.0.1',
      '127.0.0.2:5353',
      '[::1]:53',
      '::1',
    ]);
  });
  it('names file and line on errors', () => {
    assert.throws(() => parseResolvConf('\nnameserver bogus:x\n', '/etc/x.conf'), /\/etc\/x\.conf, line 2: bad nameserver address: bogus:x/);
    assert.throws(() => parseResolvConf('nameserver 1.2.3.4:99999\n', 'f'), /f, line 1: bad nameserver port/);
    assert.throws(() => parseResolvConf('search x\n', 'g'), /g: no nameserver lines/);
  });
  it('builds reverse names', () => {
    assert.equal(reverseName('192.0.2.10'), '10.2.0.192.in-addr.arpa');
    assert.equal(expandIpv6('2001:db8::1'), '2001:0db8:0000:0000:0000:0000:0000:0001');
    assert.equal(reverseName('2001:db8::1'), `1.0.0.0.${'0.'.repeat(20)}8.b.d.0.1.0.0.2.ip6.arpa`);
  });
});

describe('queries against dnsmasq', () => {
  it('answers A, AAAA, MX, TXT and PTR', async () => {
    assert.deepEqual(await dns.query('good.test', 'A'), { status: 'ok', records: ['192.0.2.10'] });
    assert.deepEqual(await dns.query('good.test', 'AAAA'), { status: 'ok', records: ['2001:db8::10'] });
    assert.deepEqual(await dns.query('good.test', 'MX'), { status: 'ok', records: ['mx.good.test'], mx: [{ preference: 5, exchange: 'mx.good.test' }] });
    assert.deepEqual(await dns.query('good.test', 'TXT'), { status: 'ok', records: ['first part'] });
    assert.deepEqual(await dns.reverse('192.0.2.10'), { status: 'ok', records: ['good.test'] });
    assert.deepEqual(await dns.hostAddrs('good.test'), { status: 'ok', records: ['192.0.2.10', '2001:db8::10'] });
  });
  it('tells "not found" from temporary failure', async () => {
    const nx = await dns.query('nothing.test', 'A');
    assert.equal(nx.status, 'notfound');
    assert.equal(nx.status === 'notfound' && nx.nxdomain, true);
    const nodata = await dns.query('forged.test', 'MX');
    assert.equal(nodata.status, 'notfound');
    assert.equal((await dns.query('elsewhere.example', 'A')).status, 'temp');
    assert.equal((await dns.hostAddrs('elsewhere.example')).status, 'temp');
  });
});

describe('peerName (smtpd_peer.c)', () => {
  it('verified name', async () => {
    assert.deepEqual(await peerName('192.0.2.10', dns), { name: 'good.test', status: SMTPD_PEER_CODE.OK, reverseName: 'good.test', reverseStatus: SMTPD_PEER_CODE.OK });
  });
  it('forged: the name does not list the address', async () => {
    warnings.length = 0;
    assert.deepEqual(await peerName('192.0.2.11', dns), { name: 'unknown', status: SMTPD_PEER_CODE.FORGED, reverseName: 'forged.test', reverseStatus: SMTPD_PEER_CODE.OK });
    assert.deepEqual(warnings, ['hostname forged.test does not resolve to address 192.0.2.11']);
  });
  it('no PTR record: permanent', async () => {
    assert.deepEqual(await peerName('192.0.2.13', dns), { name: 'unknown', status: SMTPD_PEER_CODE.PERM, reverseName: 'unknown', reverseStatus: SMTPD_PEER_CODE.PERM });
  });
  it('numeric PTR data is refused', async () => {
    warnings.length = 0;
    assert.equal((await peerName('192.0.2.12', dns)).status, SMTPD_PEER_CODE.PERM);
    assert.deepEqual(warnings, ['numeric domain name in resolver data: 192.0.2.12']);
  });
  it('failing reverse zone: temporary', async () => {
    assert.deepEqual(await peerName('198.51.100.1', dns), { name: 'unknown', status: SMTPD_PEER_CODE.TEMP, reverseName: 'unknown', reverseStatus: SMTPD_PEER_CODE.TEMP });
  });
});
