/*
 * smtpd_check_oracle_test - Postern's smtpd restrictions against the real smtpd
 *
 * What it does: starts a dnsmasq on DNS_ADDR:53 serving the zone of
 * smtpd_check_oracle_cases.ts, and a throwaway real Postfix 3.7.11 whose
 * master runs in a private mount namespace (unshare -m, as root) where
 * /etc/resolv.conf names that dnsmasq, so the real smtpd's DNS checks
 * (reject_unknown_*, RBL, RHSBL, DNSWL) see the same answers as ours.
 * Every case is an smtpd service on its own loopback port with its
 * restriction settings (master.cf -o name=$cN_name, the values in
 * main.cf) and syslog_name postfix/cN. Each session changes the client
 * identity with XCLIENT (NAME, REVERSE_NAME, ADDR), then EHLO, ETRN,
 * MAIL, RCPT..., DATA and "." as the case says. The same session is
 * replayed on SmtpdChecks (same settings, the real instance's
 * trivial-rewrite as resolver, dns_lookup.ts pointed at the dnsmasq),
 * calling the checks where Postfix's smtpd.c calls smtpd_check_*. Every
 * reply of ours must equal Postfix's reply (code, enhanced code, text);
 * where we accept, Postfix must accept too; and the "QUEUEID: reject|
 * reject_warning|warn|info|hold|discard|filter|redirect|bcc|permit: ..."
 * lines of both must be the same (queue ids normalized; "permit" lines
 * come from smtpd_log_access_permit_actions). A last case checks
 * that a configuration without relay protection is refused with
 * Postfix's fatal message.
 *
 * DIAGNOSTICS
 * Assertion failures show both replies, the session and the oracle's log.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { MailConfig } from '../../src/global/mail_conf.js';
import { dnsLookup } from '../../src/global/dns_lookup.js';
import { resolveClient } from '../../src/global/resolve_clnt.js';
import { SmtpdChecks } from '../../src/smtpd/smtpd_check.js';
import { SMTPD_PEER_CODE, SmtpdState } from '../../src/smtpd/smtpd_state.js';
import { FatalError, msgAddSink, msgSetSinks, msgSinks, setFatalHandler } from '../../src/util/msg.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, type OracleConfig, POSTFIX_PROGRAMS } from '../lib/postfix_oracle.js';
import { freePort, waitFor, waitForPort } from '../lib/proc.js';
import { CASES, COMMON_MAIN, DNS_ADDR, DNS_RECORDS, OPEN_RELAY_SETTINGS, type OracleCase, type OracleSession, TABLES } from './smtpd_check_oracle_cases.js';

/** Bound on one SMTP exchange with the real smtpd. */
const REPLY_MS = 20_000;
/** How long the oracle's log may lag behind its replies. */
const LOG_WAIT_MS = 15_000;
const DNSMASQ = '/usr/sbin/dnsmasq';
const ACTION_RE = /^(\S+): (reject|reject_warning|warn|info|hold|discard|filter|redirect|bcc|permit): ((?:CONNECT|EHLO|HELO|ETRN|MAIL|RCPT|DATA|END-OF-MESSAGE) from .*)$/;
/** Replies after which the real smtpd hangs up. */
const HANGUP_RE = /^[45]21 /;

let oracle: OracleConfig;
let dnsmasq: ChildProcess | null = null;
let tablesDir = '';
let resolvFile = '';
const ports: number[] = [];
let openRelayPort = 0;

