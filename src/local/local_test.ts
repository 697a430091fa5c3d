/*
 * local_test - local(8) through the delivery agent protocol, with the real status reporting
 *
 * qmgr's side (deliverRequestCall) talks to serveDeliveryConnection()
 * running localDeliver() over a UNIX socket, as master would connect
 * them; sent() logs Postfix's line and the recipient is crossed off in
 * the queue file only after the mailbox was written. A deferred
 * recipient stays in the queue file and the reply says DEFER.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { deliverRequestCall } from '../global/deliver_request.js';
import { makeDeliveryContext, serveDeliveryConnection } from '../global/delivery_agent.js';
import { loadMailConfig } from '../global/mail_conf.js';
import { readQueueFile } from '../global/queue_file_read.js';
import { localResolveClient } from '../global/resolve_clnt.js';
import { localRewriteClient } from '../global/rewrite_clnt.js';
import { msgSetSinks, msgSinks } from '../util/msg.js';
import { localDeliver } from './local.js';
import { makeLocalHarness } from './local_testlib.js';

test('a delivery request over the socket: mailbox written, Postfix log line, recipient crossed off', async (t) => {
  const h = makeLocalHarness(t);
  const lines: string[] = [];
  const saved = [...msgSinks()];
  msgSetSinks([{ write: (_sev, text) => lines.push(text) }]);
  t.after(() => msgSetSinks(saved));
  const config = loadMailConfig({ configDir: join(h.root, 'etc') });
  const ctx = makeDeliveryContext({ config, serviceName: 'local', serviceType: 'unix', programName: 'local', args: [], signal: new AbortController().signal });
  const pw = new Map([...h.users, h.account].map((u) => [u.name, u]));
  const sock = join(h.root, 'queue', 'private', 'local');
  const server = createServer((s) => {
    void serveDeliveryConnection(s, (req, c) => localDeliver(req, c, { getpwnam: (n) => pw.get(n) ?? null, getpwuid: () => null, resolver: localResolveClient(config), rewriter: localRewriteClient(config) }), ctx);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  t.after(() => server.close());

  const req = await h.submit({ rcpts: ['alice@host.example.test'], lines: ['Subject: s', '', 'hello'] });
  const r = await deliverRequestCall(sock, req, { timeoutMs: 10_000 });
  assert.ok(r.ok, !r.ok ? r.message : '');
  assert.deepEqual(r.reply, { status: 0, hop: null }, lines.join("\n"));
  assert.match(readFileSync(join(h.spool, 'alice'), 'utf8'), /\nhello\n\n$/);
  const logLine = lines.find((l) => l.includes(`${req.queueId}: to=<alice@host.example.test>`));
  assert.match(logLine ?? '', new RegExp(`^${req.queueId}: to=<alice@host\\.example\\.test>, relay=local, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)$`));
  const path = ctx.queueFilePath(req);
  const qf = readQueueFile(path);
  assert.ok(qf.ok);
  assert.deepEqual(qf.file.recipients.map((x) => x.done), [true]);
});
