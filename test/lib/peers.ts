/*
 * peers - real SMTP programs as the other end of a test: swaks, Python smtplib, smtp-sink, smtp-source
 *
 * What it does: runSwaks() and runSmtplib() send mail as a client would
 * (swaks from the Debian package, Python's smtplib through python3) and
 * return what the server answered; runSmtpSource() runs Postfix's
 * smtp-source load generator; startSmtpSink() runs Postfix's smtp-sink on
 * a free loopback port as a far end that captures every message to a dump
 * file, and counts and parses what it received. Everything runs with a
 * timeout and is killed after it.
 *
 * What it does not do: TLS or AUTH (later issues), judge the replies
 * (tests assert), or skip: a missing program fails the calling test with
 * the package to install.
 *
 * DIAGNOSTICS
 * startSmtpSink() throws when smtp-sink does not listen in time (with
 * its stderr); runSmtplib() throws when the Python helper prints no
 * result (with its stderr); SmtpSink.waitForMessages() throws saying how
 * many messages came of how many awaited.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { type CommandResult, runProgram } from './paths.js';
import { freePort, portAccepts, waitFor } from './proc.js';

/** Where the Debian packages put the peer programs; python3 is looked up on PATH. */
export const PEER_PROGRAMS = {
  smtpSink: '/usr/sbin/smtp-sink',
  smtpSource: '/usr/sbin/smtp-source',
  swaks: '/usr/bin/swaks',
  python3: 'python3',
} as const;

/** Bound on one client run (swaks, smtplib, smtp-source) unless the caller gives one. */
export const PEER_TIMEOUT_MS = 30_000;
/** Bound on smtp-sink listening after it was started. */
export const SINK_START_MS = 10_000;
/** Bound on smtp-sink exiting after SIGTERM before it gets SIGKILL. */
export const SINK_STOP_MS = 5_000;
/** How often startSmtpSink() tries a fresh port when the one it picked was taken meanwhile. */
export const SINK_BIND_ATTEMPTS = 3;
/** The unprivileged user smtp-sink switches to when started as root (it insists on one). */
export const SINK_USER = 'nobody';
/** Marks the start of each message in the sink's dump file (smtp-sink -S). */
const SINK_MARK = '=== postern smtp-sink message ===';

function requireProgram(path: string, pkg: string): void {
  assert.ok(existsSync(path), `${path} is missing: install the Debian package ${pkg}`);
}

// ---- swaks ----------------------------------------------------------------

export interface SwaksOptions {
  /** HOST:PORT of the server. */
  server: string;
  from?: string;
  to: string | string[];
  /** EHLO argument (swaks --ehlo). */
  ehlo?: string;
  body?: string;
  /** Extra header lines "Name: value". */
  headers?: string[];
  /** The whole DATA content instead of swaks' generated message (swaks --data). */
  data?: string;
  /** Send MAIL, RCPT and DATA in one write (swaks --pipeline). */
  pipeline?: boolean;
  /** Further swaks arguments, as written. */
  extraArgs?: string[];
  timeoutMs?: number;
}

export interface SwaksResult extends CommandResult {
  /** The server's reply lines in order, without the "<-  " prefix. */
  replies: string[];
  /** What swaks sent, without the " -> " prefix. */
  sent: string[];
}

/** Runs swaks; swaks exits 0 only when the whole transaction succeeded. */
export async function runSwaks(opts: SwaksOptions): Promise<SwaksResult> {
  requireProgram(PEER_PROGRAMS.swaks, 'swaks');
  const timeoutSeconds = Math.ceil((opts.timeoutMs ?? PEER_TIMEOUT_MS) / 1000);
  const args = ['--server', opts.server, '--to', ([] as string[]).concat(opts.to).join(','), '--timeout', `${timeoutSeconds}s`];
  if (opts.from !== undefined) args.push('--from', opts.from);
  if (opts.ehlo !== undefined) args.push('--ehlo', opts.ehlo);
  if (opts.body !== undefined) args.push('--body', opts.body);
  for (const h of opts.headers ?? []) args.push('--add-header', h);
  if (opts.data !== undefined) args.push('--data', opts.data);
  if (opts.pipeline) args.push('--pipeline');
  args.push(...(opts.extraArgs ?? []));
  const r = await runProgram(PEER_PROGRAMS.swaks, args, { timeoutMs: (opts.timeoutMs ?? PEER_TIMEOUT_MS) + 5_000 });
  const lines = (r.stdout + r.stderr).split('\n');
  return {
    ...r,
    replies: lines.filter((l) => /^<[-~*]{1,2} +\d/.test(l)).map((l) => l.replace(/^<[-~*]{1,2} +/, '')),
    sent: lines.filter((l) => /^ [-~*]> /.test(l)).map((l) => l.replace(/^ [-~*]> /, '')),
  };
}