function expandT(v: string): string {
  return v.replace(/\$T\//g, `${tablesDir}/`);
}

function classSettings(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of CASES) for (const [k, v] of Object.entries(c.settings)) if (k.startsWith('cls_')) out[k] = v;
  return out;
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance in a mount namespace and needs root');
  for (let i = 0; i < CASES.length; i++) ports.push(await freePort());
  openRelayPort = await freePort();
  oracle = makeOracleConfig({ prefix: 'postern-smtpd-check-', ownedDirs: ['data'] });
  tablesDir = join(oracle.root, 'tables');
  mkdirSync(tablesDir);
  for (const [name, text] of Object.entries(TABLES)) writeFileSync(join(tablesDir, name), text);
  resolvFile = join(oracle.root, 'resolv.conf');
  writeFileSync(resolvFile, `nameserver ${DNS_ADDR}\n`);

  dnsmasq = spawn(
    DNSMASQ,
    ['--no-resolv', '--no-hosts', '--keep-in-foreground', `--listen-address=${DNS_ADDR}`, '--port=53', '--bind-interfaces', '--local=/test/', ...DNS_RECORDS],
    { stdio: 'ignore' },
  );
  const probe = dnsLookup({ resolvConf: resolvFile });
  await waitFor('dnsmasq', async () => (await probe.query('helo.good.test', 'A')).status === 'ok');

  const main: Record<string, string> = { ...ORACLE_MAIN_BASE, ...classSettings() };
  for (const [k, v] of Object.entries(COMMON_MAIN)) main[k] = expandT(v);
  const master: string[] = [];
  CASES.forEach((c, i) => {
    let line = `127.0.0.1:${ports[i]} inet n - n - - smtpd -o syslog_name=postfix/c${i}`;
    for (const [k, v] of Object.entries(c.settings)) {
      if (k.startsWith('cls_')) continue;
      main[`c${i}_${k}`] = expandT(v);
      line += ` -o ${k}=$c${i}_${k}`;
    }
    master.push(line);
  });
  let open = `127.0.0.1:${openRelayPort} inet n - n - - smtpd -o syslog_name=postfix/open`;
  for (const [k, v] of Object.entries(OPEN_RELAY_SETTINGS)) {
    main[`open_${k}`] = expandT(v);
    open += ` -o ${k}=$open_${k}`;
  }
  master.push(open);
  master.push('cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', 'anvil unix - - n - 1 anvil', 'postlog unix-dgram n - n - 1 postlogd');
  const { writeMainCf, writeMasterCf } = await import('../lib/postfix_oracle.js');
  writeMainCf(oracle.confDir, {
    queue_directory: oracle.queueDir,
    data_directory: oracle.dataDir,
    maillog_file: oracle.maillog,
    maillog_file_prefixes: oracle.root,
    ...main,
  });
  writeMasterCf(oracle.confDir, master);

  const helper = fileURLToPath(new URL('./smtpd_check_oracle_resolv.js', import.meta.url));
  const r = await oracle.run('unshare', ['-m', '--propagation', 'private', process.execPath, helper, resolvFile, POSTFIX_PROGRAMS.postfix, '-c', oracle.confDir, 'start']);
  assert.equal(r.status, 0, `postfix start in a mount namespace failed: ${r.stderr}\n${oracle.readLog()}`);
  for (const p of ports) await waitForPort(p);
});

after(async () => {
  if (oracle) {
    await oracle.run(POSTFIX_PROGRAMS.postfix, ['-c', oracle.confDir, 'stop']);
    await oracle.cleanup();
  }
  if (dnsmasq && dnsmasq.exitCode === null) dnsmasq.kill('SIGTERM');
});

