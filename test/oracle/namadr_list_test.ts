/*
 * namadr_list_test - mynetworks decisions of Postern's namadr list against the real smtpd
 *
 * What it does: starts a throwaway real Postfix 3.7.11 (own config, queue
 * and data directories) with one loopback smtpd service per mynetworks
 * setting (master.cf "-o mynetworks=$netsN", netsN defined in main.cf),
 * smtpd_client_restrictions = permit_mynetworks, reject and
 * smtpd_peername_lookup = no (so the client name is "unknown" and no DNS
 * is involved). For every setting it connects from many 127/8 source
 * addresses, sends EHLO, MAIL FROM, RCPT TO and classifies the RCPT reply:
 * 2xx is "permit", 554 ... Client host rejected is "reject", anything
 * else (e.g. 451 after a broken pattern) is "error". The same setting is
 * then built with namadrListInit("mynetworks", ...) and asked about
 * ("unknown", address): a match is permit, no match reject, a match
 * error error (Postfix 3.7 answers 451 4.3.0 Temporary lookup failure
 * when the search reaches a pattern like 127.0.0.1/8). Both must agree
 * for every address, and each setting must produce more than one kind of
 * outcome (so the test can fail).
 * Two more smtpd services let 127.0.0.1 set the client name and address
 * with XCLIENT (smtpd_authorized_xclient_hosts), to compare host names,
 * parent domains (parent_domain_matches_subdomains at its default, which
 * lists mynetworks, and empty), inline: tables and IPv6 networks.
 * The instance is stopped and its directory removed at the end.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { matchParentStyle, namadrListInit } from '../../src/global/namadr_list.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, type OracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';

/** Bound on one SMTP session with the real smtpd. */
const SESSION_MS = 10_000;

type Outcome = 'permit' | 'reject' | 'error';

/** mynetworks settings; FILE and FILE2 become the pattern files' paths, MISSING one that does not exist. */
const SETTINGS: readonly string[] = [
  '!127.0.0.5, 127.0.0.0/29, [127.1.2.3], FILE, !127.2.0.0/16, 127.0.0.0/9',
  '!FILE 127.0.0.0/8',
  'example.com, 127.0.0.16/28 inline:{127.4.4.5=ok} FILE2 127.0.0.1/8',
  '127.0.0.0/29 MISSING 127.0.0.0/8',
];
const FILE_TEXT = '# networks\n127.3.0.0/16 127.4.4.4,127.64.0.0/10\n!127.63.0.0/16\n\n127.32.0.0/11\n';
const FILE2_TEXT = '127.200.1.1\n[127.201.0.0]/16\n';

const ADDRESSES: readonly string[] = [
  '127.0.0.1', '127.0.0.5', '127.0.0.7', '127.0.0.8', '127.0.0.9', '127.0.0.20',
  '127.1.2.3', '127.1.2.4', '127.2.3.4', '127.3.9.9', '127.4.4.4', '127.4.4.5',
  '127.63.0.1', '127.64.0.1', '127.100.0.1', '127.200.1.1', '127.201.7.7', '127.255.255.254',
];

/**
 * mynetworks for the XCLIENT services, which take the client name and
 * address from "XCLIENT NAME=... ADDR=..." (IPv6 and host names too).
 * Service 0 keeps parent_domain_matches_subdomains' default (it lists
 * mynetworks), service 1 empties it.
 */
const XSETTING = 'Example.COM, !bad.example.net, .example.net, inline:{host.example.org=ok}, [FD00::]/64, ![2001:db8::5], [2001:db8::]/32, [::1], 192.0.2.0/24';
const XPARENT = [null, ''] as const;
/** [client name, client address]; "unknown" is sent as NAME=[UNAVAILABLE]. */
const XCLIENTS: ReadonlyArray<readonly [string, string]> = [
  ['example.com', '198.51.100.1'],
  ['mail.example.com', '198.51.100.1'],
  ['badexample.com', '198.51.100.1'],
  ['bad.example.net', '192.0.2.1'],
  ['a.example.net', '198.51.100.1'],
  ['a.b.example.net', '198.51.100.1'],
  ['example.net', '198.51.100.1'],
  ['host.example.org', '198.51.100.1'],
  ['x.host.example.org', '198.51.100.1'],
  ['unknown', '192.0.2.77'],
  ['unknown', '198.51.100.77'],
  ['unknown', 'fd00::1'],
  ['unknown', 'fd00:0:0:1::1'],
  ['unknown', '2001:db8::5'],
  ['unknown', '2001:db8::6'],
  ['unknown', '2001:db9::6'],
  ['unknown', '::1'],
];