// ---- Python smtplib -------------------------------------------------------

export interface SmtplibOptions {
  host?: string;
  port: number;
  from: string;
  to: string[];
  /** The message as sent after DATA (header, empty line, body). */
  message: string | Buffer;
  /** EHLO argument (smtplib's local_hostname). */
  ehlo?: string;
  timeoutMs?: number;
}

export interface SmtplibResult {
  ok: boolean;
  /** Recipients the server refused while others were accepted: address -> [code, text]. */
  refused: Record<string, [number, string]>;
  /** The EHLO reply code and the keywords smtplib saw. */
  ehloCode: number;
  features: string[];
  /** When !ok: the smtplib exception's class, the reply code (when there was one) and text. */
  error?: { type: string; code?: number; message: string };
}

/** The helper: reads a JSON request on stdin, prints one JSON result line. */
const SMTPLIB_SCRIPT = String.raw`
import base64, json, smtplib, sys
req = json.load(sys.stdin)
out = {"ok": False, "refused": {}, "ehloCode": 0, "features": []}
try:
    s = smtplib.SMTP(req["host"], req["port"], local_hostname=req.get("ehlo"), timeout=req["timeout"])
    try:
        code, _ = s.ehlo()
        out["ehloCode"] = code
        out["features"] = sorted(s.esmtp_features.keys())
        refused = s.sendmail(req["from"], req["to"], base64.b64decode(req["message"]))
        out["refused"] = {k: [v[0], v[1].decode("utf-8", "replace")] for k, v in refused.items()}
        out["ok"] = True
    finally:
        try:
            s.quit()
        except Exception:
            s.close()
except smtplib.SMTPRecipientsRefused as e:
    out["error"] = {"type": type(e).__name__, "message": str(e)}
    out["refused"] = {k: [v[0], v[1].decode("utf-8", "replace")] for k, v in e.recipients.items()}
except smtplib.SMTPResponseException as e:
    msg = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
    out["error"] = {"type": type(e).__name__, "code": e.smtp_code, "message": msg}
except Exception as e:
    out["error"] = {"type": type(e).__name__, "message": str(e)}
print(json.dumps(out))
`;

