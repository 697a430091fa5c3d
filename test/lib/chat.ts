/*
 * chat - plays .chat dialog scripts against a live server (in the manner of chasquid's chamuyero)
 *
 * What it does: parses a dialog script and plays it over one or more
 * TCP or UNIX stream connections, step by step, each step bounded by a
 * timeout. A script is a list of lines; blank lines and lines starting
 * with '#' are ignored, and "${name}" is replaced by the caller's
 * variable of that name (an unknown name is an error). The steps:
 *
 *   c = connect HOST:PORT     open connection "c" (any identifier) over TCP
 *   c = connect unix:PATH     ... or to a UNIX-domain stream socket
 *   c -> TEXT                 send TEXT followed by CRLF
 *   c => BYTES                send BYTES as written, no CRLF added; escapes
 *                             \r \n \t \0 \\ \xHH (so "\r\n.\n" is possible)
 *   c <- TEXT                 the next line (its CRLF or LF removed) is exactly TEXT
 *   c <~ REGEXP               the next line matches REGEXP, anchored at the start
 *   c <.. REGEXP              read lines until one matches (anchored at the start);
 *                             at most MAX_SKIP_LINES lines are skipped
 *   c <= BYTES                the next line, with its line ending, is exactly
 *                             BYTES (escapes as for =>): checks CRLF versus LF
 *   c wait close              the peer closes the connection with nothing more sent
 *   c close                   close our side
 *   timeout DURATION          per-step timeout from here on (e.g. 500ms, 5s)
 *   sleep DURATION            pause (bounded by MAX_SLEEP_MS)
 *
 * What it does not do: TLS, or guess anything: a line the script did
 * not expect is a failure, never skipped (except by "<..").
 *
 * DIAGNOSTICS
 * parseChat() throws ChatError naming file and line for a bad step;
 * playChat() throws ChatError naming the file, the script line, the step
 * as written, what arrived instead (or the timeout), and the transcript
 * of the connection so far. Every connection is destroyed at the end,
 * pass or fail.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

/** Per-step timeout unless the script or the caller says otherwise. */
export const CHAT_STEP_TIMEOUT_MS = 5_000;
/** The most lines "<.." reads past before giving up. */
export const MAX_SKIP_LINES = 1_000;
/** The longest "sleep" a script may ask for. */
export const MAX_SLEEP_MS = 30_000;
/** The most bytes a connection buffers before the script reads them. */
export const MAX_BUFFERED_BYTES = 1 << 20;
/** How many transcript lines a failure message shows. */
export const TRANSCRIPT_TAIL = 20;

