/*
 * chat_test - the .chat player against a scripted local server and
 * against the real Postfix smtpd of a throwaway instance on a loopback
 * port: test/dialogs/smtpd_basic.chat passes there, and a wrong
 * expectation fails with a message naming the script line.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChatError, parseChat, playChat, playChatFile, unescapeBytes } from './chat.js';
import { srcPath } from './paths.js';
import { makeOracleConfig, type OracleConfig } from './postfix_oracle.js';
import { freePort, waitForPort } from './proc.js';

/** A server that greets, echoes each received chunk back as "got:<hex>\r\n", answers "multi" with three lines, and closes on "bye". */
function startEcho(listenArg: number | string): Promise<Server> {
  const srv = createServer((s: Socket) => {
    s.write('hello\r\n');
    s.on('data', (d: Buffer) => {
      if (d.toString().startsWith('multi')) {
        s.write('250-first\r\n250-second\r\n250 last\r\n');
        return;
      }
      if (d.toString().startsWith('bye')) {
        s.end('later\n');
        return;
      }
      s.write(`got:${d.toString('hex')}\r\n`);
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => {
    if (typeof listenArg === 'number') srv.listen(listenArg, '127.0.0.1', () => resolve(srv));
    else srv.listen(listenArg, () => resolve(srv));
  });
}

describe('chat script parsing', () => {
  it('decodes escapes and rejects bad ones', () => {
    assert.deepEqual([...unescapeBytes('a\\r\\n\\0\\x7f\\\\')], [97, 13, 10, 0, 0x7f, 92]);
    assert.throws(() => unescapeBytes('\\q'), /bad escape/);
  });

  it('names the file and line of a bad step, an unknown variable, a bad regexp', () => {
    assert.throws(
      () => parseChat('# c\n\nc = connect x:1\nc <> 250\n', 'bad.chat'),
      (e: unknown) => e instanceof ChatError && e.file === 'bad.chat' && e.line === 4 && /bad\.chat:4: unknown step/.test(e.message),
    );
    assert.throws(() => parseChat('c = connect ${nope}\n', 'v.chat'), /v\.chat:1: unknown variable \$\{nope\}/);
    assert.throws(() => parseChat('timeout 1\nc <~ 250(\n', 'r.chat'), /r\.chat:2: bad regular expression/);
    assert.throws(() => parseChat('sleep 10m\n', 's.chat'), /s\.chat:1: sleep longer than/);
  });
});

describe('chat player against a local server', () => {
  let tcp: Server;
  let unix: Server;
  let port = 0;
  let sockPath = '';
  let dir = '';
  before(async () => {
    port = await freePort();
    tcp = await startEcho(port);
    dir = mkdtempSync(join(tmpdir(), 'postern-chat-'));
    sockPath = join(dir, 'echo.sock');
    unix = await startEcho(sockPath);
  });
  after(() => {
    tcp?.close();
    unix?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends text with CRLF and raw bytes, checks exact, regexp, raw and close', async () => {
    const script = parseChat(
      [
        'c = connect ${addr}',
        'c <= hello\\r\\n',
        'c -> A',
        'c <- got:410d0a',
        'c => x\\0y\\n',
        'c <~ got:7800',
        'c => bye',
        'c <= later\\n',
        'c wait close',
      ].join('\n'),
      'ok.chat',
      { addr: `127.0.0.1:${port}` },
    );
    const transcript = await playChat(script);
    assert.ok(transcript.some((l) => l.includes('x\\x00y\\n')), transcript.join('\n'));
  });

  it('skips lines up to a match with "<..", and fails it when the peer closes first', async () => {
    await playChat(parseChat('c = connect 127.0.0.1:${p}\nc <- hello\nc -> multi\nc <.. 250 \nc -> multi\nc <~ 250-f\nc <.. 250 l\n', 'skip.chat', { p: String(port) }));
    const script = parseChat('c = connect 127.0.0.1:${p}\nc <- hello\nc -> bye\nc <.. 250 \n', 'skip2.chat', { p: String(port) });
    await assert.rejects(playChat(script), /skip2\.chat:4: step "c <\.\. 250 ": the peer closed the connection before a line matching \/250 \//);
  });

  it('talks to a UNIX-domain socket, with several connections in one script', async () => {
    await playChat(
      parseChat('a = connect unix:${path}\nb = connect unix:${path}\nb <- hello\na <- hello\na -> 1\nb -> 2\nb <- got:320d0a\na <- got:310d0a\n', 'unix.chat', { path: sockPath }),
    );
  });

  it('fails a raw expectation on LF versus CRLF, naming the line', async () => {
    const script = parseChat('c = connect 127.0.0.1:${p}\nc <= hello\\n\n', 'lf.chat', { p: String(port) });
    await assert.rejects(playChat(script), (e: unknown) => {
      assert.ok(e instanceof ChatError);
      assert.equal(e.line, 2);
      assert.match(e.message, /^lf\.chat:2: step "c <= hello\\n": expected the bytes "hello\\n", got "hello\\r\\n"/);
      return true;
    });
  });

  it('times out a step that gets no line, and "wait close" that sees data', async () => {
    const slow = parseChat('c = connect 127.0.0.1:${p}\nc <- hello\ntimeout 200ms\nc <- never\n', 't.chat', { p: String(port) });
    const t0 = Date.now();
    await assert.rejects(playChat(slow), /t\.chat:4: step "c <- never": no line within 200 ms/);
    assert.ok(Date.now() - t0 < 3_000);
    const early = parseChat('c = connect 127.0.0.1:${p}\nc wait close\n', 'w.chat', { p: String(port) });
    await assert.rejects(playChat(early, { stepTimeoutMs: 300 }), /w\.chat:2: .*peer did not close within 300 ms/);
  });

  it('reports a refused connection on its line', async () => {
    const closed = await freePort();
    await assert.rejects(playChat(parseChat(`\nc = connect 127.0.0.1:${closed}\n`, 'refused.chat')), /refused\.chat:2: .*ECONNREFUSED/);
  });
});

describe('chat player against the real Postfix smtpd', () => {
  let oracle: OracleConfig;
  let port = 0;
  const myhostname = 'oracle.postern.example';
  before(async () => {
    assert.equal(userInfo().uid, 0, 'this test starts a real Postfix master, which needs root');
    port = await freePort();
    oracle = makeOracleConfig({
      prefix: 'postern-chat-oracle-',
      queueDirs: ['pid'],
      ownedDirs: ['queue/private', 'queue/public', 'queue/incoming', 'data'],
      main: { compatibility_level: '3.7', myhostname, inet_interfaces: 'loopback-only', inet_protocols: 'ipv4', alias_maps: '' },
      master: [`127.0.0.1:${port} inet n - n - - smtpd`, 'anvil unix - - n - 1 anvil', 'proxymap unix - - n - - proxymap', 'postlog unix-dgram n - n - 1 postlogd'],
    });
    await oracle.startMaster(join(oracle.queueDir, 'private', 'anvil'));
    await waitForPort(port);
  });
  after(async () => {
    await oracle?.cleanup();
  });

  it('plays test/dialogs/smtpd_basic.chat to the end', async () => {
    const transcript = await playChatFile(srcPath('test/dialogs/smtpd_basic.chat'), { vars: { smtp: `127.0.0.1:${port}`, myhostname } });
    assert.ok(transcript.includes('c <  221 2.0.0 Bye\\r\\n'), transcript.join('\n'));
  });

  it('fails a wrong expectation with the script line, the step and what came', async () => {
    const script = parseChat(
      ['c = connect ${smtp}', 'c <~ 220 ', 'c -> NOOP', '# Postfix says "250 2.0.0 Ok"', 'c <- 250 2.0.0 OK', 'c -> QUIT'].join('\n'),
      'wrong.chat',
      { smtp: `127.0.0.1:${port}` },
    );
    await assert.rejects(playChat(script), (e: unknown) => {
      assert.ok(e instanceof ChatError);
      assert.equal(e.line, 5);
      assert.match(e.message, /^wrong\.chat:5: step "c <- 250 2\.0\.0 OK": expected exactly "250 2\.0\.0 OK", got "250 2\.0\.0 Ok\\r\\n"/);
      assert.match(e.message, /transcript:\n.*c connected to 127\.0\.0\.1:/);
      return true;
    });
  });
});
