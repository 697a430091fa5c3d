/*
 * ipc_flush_test - the real Postfix postqueue as a client of Postern servers
 *
 * What it does: puts Postern's createAttrServer() with a flush protocol
 * declaration (per-request layouts, strict) on queue_directory/public/flush of a throwaway
 * configuration, and Postern trigger servers on public/qmgr and
 * public/pickup, then runs the real postqueue(1):
 *  - postqueue -s / -i: the real attr_clnt checks Postern's announcement,
 *    sends its request, which Postern decodes in strict mode, and acts on
 *    the status Postern replies (exit status and message compared for
 *    OK, BAD and DENY);
 *  - postqueue -f: the trigger bytes the real mail_flush_deferred() and
 *    mail_flush_maildrop() send arrive whole through Postern's trigger
 *    server, and equal what Postern's own mailTrigger sends.
 * No master or daemon of the real Postfix runs.
 */
import assert from 'node:assert/strict';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { attr } from '../../src/util/attr0_scan.js';
import { FLUSH_REQ, FLUSH_STAT, MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_CLASS, QMGR_REQ, TRIGGER_REQ_WAKEUP } from '../../src/global/mail_proto.js';
import { mailTrigger } from '../../src/global/mail_trigger.js';
import { type AttrServer, createAttrServer } from '../../src/global/ipc/attr_serv.js';
import type { RequestOf } from '../../src/global/ipc/protocol.js';
import { defineRequestProtocol } from '../../src/global/ipc/protocol_requests.js';
import { serveTriggerConnection } from '../../src/global/ipc/trigger_server.js';
import { type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';

const STATUS = { [MAIL_ATTR.STATUS]: attr.int() };
const FLUSH = defineRequestProtocol({
  name: MAIL_ATTR_PROTO.FLUSH,
  requests: {
    [FLUSH_REQ.ADD]: { request: { [MAIL_ATTR.SITE]: attr.str(), [MAIL_ATTR.QUEUEID]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.SEND_SITE]: { request: { [MAIL_ATTR.SITE]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.SEND_FILE]: { request: { [MAIL_ATTR.QUEUEID]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.REFRESH]: { request: {}, reply: STATUS },
    [FLUSH_REQ.PURGE]: { request: {}, reply: STATUS },
  },
});

let oracle: OracleConfig;
let conf: string;
let queueDir: string;
let flush: AttrServer;
let status: number = FLUSH_STAT.OK;
const requests: Array<RequestOf<typeof FLUSH>> = [];
const triggers: Record<string, Buffer[]> = { qmgr: [], pickup: [] };
const triggerServers: Server[] = [];

before(async () => {
  oracle = makeOracleConfig({
    prefix: 'postern-flush-',
    queueDirs: ['public', 'private', 'maildrop', 'pid'],
    main: {
      data_directory: null,
      compatibility_level: '3.6',
      // postqueue -s asks the flush server only for these domains.
      fast_flush_domains: 'example.com',
    },
  });
  conf = oracle.confDir;
  queueDir = oracle.queueDir;

  flush = createAttrServer(FLUSH, (req) => {
    requests.push(req);
    return { status };
  }, { label: 'public/flush', idleTimeoutMs: 10_000 });
  await flush.listen(join(queueDir, 'public', 'flush'));
  for (const name of Object.keys(triggers)) {
    const s = createServer((sock) => void serveTriggerConnection(sock, (b) => void triggers[name]!.push(b), { waitMs: 5000 }));
    await new Promise<void>((r) => s.listen(join(queueDir, 'public', name), r));
    triggerServers.push(s);
  }
});

after(async () => {
  await flush?.close();
  for (const s of triggerServers) await new Promise<void>((r) => s.close(() => r()));
  await oracle?.cleanup();
});

const postqueue = (...args: string[]) => oracle.run(POSTFIX_PROGRAMS.postqueue, ['-c', conf, ...args], { timeoutMs: 20_000 });

describe('real postqueue against Postern servers', () => {
  it('postqueue -s: request decoded strictly, status OK honoured', async () => {
    requests.length = 0;
    status = FLUSH_STAT.OK;
    const r = await postqueue('-s', 'example.com');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(requests, [{ request: FLUSH_REQ.SEND_SITE, site: 'example.com' }]);
  });

  it('postqueue -i: send_file with queue_id; BAD and DENY replies read as Postfix means them', async () => {
    requests.length = 0;
    status = FLUSH_STAT.BAD;
    const bad = await postqueue('-i', 'ABCDEF123');
    assert.deepEqual(requests, [{ request: FLUSH_REQ.SEND_FILE, queue_id: 'ABCDEF123' }]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /fatal: Invalid request: "ABCDEF123"/);
    status = FLUSH_STAT.DENY;
    const deny = await postqueue('-s', 'example.com');
    assert.notEqual(deny.status, 0);
    assert.match(deny.stderr, /fatal: Flush service is not configured for destination "example\.com"/);
  });

  it('postqueue -f: the real trigger bytes arrive whole and equal ours', async () => {
    triggers.qmgr!.length = 0;
    triggers.pickup!.length = 0;
    const r = await postqueue('-f');
    assert.equal(r.status, 0, r.stderr);
    const wanted = QMGR_REQ.FLUSH_DEAD + QMGR_REQ.SCAN_ALL + QMGR_REQ.SCAN_DEFERRED + QMGR_REQ.SCAN_INCOMING;
    assert.deepEqual(triggers.qmgr, [Buffer.from(`${wanted}\0`)]);
    assert.deepEqual(triggers.pickup, [Buffer.from(`${TRIGGER_REQ_WAKEUP}\0`)]);
    assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, 'qmgr', wanted), true);
    assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, 'pickup', TRIGGER_REQ_WAKEUP), true);
    for (let k = 0; k < 100 && (triggers.qmgr!.length < 2 || triggers.pickup!.length < 2); k++) await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(triggers.qmgr![1], triggers.qmgr![0]);
    assert.deepEqual(triggers.pickup![1], triggers.pickup![0]);
  });
});