export class ChatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`);
    this.name = 'ChatError';
  }
}

export type ChatStep =
  | { kind: 'connect'; conn: string; target: string; line: number; text: string }
  | { kind: 'send'; conn: string; data: Buffer; line: number; text: string }
  | { kind: 'expect-exact' | 'expect-regexp' | 'expect-skip' | 'expect-raw'; conn: string; arg: string; raw?: Buffer; re?: RegExp; line: number; text: string }
  | { kind: 'wait-close' | 'close'; conn: string; line: number; text: string }
  | { kind: 'timeout' | 'sleep'; ms: number; line: number; text: string };

export interface ChatScript {
  file: string;
  steps: ChatStep[];
}

export interface ChatOptions {
  /** Values for "${name}" in the script. */
  vars?: Record<string, string>;
  /** Per-step timeout until a "timeout" step changes it (default CHAT_STEP_TIMEOUT_MS). */
  stepTimeoutMs?: number;
}

/** Decodes the escapes \r \n \t \0 \\ \xHH; anything else after a backslash is an error. */
export function unescapeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch !== '\\') {
      out.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const e = s[++i];
    if (e === 'r') out.push(13);
    else if (e === 'n') out.push(10);
    else if (e === 't') out.push(9);
    else if (e === '0') out.push(0);
    else if (e === '\\') out.push(92);
    else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`bad escape "\\${e ?? ''}"`);
  }
  return Buffer.from(out);
}

/** Shows bytes readably: printable ASCII as is, the rest as escapes. */
export function showBytes(b: Buffer): string {
  let s = '';
  for (const c of b) {
    if (c === 13) s += '\\r';
    else if (c === 10) s += '\\n';
    else if (c === 9) s += '\\t';
    else if (c === 92) s += '\\\\';
    else if (c >= 32 && c < 127) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** "500ms", "5s", "2m" or a bare number of milliseconds. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
}

function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (!Object.hasOwn(vars, name)) throw new Error(`unknown variable \${${name}}`);
    return vars[name];
  });
}

/** Parses a script; vars are substituted here, so errors name the line. */
export function parseChat(text: string, file: string, vars: Record<string, string> = {}): ChatScript {
  const steps: ChatStep[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const written = lines[i].replace(/\r$/, '');
    if (written.trim() === '' || written.trimStart().startsWith('#')) continue;
    try {
      steps.push(parseStep(expandVars(written, vars), lineNo, written));
    } catch (err) {
      if (err instanceof ChatError) throw err;
      throw new ChatError(file, lineNo, `${(err as Error).message} in "${written}"`);
    }
  }
  return { file, steps };
}

function parseStep(s: string, line: number, text: string): ChatStep {
  let m = /^(timeout|sleep) (\S+)$/.exec(s);
  if (m) {
    const ms = parseDuration(m[2]);
    if (ms === null) throw new Error(`bad duration "${m[2]}"`);
    if (m[1] === 'sleep' && ms > MAX_SLEEP_MS) throw new Error(`sleep longer than ${MAX_SLEEP_MS} ms`);
    return { kind: m[1] as 'timeout' | 'sleep', ms, line, text };
  }
  m = /^([A-Za-z_]\w*) = connect (\S+)$/.exec(s);
  if (m) return { kind: 'connect', conn: m[1], target: m[2], line, text };
  m = /^([A-Za-z_]\w*) (wait close|close)$/.exec(s);
  if (m) return { kind: m[2] === 'close' ? 'close' : 'wait-close', conn: m[1], line, text };
  m = /^([A-Za-z_]\w*) (->|=>|<-|<~|<\.\.|<=) ?(.*)$/.exec(s);
  if (!m) throw new Error('unknown step');
  const [, conn, op, arg] = m;
  switch (op) {
    case '->':
      return { kind: 'send', conn, data: Buffer.from(`${arg}\r\n`, 'utf8'), line, text };
    case '=>':
      return { kind: 'send', conn, data: unescapeBytes(arg), line, text };
    case '<-':
      return { kind: 'expect-exact', conn, arg, line, text };
    case '<=':
      return { kind: 'expect-raw', conn, arg, raw: unescapeBytes(arg), line, text };
    default: {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${arg})`);
      } catch (err) {
        throw new Error(`bad regular expression: ${(err as Error).message}`);
      }
      return { kind: op === '<~' ? 'expect-regexp' : 'expect-skip', conn, arg, re, line, text };
    }
  }
}

/** One connection: buffers what arrives and hands it out line by line. */
class ChatConn {
  #buf = Buffer.alloc(0);
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  constructor(
    readonly name: string,
    readonly sock: Socket,
    readonly transcript: string[],
  ) {
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      if (this.#buf.length > MAX_BUFFERED_BYTES) {
        this.#error = new Error(`more than ${MAX_BUFFERED_BYTES} unread bytes from the peer`);
        sock.destroy();
      }
      this.#notify();
    });
    sock.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
    sock.on('error', (err) => {
      this.#error ??= err;
      this.#ended = true;
      this.#notify();
    });
  }

  static open(name: string, target: string, timeoutMs: number, transcript: string[]): Promise<ChatConn> {
    return new Promise((resolve, reject) => {
      let sock: Socket;
      if (target.startsWith('unix:')) sock = connect({ path: target.slice('unix:'.length) });
      else {
        const m = /^(.*):(\d+)$/.exec(target);
        if (!m) return reject(new Error(`bad address "${target}" (HOST:PORT or unix:PATH)`));
        sock = connect({ host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) });
      }
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${target}: no connection after ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new ChatConn(name, sock, transcript));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`connect to ${target}: ${err.message}`));
      });
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Resolves when new data or EOF arrives, or the deadline passes. */
  #waitChange(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, Math.max(0, deadline - Date.now()));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The next line with its LF (or what is left at EOF); null at EOF; throws on timeout. */
  async readLine(timeoutMs: number): Promise<Buffer | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0) {
        const line = this.#buf.subarray(0, nl + 1);
        this.#buf = this.#buf.subarray(nl + 1);
        this.transcript.push(`${this.name} <  ${showBytes(line)}`);
        return line;
      }
      if (this.#ended) {
        if (this.#buf.length === 0) return null;
        const rest = this.#buf;
        this.#buf = Buffer.alloc(0);
        this.transcript.push(`${this.name} <  ${showBytes(rest)} (then EOF)`);
        return rest;
      }
      if (Date.now() >= deadline) {
        const partial = this.#buf.length > 0 ? ` (partial line so far: "${showBytes(this.#buf)}")` : '';
        throw new Error(`no line within ${timeoutMs} ms${partial}`);
      }
      await this.#waitChange(deadline);
    }
  }

  /** Waits for EOF; what arrived before it (empty when nothing did); throws on timeout. */
  async waitClose(timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      if (Date.now() >= deadline) throw new Error(`peer did not close within ${timeoutMs} ms`);
      await this.#waitChange(deadline);
    }
    const rest = this.#buf;
    this.#buf = Buffer.alloc(0);
    this.transcript.push(`${this.name} <  EOF`);
    return rest;
  }

  send(data: Buffer): void {
    if (this.#error) throw this.#error;
    this.transcript.push(`${this.name}  > ${showBytes(data)}`);
    this.sock.write(data);
  }
}

