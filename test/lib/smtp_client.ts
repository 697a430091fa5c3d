/*
 * smtp_client - a minimal SMTP client for tests that need exact control
 * over when each command goes out (crash tests kill the server between
 * replies)
 *
 * What it does: SmtpTestClient.open(port) connects to 127.0.0.1:port;
 * send(text) writes text (or nothing, for the greeting) and resolves with
 * the next whole reply (multi-line replies included), or null when the
 * connection is gone or no reply came within REPLY_MS.
 *
 * What it does not do: dot-stuff, pipeline or parse replies.
 *
 * DIAGNOSTICS
 * open() rejects with the connect error; send() never rejects.
 */
import { connect, type Socket } from 'node:net';

/** Bound on one reply from the server. */
export const REPLY_MS = 10_000;

/** A minimal SMTP client: send a line (or data), await one whole reply. */
export class SmtpTestClient {
  #buf = '';
  #waiters: Array<(reply: string | null) => void> = [];
  #closed = false;
  constructor(private readonly sock: Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.#buf += d;
      for (;;) {
        const m = /^(\d{3}) [^\n]*\n/m.exec(this.#buf);
        if (!m) break;
        const end = m.index + m[0].length;
        const reply = this.#buf.slice(0, end);
        this.#buf = this.#buf.slice(end);
        this.#waiters.shift()?.(reply);
      }
    });
    const close = (): void => {
      this.#closed = true;
      for (const w of this.#waiters.splice(0)) w(null);
    };
    sock.on('close', close);
    sock.on('error', close);
  }
  static open(port: number): Promise<SmtpTestClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new SmtpTestClient(s)));
      s.once('error', reject);
    });
  }
  /** Sends text (when given) and resolves with the next reply, or null when the connection is gone. */
  send(text: string | null): Promise<string | null> {
    if (this.#closed) return Promise.resolve(null);
    const p = new Promise<string | null>((resolve) => {
      const t = setTimeout(() => resolve(null), REPLY_MS);
      this.#waiters.push((r) => {
        clearTimeout(t);
        resolve(r);
      });
    });
    if (text !== null) this.sock.write(text);
    return p;
  }
  close(): void {
    this.sock.destroy();
  }
}

