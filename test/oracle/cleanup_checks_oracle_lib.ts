/*
 * cleanup_checks_oracle_lib - a real Postfix with header/body checks, and a way to see what it did to a message
 *
 * What it does: startChecksOracle() starts a throwaway Postfix 3.7.11
 * (no qmgr, so accepted mail stays in incoming, held mail in hold)
 * whose header_checks, mime_header_checks, nested_header_checks and
 * body_checks are the regexp: and pcre: tables given, with three smtpd
 * services on free loopback ports: one per cleanup service ("cleanup"
 * as main.cf says, "cleanup2" and "cleanup3" with the -o overrides
 * given), plus pickup for sendmail(1). submitSmtp() sends a message
 * over a loopback socket speaking SMTP itself (one command at a time;
 * swaks and the pyenv python3 shim cost seconds per run here),
 * submitSendmail() with the real sendmail; both
 * wait until cleanup is done and return the RealOutcome: the SMTP
 * reply to the end of data ("250", or the whole reply), the queue the file
 * landed in (incoming, hold, or none), its content after the Received:
 * header (read with the real postcat), its content_filter, redirect_to
 * and recipients, and cleanup's log lines for the message with the
 * "postfix/cleanup[pid]: " prefix removed (message-id lines and
 * qmgr/bounce connection warnings left out).
 *
 * What it does not do: compare anything (the test does).
 *
 * DIAGNOSTICS
 * Assertion errors naming what did not appear in time, with the log.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { POSTFIX_PROGRAMS, makeOracleConfig, ORACLE_SMTPD_BASE, type OracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';

/** Bound on cleanup finishing one message. */
export const MESSAGE_WAIT_MS = 10_000;
/** How long the log must stay unchanged after cleanup finished a sendmail message (postlogd may lag). */
export const LOG_SETTLE_MS = 100;

export type CleanupService = 'cleanup' | 'cleanup2' | 'cleanup3';

export interface ChecksOracle {
  oracle: OracleConfig;
  ports: Record<CleanupService, number>;
  cleanup(): Promise<void>;
}

export interface RealOutcome {
  /** "250" or "CODE TEXT" of the reply to the end of data (sendmail: "250" when queued, "none" otherwise). */
  reply: string;
  queueId: string;
  queue: 'incoming' | 'hold' | 'none';
  /** Stored content lines after the Received: header; [] when nothing was stored. */
  content: string[];
  filter: string | null;
  redirect: string | null;
  recipients: string[];
  logs: string[];
}