function stripEol(b: Buffer): string {
  return b.toString('utf8').replace(/\r?\n$/, '');
}

/** Plays a parsed script; resolves with the transcript, throws ChatError at the first failed step. */
export async function playChat(script: ChatScript, opts: ChatOptions = {}): Promise<string[]> {
  const conns = new Map<string, ChatConn>();
  const transcript: string[] = [];
  let timeoutMs = opts.stepTimeoutMs ?? CHAT_STEP_TIMEOUT_MS;
  const fail = (step: ChatStep, detail: string): never => {
    const tail = transcript.slice(-TRANSCRIPT_TAIL).map((l) => `  ${l}`).join('\n');
    throw new ChatError(script.file, step.line, `step "${step.text}": ${detail}\ntranscript:\n${tail}`);
  };
  try {
    for (const step of script.steps) {
      if (step.kind === 'timeout') {
        timeoutMs = step.ms;
        continue;
      }
      if (step.kind === 'sleep') {
        await new Promise((r) => setTimeout(r, step.ms));
        continue;
      }
      if (step.kind === 'connect') {
        if (conns.has(step.conn)) fail(step, `connection "${step.conn}" is already open`);
        try {
          const c = await ChatConn.open(step.conn, step.target, timeoutMs, transcript);
          conns.set(step.conn, c);
          transcript.push(`${step.conn} connected to ${step.target}`);
        } catch (err) {
          fail(step, (err as Error).message);
        }
        continue;
      }
      if (!('conn' in step)) continue;
      const c = conns.get(step.conn);
      if (!c) return fail(step, `no connection named "${step.conn}" (use "${step.conn} = connect ADDRESS" first)`);
      try {
        await playStep(c, step, timeoutMs, fail);
      } catch (err) {
        if (err instanceof ChatError) throw err;
        fail(step, (err as Error).message);
      }
    }
    return transcript;
  } finally {
    for (const c of conns.values()) c.sock.destroy();
  }
}

async function playStep(c: ChatConn, step: ChatStep, timeoutMs: number, fail: (s: ChatStep, d: string) => never): Promise<void> {
  switch (step.kind) {
    case 'send':
      c.send(step.data);
      return;
    case 'close':
      c.sock.end();
      return;
    case 'wait-close': {
      const rest = await c.waitClose(timeoutMs);
      if (rest.length > 0) fail(step, `expected the peer to close, but it first sent "${showBytes(rest)}"`);
      return;
    }
    case 'expect-exact':
    case 'expect-regexp':
    case 'expect-raw': {
      const got = await c.readLine(timeoutMs);
      if (got === null) fail(step, 'expected a line, but the peer closed the connection');
      const line = got as Buffer;
      if (step.kind === 'expect-raw') {
        if (!line.equals(step.raw as Buffer)) fail(step, `expected the bytes "${showBytes(step.raw as Buffer)}", got "${showBytes(line)}"`);
      } else if (step.kind === 'expect-exact') {
        if (stripEol(line) !== step.arg) fail(step, `expected exactly "${step.arg}", got "${showBytes(line)}"`);
      } else if (!(step.re as RegExp).test(stripEol(line))) {
        fail(step, `expected a line matching /${step.arg}/, got "${showBytes(line)}"`);
      }
      return;
    }
    case 'expect-skip': {
      for (let n = 0; n <= MAX_SKIP_LINES; n++) {
        const got = await c.readLine(timeoutMs);
        if (got === null) fail(step, `the peer closed the connection before a line matching /${step.arg}/`);
        if ((step.re as RegExp).test(stripEol(got as Buffer))) return;
      }
      fail(step, `no line matching /${step.arg}/ within ${MAX_SKIP_LINES} lines`);
      return;
    }
    default:
      fail(step, 'step cannot be played here');
  }
}

/** Reads, parses and plays a .chat file. */
export async function playChatFile(path: string, opts: ChatOptions = {}): Promise<string[]> {
  return playChat(parseChat(readFileSync(path, 'utf8'), path, opts.vars), opts);
}