let oracle: OracleConfig;
const ports: number[] = [];
const xports: number[] = [];
let settings: string[] = [];

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (let i = 0; i < SETTINGS.length; i++) ports.push(await freePort());
  for (let i = 0; i < XPARENT.length; i++) xports.push(await freePort());
  oracle = makeOracleConfig({
    prefix: 'postern-namadr-',
    ownedDirs: ['data'],
    main: {
      ...ORACLE_MAIN_BASE,
      local_recipient_maps: '',
      alias_maps: '',
      inet_interfaces: '127.0.0.1',
      inet_protocols: 'all',
      smtpd_peername_lookup: 'no',
      smtpd_client_restrictions: 'permit_mynetworks, reject',
      smtpd_relay_restrictions: 'reject_unauth_destination',
      relay_domains: 'example.net',
      relay_recipient_maps: '',
      smtpd_client_connection_count_limit: '0',
      smtpd_client_connection_rate_limit: '0',
      smtpd_error_sleep_time: '0s',
    },
    master: [
      ...ports.map((p, i) => `127.0.0.1:${p} inet n - n - - smtpd -o mynetworks=$nets${i}`),
      ...xports.map(
        (p, i) =>
          `127.0.0.1:${p} inet n - n - - smtpd -o mynetworks=$xnets -o smtpd_authorized_xclient_hosts=127.0.0.1` +
          (XPARENT[i] === null ? '' : ` -o parent_domain_matches_subdomains=${XPARENT[i]}`),
      ),
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'anvil unix - - n - 1 anvil',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  const file = join(oracle.root, 'nets.txt');
  const file2 = join(oracle.root, 'nets2.txt');
  writeFileSync(file, FILE_TEXT);
  writeFileSync(file2, FILE2_TEXT);
  const missing = join(oracle.root, 'missing.txt');
  settings = SETTINGS.map((s) => s.replace('FILE2', file2).replace('FILE', file).replace('MISSING', missing));
  const edits = [...settings.map((s, i) => `nets${i}=${s}`), `xnets=${XSETTING}`];
  const r = await oracle.postconf(['-e', ...edits]);
  assert.equal(r.status, 0, r.stderr);
  await oracle.start();
});

after(async () => {
  await oracle?.cleanup();
});


/** One session from `source`: the RCPT TO reply, classified; bounded by SESSION_MS. */
async function postfixDecision(port: number, source: string, xclient?: string): Promise<{ outcome: Outcome; reply: string }> {
  const sock = connect({ port, host: '127.0.0.1', localAddress: source });
  let text = '';
  sock.on('error', () => {});
  sock.on('data', (d: Buffer) => void (text += d.toString('latin1')));
  const finals = (): string[] => text.split('\r\n').filter((l) => /^\d{3} /.test(l));
  const waitReplies = async (n: number): Promise<boolean> => {
    const t0 = Date.now();
    while (finals().length < n) {
      assert.ok(Date.now() - t0 < SESSION_MS, `smtpd from ${source} sent ${JSON.stringify(text)}\n${oracle.readLog()}`);
      if (sock.destroyed) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  };
  const timer = setTimeout(() => sock.destroy(), SESSION_MS);
  try {
    const commands = ['EHLO client.example', 'MAIL FROM:<a@example.com>', 'RCPT TO:<c@example.net>'];
    if (xclient !== undefined) commands.unshift(`XCLIENT ${xclient}`);
    if (!(await waitReplies(1))) return { outcome: 'error', reply: text };
    for (let k = 0; k < commands.length; k++) {
      sock.write(`${commands[k]}\r\n`);
      if (!(await waitReplies(k + 2))) return { outcome: 'error', reply: text };
    }
    sock.write('QUIT\r\n');
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
  if (xclient !== undefined) assert.match(finals()[1] ?? '', /^220 /, `XCLIENT ${xclient} refused: ${text}`);
  const reply = finals()[xclient === undefined ? 3 : 4] ?? '';
  if (reply.startsWith('2')) return { outcome: 'permit', reply };
  if (/^554 5\.7\.1 .*Client host rejected/.test(reply)) return { outcome: 'reject', reply };
  return { outcome: 'error', reply };
}

describe('mynetworks: Postern namadr list vs real smtpd permit_mynetworks', () => {
  for (let i = 0; i < SETTINGS.length; i++) {
    it(`setting ${i}: ${SETTINGS[i]}`, async () => {
      const flags = matchParentStyle('mynetworks', 'debug_peer_list,fast_flush_domains,mynetworks');
      const list = namadrListInit('mynetworks', flags, settings[i]!);
      const seen = new Set<Outcome>();
      // Sessions run side by side: one smtpd process each (maxproc 100).
      const decisions = await Promise.all(ADDRESSES.map((addr) => postfixDecision(ports[i]!, addr)));
      ADDRESSES.forEach((addr, k) => {
        const pf = decisions[k]!;
        const hit = list.match('unknown', addr);
        const ours: Outcome = hit ? 'permit' : list.error !== null ? 'error' : 'reject';
        assert.equal(ours, pf.outcome, `${addr} with mynetworks=${settings[i]}: Postfix said ${pf.reply}`);
        seen.add(pf.outcome);
      });
      assert.ok(seen.size > 1, `setting ${i} gave only ${[...seen].join(', ')}`);
    });
  }
});

describe('mynetworks with XCLIENT names and addresses: Postern vs real smtpd', () => {
  for (let i = 0; i < XPARENT.length; i++) {
    it(`parent_domain_matches_subdomains ${XPARENT[i] === null ? 'default' : `= "${XPARENT[i]}"`}`, async () => {
      const pdms = XPARENT[i] ?? (await oracle.postconf(['-dh', 'parent_domain_matches_subdomains'])).stdout.trim();
      const list = namadrListInit('mynetworks', matchParentStyle('mynetworks', pdms), XSETTING);
      const decisions = await Promise.all(
        XCLIENTS.map(([name, addr]) => {
          const xname = name === 'unknown' ? '[UNAVAILABLE]' : name;
          const xaddr = addr.includes(':') ? `IPV6:${addr}` : addr;
          return postfixDecision(xports[i]!, '127.0.0.1', `NAME=${xname} ADDR=${xaddr}`);
        }),
      );
      const seen = new Set<Outcome>();
      XCLIENTS.forEach(([name, addr], k) => {
        const pf = decisions[k]!;
        const hit = list.match(name, addr);
        const ours: Outcome = hit ? 'permit' : list.error !== null ? 'error' : 'reject';
        assert.equal(ours, pf.outcome, `${name}[${addr}]: Postfix said ${pf.reply}`);
        seen.add(pf.outcome);
      });
      assert.ok(seen.has('permit') && seen.has('reject'), `only ${[...seen].join(', ')}`);
    });
  }
});
