/*
 * cleanup_addr_error_test - table errors and bad parameters in cleanup's address stages, against the real cleanup(8)
 *
 * One throwaway real Postfix runs a cleanup service per case (master.cf
 * -o settings, and -o syslog_name so its log lines can be told apart);
 * for the table cases an smtpd per case on loopback hands it the mail
 * Python smtplib sends.
 *
 * Table errors: canonical_maps = fail:, virtual_alias_maps = fail:,
 * sender_bcc_maps = fail:, and masquerade_exceptions naming a file that
 * does not exist. The real cleanup refuses the message and logs why;
 * Postern's address stages, given the same settings and the same
 * envelope, must reject with CleanupAddrError (status CLEANUP_STAT.WRITE,
 * and for virtual_alias_maps the reason "4.6.0 Alias expansion error")
 * after logging the same first diagnostic, queue id aside. Postfix goes
 * on after the first error and logs more for the same message; Postern
 * stops at the first.
 *
 * Bad parameters: canonical_classes, sender_canonical_classes,
 * masquerade_classes, propagate_unmatched_extensions. A connection to
 * the service makes master start the real cleanup, which dies with a
 * fatal error; cleanupAddrInit() must throw
 * CleanupAddrConfigError with the same text.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../src/global/cleanup_user.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { type MsgSink, msgSetSinks } from '../../src/util/msg.js';
import {
  CleanupAddrConfigError,
  CleanupAddrError,
  cleanupAddrInit,
  cleanupAddrRecipient,
  cleanupAddrSender,
  cleanupDupFilter,
} from '../../src/cleanup/cleanup_addr.js';
import { localAddrRewriter } from '../../src/cleanup/cleanup_rewrite.js';
import { runSmtplib } from '../lib/peers.js';
import { ORACLE_MAIN_BASE, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';
import { waitUntil } from '../lib/temp_dir.js';

const LOG_WAIT_MS = 20_000;
const CONNECT_ATTEMPTS = 20;
const CONNECT_PAUSE_MS = 250;
const MODEL_QUEUE_ID = 'QID';
const SENDER = 's@remote.example';
const RECIPIENT = 'r@remote.example';

interface ErrorCase {
  /** Service and syslog name suffix. */
  id: string;
  /** The cleanup service's -o settings (no white space in values). */
  settings: Record<string, string>;
  /** Table error cases: the CleanupAddrError reason; config cases: undefined. */
  reason?: string | null;
}

const TABLE_CASES: readonly ErrorCase[] = [
  { id: 'canon', settings: { canonical_maps: 'fail:canonical' }, reason: null },
  { id: 'virt', settings: { virtual_alias_maps: 'fail:virtual' }, reason: '4.6.0 Alias expansion error' },
  { id: 'sbcc', settings: { sender_bcc_maps: 'fail:sender_bcc' }, reason: null },
  { id: 'masq', settings: { masquerade_domains: 'remote.example', masquerade_exceptions: '/nonexistent/postern-masquerade-exceptions' }, reason: null },
];

const CONFIG_CASES: readonly ErrorCase[] = [
  { id: 'cclass', settings: { canonical_classes: 'envelope_sender,bogus' } },
  { id: 'sclass', settings: { sender_canonical_classes: 'envelope_recipient' } },
  { id: 'mclass', settings: { masquerade_classes: 'header_sender,x' } },
  { id: 'eprop', settings: { propagate_unmatched_extensions: 'Canonical' } },
];

const ALL_CASES = [...TABLE_CASES, ...CONFIG_CASES];

let oracle: OracleConfig;
const ports = new Map<string, number>();
let configSockets: Socket[] = [];

