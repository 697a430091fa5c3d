/*
 * dict_net_conn_test - endpoint parsing, bounded reads and the request serializer
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { NetIoError, Serializer, netConnect, parseEndpoint, parseHostPort } from './dict_net_conn.js';

test('endpoints as Postfix names them', () => {
  assert.deepEqual(parseEndpoint('inet:127.0.0.1:11211'), { kind: 'inet', host: '127.0.0.1', port: 11211, text: 'inet:127.0.0.1:11211' });
  assert.deepEqual(parseEndpoint('inet:[::1]:25'), { kind: 'inet', host: '::1', port: 25, text: 'inet:[::1]:25' });
  assert.deepEqual(parseEndpoint('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock', text: 'unix:/run/x.sock' });
  assert.deepEqual(parseEndpoint('host.example:99', true), { kind: 'inet', host: 'host.example', port: 99, text: 'host.example:99' });
  assert.match((parseEndpoint('host.example:99') as { error: string }).error, /invalid transport name: host\.example/);
  assert.match((parseEndpoint('inet:nohost') as { error: string }).error, /bad host:port syntax/);
  assert.match((parseEndpoint('unix:') as { error: string }).error, /need service transport:endpoint/);
  assert.equal(parseHostPort('h:0'), null);
  assert.equal(parseHostPort('h:65536'), null);
  assert.equal(parseHostPort('[::1]25'), null);
});

test('bounded line reads, exact reads, EOF and timeouts', async (t) => {
  const server: Server = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      const cmd = d.toString('latin1');
      if (cmd === 'lines') s.write('one\ntwo\nabcdefghij');
      if (cmd === 'bye') s.end('xy');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const c = await netConnect({ kind: 'inet', host: '127.0.0.1', port, text: '' }, 1000);
  await c.write('lines', 1000);
  assert.equal(await c.readLine(10, 1000), 'one');
  assert.equal(await c.readLine(4, 1000), 'two');
  await assert.rejects(c.readLine(5, 1000), (e: unknown) => e instanceof NetIoError && e.kind === 'toolong');
  assert.equal(await c.readBytes(10, 1000), 'abcdefghij');
  await assert.rejects(c.readByte(100), (e: unknown) => e instanceof NetIoError && e.kind === 'timeout');
  await c.write('bye', 1000);
  assert.equal(await c.readBytes(2, 1000), 'xy');
  await assert.rejects(c.readByte(1000), (e: unknown) => e instanceof NetIoError && e.kind === 'eof');
  c.close();
  await assert.rejects(netConnect({ kind: 'unix', path: '/nonexistent/sock', text: '' }, 1000), /No such file or directory/);
});

test('serializer: one job at a time, bounded waiters', async () => {
  const s = new Serializer(3);
  let running = 0;
  let peak = 0;
  const job = async (v: number): Promise<number> => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    return v;
  };
  const jobs = [s.run(() => job(1)), s.run(() => job(2)), s.run(() => job(3))];
  await assert.rejects(s.run(() => job(4)), (e: unknown) => e instanceof NetIoError && e.kind === 'busy');
  assert.deepEqual(await Promise.all(jobs), [1, 2, 3]);
  assert.equal(peak, 1);
  assert.equal(await s.run(() => job(5)), 5);
});