/** Starts the instance: tables are file name → text, written to the config directory. */
export async function startChecksOracle(opts: {
  tables: Record<string, string>;
  main: Record<string, string>;
  cleanup2: Record<string, string>;
  cleanup3: Record<string, string>;
}): Promise<ChecksOracle> {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  const ports = { cleanup: await freePort(), cleanup2: await freePort(), cleanup3: await freePort() };
  const o = (kv: Record<string, string>): string => Object.entries(kv).map(([k, v]) => ` -o ${k}=${v}`).join('');
  const oracle = makeOracleConfig({
    prefix: 'postern-checks-',
    ownedDirs: ['data'],
    main: {
      ...ORACLE_SMTPD_BASE,
      smtpd_error_sleep_time: '0s',
      // No qmgr hands out flow-control tokens: without this cleanup waits 1s per message.
      in_flow_delay: '0s',
      ...opts.main,
    },
    master: [
      `127.0.0.1:${ports.cleanup} inet n - n - - smtpd`,
      `127.0.0.1:${ports.cleanup2} inet n - n - - smtpd -o cleanup_service_name=cleanup2`,
      `127.0.0.1:${ports.cleanup3} inet n - n - - smtpd -o cleanup_service_name=cleanup3`,
      'pickup unix n - n 60 1 pickup',
      'cleanup unix n - n - 0 cleanup',
      `cleanup2 unix n - n - 0 cleanup${o(opts.cleanup2)}`,
      `cleanup3 unix n - n - 0 cleanup${o(opts.cleanup3)}`,
      'rewrite unix - - n - - trivial-rewrite',
      'anvil unix - - n - 1 anvil',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  for (const [name, text] of Object.entries(opts.tables)) writeFileSync(join(oracle.confDir, name), text);
  try {
    await oracle.start();
  } catch (err) {
    await oracle.cleanup();
    throw err;
  }
  return { oracle, ports, cleanup: () => oracle.cleanup() };
}

/** Polls fn every FAST_POLL_MS until it returns a truthy value; fails after `ms` naming `what`. */
async function poll<T>(what: string, fn: () => T | null | undefined | false, ms: number, o: OracleConfig): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}\n${o.readLog()}`);
    await new Promise((r) => setTimeout(r, FAST_POLL_MS));
  }
}

/** Postfix marks a finished queue file with the owner execute bit (MAIL_QUEUE_STAT_READY). */
function fileReady(path: string): boolean {
  try {
    return (statSync(path).mode & 0o100) !== 0;
  } catch {
    return false;
  }
}

function logSize(o: OracleConfig): number {
  try {
    return statSync(o.maillog).size;
  } catch {
    return 0;
  }
}

function logSince(o: OracleConfig, offset: number): string {
  try {
    return readFileSync(o.maillog).subarray(offset).toString('latin1');
  } catch {
    return '';
  }
}

/** cleanup's lines in a log delta, prefixes removed, noise left out. */
export function cleanupLines(delta: string): string[] {
  const out: string[] = [];
  for (const line of delta.split('\n')) {
    const m = /postfix\/cleanup\d?\[\d+\]: (.*)$/.exec(line);
    if (!m) continue;
    const text = m[1]!;
    if (/^[0-9A-F]+: (resent-)?message-id=/.test(text)) continue;
    if (/^warning: (unable to look up public\/qmgr|connect to private\/bounce)/.test(text)) continue;
    out.push(text);
  }
  return out;
}

/** Reads queue file details with the real postcat (-q ID, or a file path); content after the Received: header. */
export async function postcatDetails(
  o: Pick<OracleConfig, 'run'>,
  confDir: string,
  target: string,
): Promise<Pick<RealOutcome, 'content' | 'filter' | 'redirect' | 'recipients'>> {
  const args = target.includes('/') ? ['-c', confDir, target] : ['-c', confDir, '-q', target];
  const r = await o.run(POSTFIX_PROGRAMS.postcat, args);
  assert.equal(r.status, 0, `postcat ${args.join(' ')}: ${r.stderr}`);
  // runProgram decodes UTF-8; the comparison works on bytes (one char each).
  const lines = Buffer.from(r.stdout, 'utf8').toString('latin1').split('\n');
  const start = lines.findIndex((l) => l.startsWith('*** MESSAGE CONTENTS'));
  const end = lines.findIndex((l) => l.startsWith('*** HEADER EXTRACTED'));
  assert.ok(start >= 0 && end > start, `postcat output: ${r.stdout}`);
  const content = lines.slice(start + 1, end);
  let cut = content[0]?.startsWith('Received:') ? 1 : 0;
  while (cut > 0 && cut < content.length && /^[ \t]/.test(content[cut]!)) cut++;
  const field = (name: string): string | null => {
    const l = lines.find((x) => x.startsWith(`${name}: `));
    return l === undefined ? null : l.slice(name.length + 2);
  };
  return {
    content: content.slice(cut),
    filter: field('content_filter'),
    redirect: field('redirect_to'),
    recipients: lines.filter((l) => l.startsWith('recipient: ')).map((l) => l.slice('recipient: '.length)),
  };
}

async function fileOutcome(o: OracleConfig, queueId: string): Promise<Omit<RealOutcome, 'reply' | 'logs' | 'queueId'>> {
  const queue = existsSync(join(o.queueDir, 'incoming', queueId)) ? 'incoming' : existsSync(join(o.queueDir, 'hold', queueId)) ? 'hold' : 'none';
  if (queue === 'none') return { queue, content: [], filter: null, redirect: null, recipients: [] };
  return { queue, ...(await postcatDetails(o, o.confDir, queueId)) };
}

/** How often the SMTP client and the log watchers look. */
export const FAST_POLL_MS = 3;
/** Bound on one SMTP session. */
export const SESSION_MS = 10_000;

/**
 * One SMTP session over a loopback socket, one command at a time (EHLO
 * helo.example, MAIL, RCPT..., DATA, the dot-stuffed message, QUIT);
 * returns "250" or the full reply ("550 5.7.1 text") to the end of data.
 */
async function smtpSession(port: number, sender: string, rcpts: string[], data: Buffer): Promise<string> {
  const sock = connect(port, '127.0.0.1');
  let text = '';
  sock.on('error', () => {});
  sock.on('data', (d: Buffer) => void (text += d.toString('latin1')));
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  const finals = (): string[] => text.split('\r\n').filter((l) => /^\d{3} /.test(l));
  const waitReplies = async (n: number): Promise<string> => {
    const deadline = Date.now() + SESSION_MS;
    while (finals().length < n) {
      assert.ok(Date.now() < deadline && !sock.destroyed, `reply ${n} from smtpd did not come: ${JSON.stringify(text)}`);
      await new Promise((r) => setTimeout(r, FAST_POLL_MS));
    }
    return finals()[n - 1]!;
  };
  const timer = setTimeout(() => sock.destroy(), SESSION_MS);
  try {
    let n = 1;
    await waitReplies(n);
    for (const cmd of ['EHLO helo.example', `MAIL FROM:<${sender}>`, ...rcpts.map((r) => `RCPT TO:<${r}>`), 'DATA']) {
      sock.write(`${cmd}\r\n`);
      const r = await waitReplies(++n);
      assert.match(r, cmd === 'DATA' ? /^354 / : /^250 /, `${cmd}: ${text}`);
    }
    const stuffed = data.toString('latin1').replace(/^\./gm, '..');
    sock.write(Buffer.from(`${stuffed}.\r\n`, 'latin1'));
    const end = await waitReplies(++n);
    sock.write('QUIT\r\n');
    await closed;
    return end.startsWith('250 ') ? '250' : end;
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

/** Sends `message` (LF line ends; sent as CRLF) through the smtpd that uses `service`. */
export async function submitSmtp(c: ChecksOracle, service: CleanupService, sender: string, rcpts: string[], message: string): Promise<RealOutcome> {
  const o = c.oracle;
  const before = logSize(o);
  const reply = await smtpSession(c.ports[service], sender, rcpts, Buffer.from(message.replace(/\r?\n/g, '\r\n'), 'latin1'));
  const delta = await poll(
    'smtpd disconnect',
    () => {
      const d = logSince(o, before);
      return /postfix\/smtpd\[\d+\]: disconnect from/.test(d) ? d : null;
    },
    MESSAGE_WAIT_MS,
    o,
  );
  const id = /: ([0-9A-F]+): client=/.exec(delta);
  assert.ok(id, `no queue id in the log: ${delta}`);
  const queueId = id[1]!;
  return { reply, queueId, ...(await fileOutcome(o, queueId)), logs: cleanupLines(delta) };
}

/** Sends `message` with the real sendmail -f sender rcpts (picked up by pickup, cleaned by "cleanup"). */
export async function submitSendmail(c: ChecksOracle, sender: string, rcpts: string[], message: string): Promise<RealOutcome> {
  const o = c.oracle;
  const before = logSize(o);
  const r = await o.run(POSTFIX_PROGRAMS.sendmail, ['-f', sender, '--', ...rcpts], { input: Buffer.from(message, 'latin1') });
  assert.equal(r.status, 0, `sendmail: ${r.stderr}`);
  const esc = sender.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const queueId = await poll(
    'pickup',
    () => new RegExp(`: ([0-9A-F]+): uid=\\d+ from=<${esc}>`).exec(logSince(o, before))?.[1],
    MESSAGE_WAIT_MS,
    o,
  );
  await poll(
    `cleanup of ${queueId}`,
    () =>
      fileReady(join(o.queueDir, 'incoming', queueId)) ||
      fileReady(join(o.queueDir, 'hold', queueId)) ||
      (new RegExp(`${queueId}: discard: `).test(logSince(o, before)) && !existsSync(join(o.queueDir, 'incoming', queueId))),
    MESSAGE_WAIT_MS,
    o,
  );
  let size = logSize(o);
  let since = Date.now();
  await poll(
    'a quiet log',
    () => {
      const s = logSize(o);
      if (s !== size) {
        size = s;
        since = Date.now();
      }
      return Date.now() - since >= LOG_SETTLE_MS;
    },
    MESSAGE_WAIT_MS,
    o,
  );
  const f = await fileOutcome(o, queueId);
  return { reply: f.queue === 'none' ? 'none' : '250', queueId, ...f, logs: cleanupLines(logSince(o, before)) };
}
