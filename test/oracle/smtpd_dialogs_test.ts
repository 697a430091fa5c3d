/*
 * smtpd_dialogs_test - the same SMTP dialogs against the real Postfix smtpd and Postern's
 *
 * What it does: starts a throwaway real Postfix 3.7.11 (master, smtpd,
 * cleanup, trivial-rewrite, anvil, postlogd; no qmgr) with one loopback
 * smtpd service per settings profile (default; XCLIENT/XFORWARD allowed;
 * small limits; bare <LF> rejection; forbidden pipelining; a short
 * timeout; discarded EHLO keywords with a reject footer), and Postern's
 * smtpd in this process with the same main.cf settings and the same
 * profile overrides (mail goes to a fake cleanup server that accepts
 * everything). Every test/dialogs/smtpd_*.chat script is played against
 * both: the expected replies in the scripts were written from the real
 * Postfix, so a script passing on both means equal reply codes,
 * enhanced codes and texts. It also compares the disconnect statistics
 * line of a scripted session, and Postern's log lines for the limits.
 *
 * What it does not do: queue files (test/system/smtpd_master_test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { playChatFile } from '../lib/chat.js';
import { srcPath } from '../lib/paths.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, ORACLE_SMTPD_BASE, type OracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';
import { waitUntil } from '../lib/temp_dir.js';
import { startFakeCleanup, startSmtpd, testConfig, type FakeCleanup, type TestSmtpd } from '../../src/smtpd/smtpd_test_lib.js';
import { SmtpdChecks } from '../../src/smtpd/smtpd_check.js';
import { localResolveClient } from '../../src/global/resolve_clnt.js';
import { dnsLookup } from '../../src/global/dns_lookup.js';

const MAIN: Record<string, string> = {
  ...ORACLE_SMTPD_BASE,
  smtpd_error_sleep_time: '0s',
  smtpd_peername_lookup: 'no',
};

const PROFILES: Record<string, Record<string, string>> = {
  default: {},
  xclient: { smtpd_authorized_xclient_hosts: '127.0.0.1', smtpd_authorized_xforward_hosts: '127.0.0.1' },
  limits: {
    smtpd_recipient_limit: '2',
    smtpd_recipient_overshoot_limit: '1',
    smtpd_hard_error_limit: '4',
    message_size_limit: '2000',
    line_length_limit: '600',
    smtpd_junk_command_limit: '2',
  },
  bare: { smtpd_forbid_bare_newline: 'reject', smtpd_forbid_bare_newline_exclusions: '' },
  pipelining: { smtpd_forbid_unauth_pipelining: 'yes' },
  timeout: { smtpd_timeout: '2s' },
  early: { smtpd_delay_reject: 'no', smtpd_client_restrictions: 'reject' },
  discard: {
    smtpd_discard_ehlo_keywords: 'chunking,dsn,pipelining,size,smtputf8,etrn,vrfy,8bitmime,xclient,xforward,auth,starttls',
    smtpd_helo_required: 'yes',
    disable_vrfy_command: 'yes',
    smtputf8_enable: 'no',
    smtpd_reject_footer: 'foot\\nline2',
  },
};

const DIALOGS: Array<[string, string]> = [
  ['smtpd_basic.chat', 'default'],
  ['smtpd_mail_rcpt.chat', 'default'],
  ['smtpd_data.chat', 'default'],
  ['smtpd_bdat.chat', 'default'],
  ['smtpd_vrfy_etrn.chat', 'default'],
  ['smtpd_xclient.chat', 'xclient'],
  ['smtpd_limits.chat', 'limits'],
  ['smtpd_size.chat', 'limits'],
  ['smtpd_junk.chat', 'limits'],
  ['smtpd_bare_lf.chat', 'bare'],
  ['smtpd_pipelining.chat', 'pipelining'],
  ['smtpd_timeout.chat', 'timeout'],
  ['smtpd_discard.chat', 'discard'],
  ['smtpd_early_reject.chat', 'early'],
];

const VARS = { myhostname: ORACLE_MAIN_BASE.myhostname!, longline: 'a'.repeat(700), bigline: 'b'.repeat(2100), chunk1500: 'c'.repeat(1500), chunk610: 'c'.repeat(610) };

let oracle: OracleConfig;
const oraclePorts = new Map<string, number>();
const ours = new Map<string, TestSmtpd>();
let fc: FakeCleanup;

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (const p of Object.keys(PROFILES)) oraclePorts.set(p, await freePort());
  oracle = makeOracleConfig({
    prefix: 'postern-smtpd-dialogs-',
    ownedDirs: ['data'],
    main: MAIN,
    master: [
      ...Object.entries(PROFILES).map(([p, o]) => `127.0.0.1:${oraclePorts.get(p)} inet n - n - - smtpd ${Object.entries(o).map(([k, v]) => `-o ${k}=${v}`).join(' ')}`),
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'anvil unix - - n - 1 anvil',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  fc = await startFakeCleanup();
  for (const [p, o] of Object.entries(PROFILES)) {
    const config = testConfig({ ...MAIN, ...o });
    const resolve = localResolveClient(config);
    const checks = new SmtpdChecks(config, { resolve, dns: dnsLookup() });
    ours.set(p, await startSmtpd(config, { checks, resolve, cleanupEndpoint: fc.path }));
  }
  await oracle.start();
});

after(async () => {
  for (const t of ours.values()) await t.close();
  fc?.close();
  await oracle?.cleanup();
});

describe('smtpd dialogs, real Postfix and Postern', () => {
  for (const [file, profile] of DIALOGS) {
    it(`${file} (${profile})`, async () => {
      const path = srcPath('test/dialogs', file);
      const run = (port: number): Promise<string[]> => playChatFile(path, { vars: { ...VARS, smtp: `127.0.0.1:${port}` } });
      const [pf, pt] = await Promise.allSettled([run(oraclePorts.get(profile)!), run(ours.get(profile)!.port)]);
      if (pf.status === 'rejected') assert.fail(`real Postfix: ${String(pf.reason)}\n${oracle.readLog().split('\n').slice(-15).join('\n')}`);
      if (pt.status === 'rejected') assert.fail(`Postern: ${String(pt.reason)}\n${ours.get(profile)!.logs.slice(-15).join('\n')}`);
    });
  }

  it('logs the same disconnect statistics and limit lines as Postfix', async () => {
    const disconnects = (text: string[]): string[] => text.filter((l) => /disconnect from /.test(l)).map((l) => l.replace(/^.*disconnect from /, ''));
    const pick = (lines: string[], re: RegExp): string[] =>
      lines
        .filter((l) => re.test(l))
        .map((l) => l.replace(/^.*? postfix\/\w+\[\d+\]: /, '').replace(/^((?:warning: )?)(NOQUEUE|[0-9A-Z]+): /, '$1ID: '));
    const oracleLines = (): string[] => oracle.readLog().split('\n');
    const t = ours.get('limits')!;
    for (const srv of ours.values()) await srv.idle();
    const same = await waitUntil(() => disconnects(oracleLines()).length === disconnects(t.logs).length, 10_000);
    assert.ok(same, `sessions: Postfix ${disconnects(oracleLines()).length}, Postern ${disconnects(t.logs).length}`);
    const want = [/too many errors after/, /timeout after/, /request longer than/, /queue file size limit exceeded/, /exceeds message size limit/, /improper command pipelining/, /bare <LF> received/, /null BDAT/, /non-SMTP command/, /Illegal address syntax/, /disconnect from /];
    for (const re of want) {
      const a = pick(oracleLines(), re).filter((l) => !/\[\d+\]:\d+/.test(l));
      const b = pick(t.logs, re);
      assert.ok(a.length > 0, `oracle logged nothing for ${re}`);
      for (const line of a) assert.ok(b.includes(line), `Postern did not log ${JSON.stringify(line)}; it logged:\n${b.join('\n')}`);
    }
  });
});