/** Sends one message with Python's smtplib (EHLO, MAIL, RCPT..., DATA, QUIT). */
export async function runSmtplib(opts: SmtplibOptions): Promise<SmtplibResult> {
  const timeoutMs = opts.timeoutMs ?? PEER_TIMEOUT_MS;
  const req = {
    host: opts.host ?? '127.0.0.1',
    port: opts.port,
    from: opts.from,
    to: opts.to,
    message: Buffer.from(opts.message).toString('base64'),
    ehlo: opts.ehlo ?? null,
    timeout: timeoutMs / 1000,
  };
  const r = await runProgram(PEER_PROGRAMS.python3, ['-c', SMTPLIB_SCRIPT], { input: JSON.stringify(req), timeoutMs: timeoutMs + 5_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as SmtplibResult;
  } catch {
    throw new Error(`python3 smtplib helper gave no result (status ${r.status}, signal ${r.signal}): ${r.stderr}${r.stdout}`);
  }
}

export interface SmtplibBatchOptions {
  host?: string;
  port: number;
  /** Parallel sessions (one Python thread and one connection each). */
  sessions: number;
  /** Messages per session, sent one after another over the session's connection. */
  perSession: number;
  from: string;
  to: string;
  /** The message for session s, number m (header, empty line, body). */
  message(s: number, m: number): string;
  timeoutMs?: number;
}

/** One message of a batch: the DATA reply, or the error that ended it. */
export interface SmtplibBatchResult {
  session: number;
  index: number;
  code: number;
  reply: string;
}

/** The batch helper: threads, one SMTP connection each, messages in order; one JSON line per message. */
const SMTPLIB_BATCH_SCRIPT = String.raw`
import base64, json, smtplib, sys, threading
req = json.load(sys.stdin)
lock = threading.Lock()
def emit(s, m, code, reply):
    with lock:
        print(json.dumps({"session": s, "index": m, "code": code, "reply": reply}), flush=True)
def session(s):
    msgs = req["messages"][s]
    m = 0
    try:
        c = smtplib.SMTP(req["host"], req["port"], timeout=req["timeout"])
        c.ehlo("batch.example")
        for m, b64 in enumerate(msgs):
            c.mail(req["from"])
            c.rcpt(req["to"])
            code, reply = c.data(base64.b64decode(b64))
            emit(s, m, code, reply.decode("utf-8", "replace"))
        c.quit()
    except Exception as e:
        emit(s, m, -1, type(e).__name__ + ": " + str(e))
ts = [threading.Thread(target=session, args=(s,)) for s in range(len(req["messages"]))]
for t in ts: t.start()
for t in ts: t.join()
`;

/** Sends sessions × perSession messages with Python's smtplib from one process; one result per message. */
export async function runSmtplibBatch(opts: SmtplibBatchOptions): Promise<SmtplibBatchResult[]> {
  const timeoutMs = opts.timeoutMs ?? PEER_TIMEOUT_MS;
  const messages: string[][] = [];
  for (let s = 0; s < opts.sessions; s++) {
    messages.push([]);
    for (let m = 0; m < opts.perSession; m++) messages[s].push(Buffer.from(opts.message(s, m)).toString('base64'));
  }
  const req = { host: opts.host ?? '127.0.0.1', port: opts.port, from: opts.from, to: opts.to, messages, timeout: timeoutMs / 1000 };
  const r = await runProgram(PEER_PROGRAMS.python3, ['-c', SMTPLIB_BATCH_SCRIPT], { input: JSON.stringify(req), timeoutMs: timeoutMs + 5_000 });
  const out = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as SmtplibBatchResult);
  if (out.length === 0) throw new Error(`python3 smtplib batch gave no result (status ${r.status}): ${r.stderr}`);
  return out;
}

// ---- smtp-source ----------------------------------------------------------

export interface SmtpSourceOptions {
  /** HOST:PORT of the server. */
  server: string;
  /** Messages in all (smtp-source -m). */
  messages: number;
  /** Parallel sessions (smtp-source -s). */
  sessions?: number;
  /** Message size in bytes (smtp-source -l). */
  size?: number;
  from?: string;
  to?: string;
  extraArgs?: string[];
  timeoutMs?: number;
}

/** Runs smtp-source against a server; exit status 0 when every message was accepted. */
export async function runSmtpSource(opts: SmtpSourceOptions): Promise<CommandResult> {
  requireProgram(PEER_PROGRAMS.smtpSource, 'postfix');
  const args = ['-m', String(opts.messages), '-s', String(opts.sessions ?? 1)];
  if (opts.size !== undefined) args.push('-l', String(opts.size));
  if (opts.from !== undefined) args.push('-f', opts.from);
  if (opts.to !== undefined) args.push('-t', opts.to);
  args.push(...(opts.extraArgs ?? []), opts.server);
  return runProgram(PEER_PROGRAMS.smtpSource, args, { timeoutMs: opts.timeoutMs ?? PEER_TIMEOUT_MS });
}

// ---- smtp-sink ------------------------------------------------------------

/** One message as smtp-sink captured it. */
export interface SinkMessage {
  clientAddr: string;
  helo: string;
  /** The MAIL FROM arguments, e.g. "<a@example.com> SIZE=12". */
  mailArgs: string;
  /** One entry per RCPT TO, its arguments. */
  rcptArgs: string[];
  /** Header and body as received (after smtp-sink's own Received: header), LF line ends. */
  content: string;
}