/** The log lines of one case's cleanup service, without the "postfix/ID/cleanup[pid]: " tag. */
function caseLog(id: string): string[] {
  const re = new RegExp(`postfix/${id}/cleanup\\[\\d+\\]: (.*)$`);
  return oracle
    .readLog()
    .split('\n')
    .map((l) => re.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

/** The first diagnostic about a message (queue id removed), or null. */
function firstDiagnostic(id: string): string | null {
  for (const line of caseLog(id)) {
    const m = /^(?:warning: )?[0-9A-F]+: (.*)$/.exec(line);
    if (m && !m[1]!.startsWith('message-id=')) return m[1]!;
  }
  return null;
}

function fatal(id: string): string | null {
  for (const line of caseLog(id)) if (line.startsWith('fatal: ')) return line.slice('fatal: '.length);
  return null;
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  assert.ok(existsSync(POSTFIX_PROGRAMS.postfix), `${POSTFIX_PROGRAMS.postfix} is missing: install the postfix package`);
  const master = ['rewrite unix - - n - - trivial-rewrite', 'anvil unix - - n - 1 anvil', 'postlog unix-dgram n - n - 1 postlogd'];
  for (const c of ALL_CASES) {
    const port = await freePort();
    ports.set(c.id, port);
    const o = Object.entries({ ...c.settings, syslog_name: `postfix/${c.id}` })
      .map(([k, v]) => ` -o ${k}=${v}`)
      .join('');
    master.push(`c_${c.id} unix n - n - 0 cleanup${o}`);
    if (TABLE_CASES.includes(c)) master.push(`127.0.0.1:${port} inet n - n - - smtpd -o cleanup_service_name=c_${c.id}`);
  }
  oracle = makeOracleConfig({
    prefix: 'postern-cleanup-addr-error-',
    // A foreground master (no "postfix start" and its checks) needs these made.
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'queue/incoming', 'data'],
    main: {
      ...ORACLE_MAIN_BASE,
      myorigin: 'origin.example',
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      smtpd_peername_lookup: 'no',
      local_recipient_maps: '',
      alias_maps: '',
      smtpd_client_connection_count_limit: '0',
      smtpd_client_connection_rate_limit: '0',
      in_flow_delay: '0s',
    },
    master,
  });
  await oracle.startMaster(join(oracle.queueDir, 'private', 'rewrite'));
  // The bad-parameter cleanups die while starting: a connection to their
  // socket is enough to make master start one. The sockets are closed in after().
  configSockets = await Promise.all(CONFIG_CASES.map((c) => connectWhenReady(join(oracle.queueDir, 'public', `c_${c.id}`))));
  await Promise.all(
    TABLE_CASES.map(async (c) => {
      const send = () => runSmtplib({ port: ports.get(c.id)!, from: SENDER, to: [RECIPIENT], message: 'Subject: error case\r\n\r\nbody\r\n' });
      let r = await send();
      for (let i = 0; i < CONNECT_ATTEMPTS && r.error?.type === 'ConnectionRefusedError'; i++) {
        await new Promise((res) => setTimeout(res, CONNECT_PAUSE_MS));
        r = await send();
      }
      assert.ok(!r.ok, `the real Postfix accepted the ${c.id} message`);
    }),
  );
  const logged = await waitUntil(
    () => TABLE_CASES.every((c) => firstDiagnostic(c.id) !== null) && CONFIG_CASES.every((c) => fatal(c.id) !== null),
    LOG_WAIT_MS,
  );
  assert.ok(logged, `a real cleanup logged nothing:\n${oracle.readLog()}`);
});

after(async () => {
  msgSetSinks([]);
  for (const sock of configSockets) sock.destroy();
  await oracle?.cleanup();
});

/** Connects to a UNIX socket once master has made it (bounded by CONNECT_ATTEMPTS). */
async function connectWhenReady(path: string): Promise<Socket> {
  for (let i = 0; ; i++) {
    const sock = await new Promise<Socket | null>((resolve) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(null));
    });
    if (sock) {
      sock.on('error', () => undefined);
      return sock;
    }
    assert.ok(i < CONNECT_ATTEMPTS, `${path} never accepted a connection\n${oracle.readLog()}`);
    await new Promise((res) => setTimeout(res, CONNECT_PAUSE_MS));
  }
}

function configFor(c: ErrorCase) {
  return loadMailConfig({ configDir: oracle.confDir, overrides: c.settings });
}

for (const c of TABLE_CASES) {
  test(`a ${Object.keys(c.settings).at(-1)} lookup error refuses the message as the real cleanup does`, async () => {
    const expected = firstDiagnostic(c.id);
    assert.ok(expected !== null);
    const config = configFor(c);
    const deps = cleanupAddrInit(config, localAddrRewriter(config));
    const ctx = { queueId: MODEL_QUEUE_ID, flags: CLEANUP_FLAG.MASK_EXTERNAL, smtputf8: 0 };
    const dups = cleanupDupFilter(deps);
    const said: string[] = [];
    const sink: MsgSink = { write: (_severity, text) => void (text.startsWith(`${MODEL_QUEUE_ID}: `) && said.push(text)) };
    msgSetSinks([sink]);
    let error: unknown = null;
    try {
      await cleanupAddrSender(deps, ctx, dups, SENDER);
      await cleanupAddrRecipient(deps, ctx, dups, { recipient: RECIPIENT, orcpt: RECIPIENT, dsnOrcpt: '', dsnNotify: 0 });
    } catch (e) {
      error = e;
    } finally {
      msgSetSinks([]);
    }
    assert.ok(error instanceof CleanupAddrError, `Postern accepted the message: ${String(error)}`);
    assert.equal(error.status, CLEANUP_STAT.WRITE);
    assert.equal(error.reason, c.reason);
    assert.deepEqual(said, [`${MODEL_QUEUE_ID}: ${expected}`]);
  });
}

for (const c of CONFIG_CASES) {
  test(`a bad ${Object.keys(c.settings)[0]} value is fatal with the real cleanup's text`, () => {
    const expected = fatal(c.id);
    assert.ok(expected !== null);
    const config = configFor(c);
    assert.throws(() => cleanupAddrInit(config, localAddrRewriter(config)), (e: unknown) => e instanceof CleanupAddrConfigError && e.message === expected);
  });
}
