/*
 * mail_server_test - the daemon skeleton without master (in-process use)
 *
 * What it does: drives MailServer through createMailServer with real
 * loopback sockets: single-server closes the stream when the service
 * returns; multi-server holds a client until its stream closes; stop()
 * waits for current clients; max_use and max_idle end the server;
 * triggers are serialised, and a trigger client that writes its request
 * and the NUL separately gets one trigger and a clean close;
 * parseWorkerArgs reads master's options.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { createMailServer, parseWorkerArgs, type MailServer } from './mail_server.js';

let dir: string;
function config(o: Record<string, string> = {}): MailConfig {
  return loadMailConfig({ configDir: dir, overrides: { max_idle: '100s', max_use: '100', ...o } });
}

async function serve(server: MailServer): Promise<{ port: number; net: Server }> {
  const net = createServer((s) => server.client(s));
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', () => r()));
  return { port: (net.address() as { port: number }).port, net };
}

function talk(port: number, send?: string): Promise<{ data: string; sock: Socket }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
      if (send === undefined) resolve({ data, sock });
    });
    sock.on('end', () => resolve({ data, sock }));
    sock.on('error', reject);
    if (send !== undefined) sock.write(send);
  });
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms).unref())]);
}

describe('mail_server skeleton (in-process)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'postern-mailserver-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('single server: the stream is closed when the service returns', async () => {
    const server = createMailServer('single', { programName: 't', async service(s, ctx) { s.write(`hi ${ctx.serviceName}\n`); } }, { config: config(), serviceName: 'svc' });
    await server.init();
    const { port, net } = await serve(server);
    const r = await within(talk(port, ''), 3_000, 'single reply');
    assert.equal(r.data, 'hi svc\n');
    await within(new Promise<void>((res) => (server.activeClients === 0 ? res() : setTimeout(res, 100))), 3_000, 'release');
    server.stop();
    await within(server.done, 3_000, 'done');
    net.close();
  });

  it('multi server: a client counts until its stream closes; stop waits for it', async () => {
    const server = createMailServer('multi', { programName: 't', service(s) { s.write('ok\n'); } }, { config: config() });
    await server.init();
    const { port, net } = await serve(server);
    const { sock } = await within(talk(port), 3_000, 'greeting');
    assert.equal(server.activeClients, 1);
    let finished = false;
    void server.done.then(() => (finished = true));
    server.stop();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(finished, false, 'stop waits for the open client');
    sock.end();
    await within(server.done, 3_000, 'done after the client left');
    net.close();
  });

  it('max_use ends the server after that many clients', async () => {
    const server = createMailServer('single', { programName: 't', service(s) { s.write('x'); } }, { config: config({ max_use: '2' }) });
    await server.init();
    const { port, net } = await serve(server);
    await within(talk(port, ''), 3_000, 'client 1');
    await within(talk(port, ''), 3_000, 'client 2');
    await within(server.done, 3_000, 'done after max_use');
    assert.equal(server.useCount, 2);
    net.close();
  });

  it('max_idle ends an idle server; resident servers stay', async () => {
    const idle = createMailServer('multi', { programName: 't', service() {} }, { config: config({ max_idle: '1' }) });
    const t0 = Date.now();
    await idle.init();
    await within(idle.done, 3_000, 'idle exit');
    assert.ok(Date.now() - t0 >= 900);
    const resident = createMailServer('multi', { programName: 't', resident: true, service() {} }, { config: config({ max_idle: '1' }) });
    await resident.init();
    let ended = false;
    void resident.done.then(() => (ended = true));
    await new Promise((r) => setTimeout(r, 1_300));
    assert.equal(ended, false);
    resident.stop();
    await within(resident.done, 1_000, 'resident stop');
  });

  it('trigger server: calls are serialised, in arrival order', async () => {
    const seen: string[] = [];
    let running = 0;
    const server = createMailServer(
      'trigger',
      {
        programName: 't',
        async service(data) {
          running++;
          assert.equal(running, 1, 'no overlap');
          await new Promise((r) => setTimeout(r, 30));
          seen.push(data.toString());
          running--;
        },
      },
      { config: config() },
    );
    await server.init();
    await Promise.all([server.trigger(Buffer.from('A')), server.trigger(Buffer.from('B')), server.trigger(Buffer.from('C'))]);
    assert.deepEqual(seen, ['A', 'B', 'C']);
    server.stop();
    await within(server.done, 1_000, 'done');
  });

  it('trigger server: a request and its NUL in separate writes are one trigger; no broken pipe', async (t) => {
    const seen: string[] = [];
    const server = createMailServer('trigger', { programName: 't', service(data) { seen.push(data.toString('latin1')); } }, { config: config() });
    await server.init();
    const path = join(dir, 'trig.sock');
    const net = createServer((s) => server.client(s));
    await new Promise<void>((r) => net.listen(path, () => r()));
    t.after(() => {
      net.close();
      server.abort();
    });
    // As Postfix's unix_trigger: write(request), write(NUL), then wait for the server to hang up.
    const outcome = await within(
      new Promise<string>((resolve) => {
        const sock = connect({ path });
        t.after(() => sock.destroy());
        sock.on('error', (err) => resolve(`error: ${err.message}`));
        sock.on('close', () => resolve('closed by server'));
        sock.resume();
        sock.once('connect', () => {
          sock.write('X');
          setTimeout(() => sock.write(Buffer.alloc(1)), 50);
        });
      }),
      3_000,
      'trigger client',
    );
    assert.equal(outcome, 'closed by server');
    await within((async () => { while (server.activeClients > 0) await new Promise((r) => setTimeout(r, 10)); })(), 3_000, 'release');
    assert.deepEqual(seen, ['X\u0000']);
    assert.equal(server.useCount, 1);
    server.stop();
    await within(server.done, 1_000, 'done');
  });

  it('unlimitedUse: max_use does not end the server (postlogd)', async (t) => {
    const seen: string[] = [];
    const server = createMailServer('trigger', { programName: 't', unlimitedUse: true, service(d) { seen.push(d.toString('latin1')); } }, { config: config({ max_use: '1' }) });
    await server.init();
    const path = join(dir, 'unlimited.sock');
    const net = createServer((s) => server.client(s));
    await new Promise<void>((r) => net.listen(path, () => r()));
    t.after(() => {
      net.close();
      server.abort();
    });
    let ended = false;
    void server.done.then(() => (ended = true));
    for (const req of ['A', 'B']) {
      await within(new Promise<void>((resolve) => {
        const sock = connect({ path });
        sock.on('error', () => resolve());
        sock.on('close', () => resolve());
        sock.resume();
        sock.write(`${req}\0`);
      }), 3_000, `client ${req}`);
    }
    await within((async () => { while (seen.length < 2 || server.activeClients > 0) await new Promise((r) => setTimeout(r, 10)); })(), 3_000, 'both triggers');
    assert.deepEqual(seen, ['A\u0000', 'B\u0000']);
    assert.equal(server.useCount, 2);
    assert.equal(ended, false, 'still serving after max_use clients');
  });

  it('parseWorkerArgs reads master options and keeps the rest', () => {
    const a = parseWorkerArgs(['-n', 'smtp', '-t', 'inet', '-u', '-v', '-o', 'a=b', '-oc = d', '-z', 'argv=/bin/cat']);
    assert.equal(a.unprivileged, true);
    assert.equal(a.serviceName, 'smtp');
    assert.equal(a.serviceType, 'inet');
    assert.equal(a.verbose, 1);
    assert.deepEqual(a.overrides, { a: 'b', c: 'd' });
    assert.deepEqual(a.args, ['-z', 'argv=/bin/cat']);
  });
});