export interface SmtpSinkOptions {
  /** Further smtp-sink options (e.g. ['-f', 'RCPT'] to hard-reject RCPT). */
  extraArgs?: string[];
  /** Greeting host name (smtp-sink -h; default "smtp-sink"). */
  hostname?: string;
  /** Listen on this port instead of a free one (to replace a sink on the same address). */
  port?: number;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** "127.0.0.1:PORT" */
  readonly address: string;
  readonly dumpFile: string;
  readonly process: ChildProcess;
  /** Messages completed so far (smtp-sink's own counter, -c). */
  messageCount(): number;
  /** Connections ended so far and how many of them said QUIT (-c; the start-up probe counts as one, without QUIT). */
  sessionCounts(): { sessions: number; quits: number };
  /** The messages in the dump file so far. */
  messages(): SinkMessage[];
  /** Waits until at least n messages are counted; throws after timeoutMs. */
  waitForMessages(n: number, timeoutMs?: number): Promise<SinkMessage[]>;
  /** Stops smtp-sink (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}

function parseDump(text: string): SinkMessage[] {
  const out: SinkMessage[] = [];
  for (const chunk of text.split(`${SINK_MARK}\n`).slice(1)) {
    const lines = chunk.split('\n');
    const msg: SinkMessage = { clientAddr: '', helo: '', mailArgs: '', rcptArgs: [], content: '' };
    let i = 0;
    for (; i < lines.length; i++) {
      const m = /^(X-[A-Za-z-]+): (.*)$/.exec(lines[i]);
      if (!m) break;
      if (m[1] === 'X-Client-Addr') msg.clientAddr = m[2];
      else if (m[1] === 'X-Helo-Args') msg.helo = m[2];
      else if (m[1] === 'X-Mail-Args') msg.mailArgs = m[2];
      else if (m[1] === 'X-Rcpt-Args') msg.rcptArgs.push(m[2]);
    }
    // smtp-sink's own three-line Received: header comes next.
    if (lines[i]?.startsWith('Received: ')) {
      i++;
      while (i < lines.length && /^[ \t]/.test(lines[i])) i++;
    }
    // The dump ends each message with one empty line of its own.
    msg.content = lines.slice(i).join('\n').replace(/\n\n$/, '\n');
    out.push(msg);
  }
  return out;
}

/** Starts smtp-sink on a free 127.0.0.1 port, capturing every message; see SmtpSink. */
export async function startSmtpSink(opts: SmtpSinkOptions = {}): Promise<SmtpSink> {
  requireProgram(PEER_PROGRAMS.smtpSink, 'postfix');
  const dir = mkdtempSync(join(tmpdir(), 'postern-sink-'));
  chmodSync(dir, 0o777); // smtp-sink writes its dump as SINK_USER when started by root
  const dumpFile = join(dir, 'dump');
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = ['-c', '-D', dumpFile, '-S', `${SINK_MARK}\\n`];
    if (userInfo().uid === 0) args.push('-u', SINK_USER);
    if (opts.hostname) args.push('-h', opts.hostname);
    args.push(...(opts.extraArgs ?? []), `127.0.0.1:${port}`, '64');
    const child = spawn(PEER_PROGRAMS.smtpSink, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('latin1')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('latin1')));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const running = (): boolean => child.exitCode === null && child.signalCode === null;
    // The probe is a session the sink counts (sess=), not a message (mesg=).
    const up = await waitFor('smtp-sink to listen', async () => !running() || (await portAccepts(port)), SINK_START_MS).catch(() => false);
    if (!up || !running()) {
      if (running()) child.kill('SIGKILL');
      await exited;
      if (attempt < SINK_BIND_ATTEMPTS && opts.port === undefined && /address already in use|bind/i.test(stderr)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`smtp-sink did not listen on 127.0.0.1:${port}: ${stderr}`);
    }
    const messageCount = (): number => {
      const m = /mesg=(\d+)[^\r\n]*$/.exec(stdout.replace(/\r$/, ''));
      return m ? Number(m[1]) : 0;
    };
    const sessionCounts = (): { sessions: number; quits: number } => {
      const m = /sess=(\d+) quit=(\d+)[^\r\n]*$/.exec(stdout.replace(/\r$/, ''));
      return m ? { sessions: Number(m[1]), quits: Number(m[2]) } : { sessions: 0, quits: 0 };
    };
    const messages = (): SinkMessage[] => (existsSync(dumpFile) ? parseDump(readFileSync(dumpFile, 'latin1')) : []);
    return {
      host: '127.0.0.1',
      port,
      address: `127.0.0.1:${port}`,
      dumpFile,
      process: child,
      messageCount,
      sessionCounts,
      messages,
      async waitForMessages(n: number, timeoutMs = PEER_TIMEOUT_MS) {
        await waitFor(`${n} message(s) at smtp-sink (have ${messageCount()})`, () => messageCount() >= n, timeoutMs).catch((err: Error) => {
          throw new Error(`${err.message}; smtp-sink counted ${messageCount()}; stderr: ${stderr}`);
        });
        // The counter moves at "."; the dump file is written before the reply.
        return messages();
      },
      async stop() {
        if (running()) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), SINK_STOP_MS);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
