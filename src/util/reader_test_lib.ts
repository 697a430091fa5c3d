/*
 * reader_test_lib - loopback socket pairs for the line_reader and dot_reader tests
 *
 * What it does: socketPair() connects a client socket to a server on
 * 127.0.0.1 (port 0) and returns both ends; writeSplit() writes a byte
 * string in parts and waits, bounded, until each part has reached the
 * server end before writing the next, so every part arrives as its own
 * read; latin1() turns text into bytes one to one. SMUGGLING_CASES is
 * the table of DATA inputs with their expected pieces and leftovers.
 *
 * What it does not do: run any test by itself; wait without bound.
 *
 * DIAGNOSTICS
 * writeSplit() throws when a part does not arrive within ARRIVAL_MS.
 */
import { type Server, type Socket, connect, createServer } from 'node:net';

/** How long a written part may take to reach the server end. */
export const ARRIVAL_MS = 2000;
const POLL_MS = 1;

export interface SocketPair {
  client: Socket;
  server: Socket;
  close(): Promise<void>;
}

/** A connected client/server pair on loopback. */
export async function socketPair(): Promise<SocketPair> {
  const srv: Server = createServer();
  const accepted = new Promise<Socket>((resolve) => srv.once('connection', resolve));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  const client = connect(addr.port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const server = await accepted;
  server.on('error', () => {});
  return {
    client,
    server,
    async close() {
      client.destroy();
      server.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}

export function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/**
 * Writes the parts in order; before each next part waits until
 * arrived() (bytes seen by the server end so far) covers what was written.
 */
/** Every way to cut s in two, plus s uncut: for split-anywhere tests. */
export function splits(s: string): Buffer[][] {
  const out: Buffer[][] = [[latin1(s)]];
  for (let i = 1; i < s.length; i++) out.push([latin1(s.slice(0, i)), latin1(s.slice(i))]);
  return out;
}

export async function writeSplit(client: Socket, parts: Buffer[], arrived: () => number): Promise<void> {
  let written = 0;
  for (const p of parts) {
    if (p.length === 0) continue;
    client.write(p);
    written += p.length;
    const t0 = Date.now();
    while (arrived() < written) {
      if (Date.now() - t0 > ARRIVAL_MS) throw new Error(`part ${JSON.stringify(p.toString('latin1'))} did not arrive in ${ARRIVAL_MS} ms`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

export interface SmugglingWant {
  /** Content pieces as readDotData hands them out (text, latin1). */
  pieces: string[];
  /** Bytes left after the end of data. */
  rest: string;
}
export interface SmugglingCase {
  label: string;
  input: string;
  lenient: SmugglingWant;
  strict: SmugglingWant;
}

export const END = '.\r\n';
/**
 * The smuggling table shared by dot_reader_test and
 * test/oracle/smtp_smuggling_test (which checks it against the real smtpd):
 * lenient = smtpd_forbid_bare_newline = no, strict = normalize.
 * Input after "DATA\r\n"; each ends in a proper CRLF.CRLF so strict mode ends too. */
export const SMUGGLING_CASES: readonly SmugglingCase[] = [
  { label: '<LF>.<LF>', input: `a\n.\nb\r\n${END}`, lenient: { pieces: ['a'], rest: `b\r\n${END}` }, strict: { pieces: ['a', 'b'], rest: '' } },
  { label: '<CR><LF>.<LF>', input: `a\r\n.\nb\r\n${END}`, lenient: { pieces: ['a'], rest: `b\r\n${END}` }, strict: { pieces: ['a', 'b'], rest: '' } },
  { label: '<LF>.<CR><LF>', input: `a\n.\r\nb\r\n${END}`, lenient: { pieces: ['a'], rest: `b\r\n${END}` }, strict: { pieces: ['a', 'b'], rest: '' } },
  { label: '<CR>.<CR>', input: `a\r.\rb\r\n${END}`, lenient: { pieces: ['a\r.\rb'], rest: '' }, strict: { pieces: ['a\r.\rb'], rest: '' } },
  { label: '<CR><LF>.<CR><CR><LF>', input: `a\r\n.\r\r\nb\r\n${END}`, lenient: { pieces: ['a'], rest: `b\r\n${END}` }, strict: { pieces: ['a', '\r', 'b'], rest: '' } },
  { label: 'bare CR in text', input: `a\rb\r\n${END}`, lenient: { pieces: ['a\rb'], rest: '' }, strict: { pieces: ['a\rb'], rest: '' } },
  { label: '<CR><CR><LF>', input: `a\r\r\nb\r\n${END}`, lenient: { pieces: ['a', 'b'], rest: '' }, strict: { pieces: ['a\r', 'b'], rest: '' } },
  { label: 'bare LF in text', input: `a\nb\r\n${END}`, lenient: { pieces: ['a', 'b'], rest: '' }, strict: { pieces: ['a', 'b'], rest: '' } },
  { label: 'dot-stuffed line', input: `..x\r\n${END}QUIT\r\n`, lenient: { pieces: ['.x'], rest: 'QUIT\r\n' }, strict: { pieces: ['.x'], rest: 'QUIT\r\n' } },
  { label: 'stuffed lone dot after bare LF', input: `a\n..\r\nb\r\n${END}`, lenient: { pieces: ['a', '.', 'b'], rest: '' }, strict: { pieces: ['a', '.', 'b'], rest: '' } },
  { label: 'stuffed dots with bare LFs', input: `a\r\n.x\nb\n.y\r\n${END}`, lenient: { pieces: ['a', 'x', 'b', 'y'], rest: '' }, strict: { pieces: ['a', 'x', 'b', 'y'], rest: '' } },
  { label: 'first line <LF>.', input: `.\nb\r\n${END}`, lenient: { pieces: [], rest: `b\r\n${END}` }, strict: { pieces: ['b'], rest: '' } },
  { label: 'empty line with bare LF, then CRLF.CRLF', input: `a\n\r\n${END}b\r\n${END}`, lenient: { pieces: ['a', ''], rest: `b\r\n${END}` }, strict: { pieces: ['a', ''], rest: `b\r\n${END}` } },
  { label: 'CRLF, bare LF, then .CRLF', input: `a\r\n\n${END}b\r\n${END}`, lenient: { pieces: ['a', ''], rest: `b\r\n${END}` }, strict: { pieces: ['a', '', 'b'], rest: '' } },
  { label: 'dropped dot counts as the line before', input: `a\n${END}${END}b\r\n${END}`, lenient: { pieces: ['a'], rest: `${END}b\r\n${END}` }, strict: { pieces: ['a'], rest: `b\r\n${END}` } },
  { label: '<LF>.<LF>.<CR><LF>', input: `a\r\n.\n${END}b\r\n${END}`, lenient: { pieces: ['a'], rest: `${END}b\r\n${END}` }, strict: { pieces: ['a', 'b'], rest: '' } },
  { label: 'three dots', input: `a\n.\n${END}${END}b\r\n${END}`, lenient: { pieces: ['a'], rest: `${END}${END}b\r\n${END}` }, strict: { pieces: ['a'], rest: `b\r\n${END}` } },
  { label: 'stuffed dot with bare LF', input: `a\r\n..\nb\r\n${END}`, lenient: { pieces: ['a', '.', 'b'], rest: '' }, strict: { pieces: ['a', '.', 'b'], rest: '' } },
  { label: 'plain', input: `Subject: x\r\n\r\nbody\r\n${END}QUIT\r\n`, lenient: { pieces: ['Subject: x', '', 'body'], rest: 'QUIT\r\n' }, strict: { pieces: ['Subject: x', '', 'body'], rest: 'QUIT\r\n' } },
];