/** A line-oriented SMTP client for the real smtpd: send() returns the final reply line. */
async function smtpClient(port: number): Promise<{ send(line: string): Promise<string>; close(): void; greeting: string }> {
  const sock = connect({ port, host: '127.0.0.1' });
  let buf = '';
  const finals: string[] = [];
  sock.on('error', () => {});
  sock.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let nl: number;
    while ((nl = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      if (/^\d{3}( |$)/.test(line)) finals.push(line);
    }
  });
  let seen = 0;
  const next = async (what: string): Promise<string> => {
    const t0 = Date.now();
    while (finals.length <= seen) {
      assert.ok(Date.now() - t0 < REPLY_MS && !sock.destroyed, `no reply to ${what} from port ${port}\n${oracle.readLog().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    return finals[seen++]!;
  };
  const greeting = await next('connect');
  return {
    greeting,
    send: async (line: string) => {
      sock.write(`${line}\r\n`);
      return next(line);
    },
    close: () => sock.destroy(),
  };
}

type Step = { what: string; pf: string; ours: string | null };

function xclientValue(v: string): string {
  return v;
}

/** Runs a session on the real smtpd; returns the replies by step name. */
async function postfixSession(port: number, s: OracleSession): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const cl = await smtpClient(port);
  try {
    const x = `XCLIENT NAME=${xclientValue(s.client.name)} REVERSE_NAME=${xclientValue(s.client.reverse ?? s.client.name)} ADDR=${s.client.addr.includes(':') ? `IPV6:${s.client.addr}` : s.client.addr}`;
    const xr = await cl.send(x);
    assert.match(xr, /^220 /, `${x}: ${xr}`);
    const ehlo = await cl.send(`EHLO ${s.helo}`);
    out.set('ehlo', ehlo);
    if (HANGUP_RE.test(ehlo)) return out;
    if (s.etrn !== undefined) {
      const e = await cl.send(`ETRN ${s.etrn}`);
      out.set('etrn', e);
      if (HANGUP_RE.test(e)) return out;
    }
    const mail = await cl.send(`MAIL FROM:<${s.sender}>`);
    out.set('mail', mail);
    if (!mail.startsWith('2')) return out;
    let accepted = 0;
    for (let i = 0; i < s.rcpts.length; i++) {
      const r = await cl.send(`RCPT TO:<${s.rcpts[i]}>`);
      out.set(`rcpt ${i} ${s.rcpts[i]}`, r);
      if (HANGUP_RE.test(r)) return out;
      if (r.startsWith('2')) accepted++;
    }
    if (s.data && accepted > 0) {
      const d = await cl.send('DATA');
      out.set('data', d);
      if (HANGUP_RE.test(d)) return out;
      if (d.startsWith('354')) out.set('eod', await cl.send('Subject: test\r\n\r\nbody\r\n.'));
    }
    await cl.send('QUIT');
  } finally {
    cl.close();
  }
  return out;
}

function peerCode(name: string): { name: string; status: 2 | 4 | 5 } {
  if (name === '[UNAVAILABLE]') return { name: 'unknown', status: SMTPD_PEER_CODE.PERM };
  if (name === '[TEMPUNAVAIL]') return { name: 'unknown', status: SMTPD_PEER_CODE.TEMP };
  return { name, status: SMTPD_PEER_CODE.OK };
}

/** The same session on SmtpdChecks, calling the checks where smtpd.c does. */
async function ourSession(checks: SmtpdChecks, config: MailConfig, s: OracleSession, pf: Map<string, string>): Promise<Step[]> {
  const steps: Step[] = [];
  const state = new SmtpdState(config);
  const n = peerCode(s.client.name);
  const rv = peerCode(s.client.reverse ?? s.client.name);
  state.setClient(n.name, s.client.addr, '12345');
  state.nameStatus = n.status;
  state.reverseName = rv.name;
  state.reverseNameStatus = rv.status;
  state.protocol = 'SMTP';
  const step = (what: string, ours: string | null): boolean => {
    steps.push({ what, pf: pf.get(what) ?? '(not sent)', ours });
    return ours !== null && HANGUP_RE.test(ours);
  };
  state.where = 'EHLO';
  const helo = await checks.checkHelo(state, s.helo);
  if (step('ehlo', helo)) return steps;
  if (helo === null) {
    state.heloName = s.helo;
    state.protocol = 'ESMTP';
  }
  if (s.etrn !== undefined) {
    state.where = 'ETRN';
    if (step('etrn', await checks.checkEtrn(state, s.etrn))) return steps;
  }
  state.where = 'MAIL';
  const mail = await checks.checkMail(state, s.sender);
  step('mail', mail);
  if (mail !== null) return steps;
  state.sender = s.sender;
  state.where = 'RCPT';
  for (let i = 0; i < s.rcpts.length; i++) {
    const r = await checks.checkRcpt(state, s.rcpts[i]!);
    if (step(`rcpt ${i} ${s.rcpts[i]}`, r)) return steps;
    if (r === null) {
      state.rcptCount++;
      if (state.recipient === null) state.recipient = s.rcpts[i]!;
      if (state.queueId === null) state.queueId = 'QID';
    }
  }
  if (s.data && state.rcptCount > 0) {
    state.where = 'DATA';
    const d = await checks.checkData(state);
    if (step('data', d)) return steps;
    if (d === null) {
      state.where = 'END-OF-MESSAGE';
      step('eod', await checks.checkEod(state));
    }
  }
  return steps;
}

function ourConfig(c: OracleCase | null, extra: Record<string, string> = {}): MailConfig {
  const o: Record<string, string> = { ...ORACLE_MAIN_BASE, ...classSettings() };
  for (const [k, v] of Object.entries(COMMON_MAIN)) o[k] = expandT(v);
  for (const [k, v] of Object.entries(c?.settings ?? {})) o[k] = expandT(v);
  for (const [k, v] of Object.entries(extra)) o[k] = expandT(v);
  o.queue_directory = oracle.queueDir;
  return new MailConfig(oracle.confDir, [], o);
}

/** Postfix's action lines of service postfix/cN, normalized. */
function postfixActions(tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(` postfix/${tag}/smtpd\\[\\d+\\]: (.*)$`);
  for (const line of oracle.readLog().split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const a = ACTION_RE.exec(m[1]!);
    if (a) out.push(`${a[1] === 'NOQUEUE' ? 'NOQUEUE' : 'QID'}: ${a[2]}: ${a[3]}`);
  }
  return out;
}

describe('smtpd restrictions: SmtpdChecks vs the real smtpd (replies and log lines)', () => {
  CASES.forEach((c, i) => {
    it(`${c.id}: ${c.sessions.length} sessions`, async () => {
      const config = ourConfig(c);
      const ours: string[] = [];
      const saved = [...msgSinks()];
      msgAddSink({
        write: (sev, text) => {
          const a = sev === 'info' ? ACTION_RE.exec(text) : null;
          if (a) ours.push(`${a[1] === 'NOQUEUE' ? 'NOQUEUE' : 'QID'}: ${a[2]}: ${a[3]}`);
        },
      });
      try {
        const checks = new SmtpdChecks(config, {
          resolve: resolveClient(config, { endpoint: join(oracle.queueDir, 'private', 'rewrite') }),
          dns: dnsLookup({ resolvConf: resolvFile }),
          sleep: async () => {},
        });
        let differences = 0;
        const kinds = new Set<string>();
        // The real smtpd's sessions run side by side (one smtpd process each); ours one by one.
        const pfAll = await Promise.all(c.sessions.map((s) => postfixSession(ports[i]!, s)));
        for (let k = 0; k < c.sessions.length; k++) {
          const s = c.sessions[k]!;
          for (const st of await ourSession(checks, config, s, pfAll[k]!)) {
            kinds.add(st.ours === null ? 'accept' : st.ours.slice(0, 1));
            if (process.env.SMTPD_CHECK_TRACE === c.id) process.stderr.write(`${st.what}: ${st.pf} | ${st.ours ?? '(accept)'}\n`);
            const ok = st.ours === null ? /^(2|3|458|459)/.test(st.pf) : st.pf === st.ours;
            if (!ok) {
              differences++;
              process.stderr.write(`[${c.id}] ${JSON.stringify(s.client)} helo=${s.helo} from=<${s.sender}> ${st.what}\n  postfix: ${st.pf}\n  postern: ${st.ours ?? '(accept)'}\n`);
            }
          }
        }
        if (differences > 0) {
          const warnings = oracle.readLog().split('\n').filter((l) => l.includes(`postfix/c${i}/`) && / (warning|fatal|error): /.test(l));
          process.stderr.write(`[${c.id}] oracle warnings:\n${[...new Set(warnings.map((l) => l.replace(/^.*?: /, '')))].slice(0, 20).join('\n')}\n`);
        }
        assert.equal(differences, 0, `${differences} replies differ in case ${c.id} (see stderr)`);
        assert.ok(kinds.size > 1, `case ${c.id} produced only ${[...kinds].join(',')}`);
        const pfLines = await waitFor(
          `postfix/c${i} log lines`,
          () => {
            const l = postfixActions(`c${i}`);
            return l.length >= ours.length ? l : null;
          },
          LOG_WAIT_MS,
        ).catch(() => postfixActions(`c${i}`));
        assert.deepEqual([...ours].sort(), [...pfLines].sort(), `log lines differ in case ${c.id}`);
      } finally {
        msgSetSinks(saved);
      }
    });
  });

  it('refuses a configuration without relay protection, as Postfix', async () => {
    const sock = connect({ port: openRelayPort, host: '127.0.0.1' });
    sock.on('error', () => {});
    sock.setTimeout(REPLY_MS, () => sock.destroy());
    const pfFatal = await waitFor('the oracle smtpd fatal line', () => {
      const m = / postfix\/open\/smtpd\[\d+\]: fatal: (.*)$/m.exec(oracle.readLog());
      return m ? m[1]! : null;
    });
    let ours = '';
    setFatalHandler((_sev, text) => {
      ours = text;
      throw new FatalError("fatal", text);
    });
    try {
      assert.throws(
        () => new SmtpdChecks(ourConfig(null, OPEN_RELAY_SETTINGS), { resolve: { resolve: async () => ({ transport: '', nexthop: '', recipient: '', flags: 0 }) }, dns: dnsLookup({ resolvConf: resolvFile }) }),
        FatalError,
      );
    } finally {
      setFatalHandler(null);
    }
    sock.destroy();
    assert.equal(ours, pfFatal);
  });
});
