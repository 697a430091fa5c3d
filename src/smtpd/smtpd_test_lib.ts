/*
 * smtpd_test_lib - helpers for smtpd's own tests (not used by the daemon)
 *
 * What it does: startFakeCleanup() listens on a UNIX socket in a temporary
 * directory and speaks the server side of the cleanup protocol the way
 * cleanup(8) does on the wire (announce protocol and a queue id, read the
 * flags list, read records up to END, reply status and reason), keeping
 * every received message (flags and records) for the test to inspect; a
 * test can set the reply it gives. startSmtpd() runs smtpdSession() on a
 * loopback TCP port in this process with that fake cleanup and returns
 * the port and the log lines. talk() is a small SMTP client: it sends
 * one chunk (any bytes) and collects replies until a given number of
 * final reply lines arrived, bounded by a timeout.
 *
 * What it does not do: queue files (the system tests run the real
 * cleanup under master).
 *
 * DIAGNOSTICS
 * Throws on timeouts with what arrived so far.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msgSetSinks, type MsgSink } from '../util/msg.js';
import { decodeRecord } from '../global/record.js';
import { REC_TYPE } from '../global/rec_type.js';
import { MailConfig } from '../global/mail_conf.js';
import { SmtpdServer, type SmtpdServerDeps } from './smtpd_server.js';
import { smtpdSession } from './smtpd_proto.js';

export interface FakeMessage {
  queueId: string;
  flags: number;
  records: Array<{ type: number; text: string }>;
}

export interface FakeCleanup {
  path: string;
  messages: FakeMessage[];
  /** Sessions that ended without END (aborted). */
  aborted: number;
  reply: { status: number; reason: string };
  close(): void;
}

let idCounter = 0;

function attrList(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}\0${v}\0`).join('') + '\0', 'latin1');
}

export async function startFakeCleanup(): Promise<FakeCleanup> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-smtpd-fc-'));
  const path = join(dir, 'cleanup');
  const fc: FakeCleanup = {
    path,
    messages: [],
    aborted: 0,
    reply: { status: 0, reason: '' },
    close: () => {
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const srv: Server = createServer((sock: Socket) => {
    const queueId = `FAKE${(++idCounter).toString(16).toUpperCase().padStart(6, '0')}`;
    sock.write(attrList([['protocol', 'cleanup_protocol'], ['queue_id', queueId]]));
    let buf = Buffer.alloc(0);
    let flags = -1;
    const records: Array<{ type: number; text: string }> = [];
    let ended = false;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (flags < 0) {
        const end = buf.indexOf('\0\0');
        if (end < 0) return;
        const parts = buf.subarray(0, end).toString('latin1').split('\0');
        flags = Number(parts[1]);
        buf = buf.subarray(end + 2);
      }
      let off = 0;
      for (;;) {
        const r = decodeRecord(buf, off);
        if (r.kind !== 'record') break;
        records.push({ type: r.type, text: r.data.toString('latin1') });
        off = r.next;
        if (r.type === REC_TYPE.END) {
          ended = true;
          fc.messages.push({ queueId, flags, records });
          sock.write(attrList([['status', String(fc.reply.status)], ['reason', fc.reply.reason]]));
          break;
        }
      }
      buf = buf.subarray(off);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (!ended) fc.aborted += 1;
    });
  });
  await new Promise<void>((resolve) => srv.listen(path, resolve));
  return fc;
}

export interface TestSmtpd {
  port: number;
  server: SmtpdServer;
  /** The log lines of every in-process smtpd (shared). */
  logs: string[];
  /** Resolves when every session so far has ended. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** A MailConfig from settings (no main.cf file). */
export function testConfig(settings: Record<string, string>): MailConfig {
  return new MailConfig(tmpdir(), [], { compatibility_level: '3.6', myhostname: 'postern.example', mydestination: '', smtpd_peername_lookup: 'no', smtpd_error_sleep_time: '0', ...settings });
}

/** Log lines of every in-process smtpd of this test process (one sink for all). */
export const sharedLogs: string[] = [];
let sinkInstalled = false;

/** Runs smtpd in this process on a loopback port; logs are captured. */
export async function startSmtpd(config: MailConfig, deps: SmtpdServerDeps, listenPort = 0): Promise<TestSmtpd> {
  const server = new SmtpdServer(config, deps);
  const logs = sharedLogs;
  if (!sinkInstalled) {
    const sink: MsgSink = { write: (sev, text) => void sharedLogs.push(sev === 'info' ? text : `${sev}: ${text}`) };
    msgSetSinks([sink]);
    sinkInstalled = true;
  }
  const active = new Set<Promise<void>>();
  const srv = createServer((sock) => {
    sock.on('error', () => undefined);
    const p = smtpdSession(server, sock, { peer: { remoteAddress: sock.remoteAddress, remotePort: sock.remotePort, localAddress: sock.localAddress, localPort: sock.localPort } })
      .catch((e: unknown) => void logs.push(`SESSION ERROR ${String(e)}`))
      .finally(() => {
        sock.end();
        active.delete(p);
      });
    active.add(p);
  });
  await new Promise<void>((resolve) => srv.listen(listenPort, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  return {
    port,
    server,
    logs,
    idle: async () => {
      while (active.size > 0) await Promise.all([...active]);
    },
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}

/** Sends `data` and waits until `finals` more final reply lines ("NNN ") arrived; returns the reply lines. */
export function talk(sock: Socket, data: string | Buffer, finals: number, timeoutMs = 5000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let text = '';
    const count = (): number => text.split('\r\n').filter((l) => /^\d{3}( |$)/.test(l)).length;
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(text.split('\r\n').filter((l) => l !== ''));
    };
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (count() >= finals) done(null);
    };
    const onClose = (): void => (count() >= finals ? done(null) : done(new Error(`connection closed; got ${JSON.stringify(text)}`)));
    const timer = setTimeout(() => done(new Error(`timeout; got ${JSON.stringify(text)}`)), timeoutMs);
    sock.on('data', onData);
    sock.on('close', onClose);
    if (finals === 0) done(null);
    if (data.length > 0) sock.write(data);
  });
}

/** Connects and reads the greeting. */
export async function open(port: number): Promise<{ sock: Socket; greeting: string[] }> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => undefined);
  const greeting = await talk(sock, '', 1);
  return { sock, greeting };
}
