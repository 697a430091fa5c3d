/*
 * smtpd_etrn_test - the fast flush client (src/global/flush_clnt.ts) against a flush protocol server,
 * and ETRN through smtpd with it: fast_flush_domains policy (DENY without
 * asking), the server's OK/BAD answers, an unreachable service (FAIL),
 * and smtpd's replies for each ("250 Queuing started", 459, 458).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAttrServer, type AttrServer } from '../global/ipc/attr_serv.js';
import { requestHandlers } from '../global/ipc/protocol_requests.js';
import { FLUSH_STAT } from '../global/mail_proto.js';
import { FLUSH_PROTOCOL, FlushClient } from '../global/flush_clnt.js';
import { MailConfig } from '../global/mail_conf.js';
import { open, startFakeCleanup, startSmtpd, talk, testConfig, type FakeCleanup, type TestSmtpd } from './smtpd_test_lib.js';

let dir: string;
let server: AttrServer;
const asked: string[] = [];
let fc: FakeCleanup;
let smtpd: TestSmtpd;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-flush-'));
  server = createAttrServer(
    FLUSH_PROTOCOL,
    requestHandlers(FLUSH_PROTOCOL, {
      send_site: (req) => {
        asked.push(req.site);
        return { status: req.site === 'bad.example' ? FLUSH_STAT.BAD : FLUSH_STAT.OK };
      },
      add: () => ({ status: FLUSH_STAT.OK }),
      send_file: () => ({ status: FLUSH_STAT.OK }),
      rfrsh: () => ({ status: FLUSH_STAT.OK }),
      purge: () => ({ status: FLUSH_STAT.OK }),
    }),
  );
  await server.listen(join(dir, 'flush'));
  fc = await startFakeCleanup();
  const config = testConfig({ fast_flush_domains: 'example.com, bad.example' });
  smtpd = await startSmtpd(config, { cleanupEndpoint: fc.path, flush: new FlushClient(config, { endpoint: join(dir, 'flush') }) });
});

after(async () => {
  await smtpd.close();
  fc.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('FlushClient', () => {
  const config = new MailConfig(tmpdir(), [], { fast_flush_domains: 'example.com', parent_domain_matches_subdomains: 'fast_flush_domains' });
  it('refuses sites outside fast_flush_domains without asking the server', async () => {
    const c = new FlushClient(config, { endpoint: join(dir, 'flush') });
    const n = asked.length;
    assert.deepEqual(await c.sendSite('other.org'), { status: FLUSH_STAT.DENY });
    assert.equal(asked.length, n);
    assert.deepEqual(await c.sendSite('sub.example.com'), { status: FLUSH_STAT.OK });
    assert.equal(asked[asked.length - 1], 'sub.example.com');
    c.close();
  });
  it('reports an unreachable service as FAIL with the reason', async () => {
    const c = new FlushClient(config, { endpoint: join(dir, 'nosuch'), timeoutMs: 2000 });
    const r = await c.sendSite('example.com');
    assert.equal(r.status, FLUSH_STAT.FAIL);
    assert.match(r.why ?? '', /nosuch/);
  });
});

describe('ETRN through smtpd', () => {
  it('answers 250, 458 and 459 as Postfix for the flush results', async () => {
    const { sock } = await open(smtpd.port);
    const r = await talk(sock, 'EHLO x\r\nETRN example.com\r\nETRN bad.example\r\nETRN other.org\r\nQUIT\r\n', 5);
    assert.deepEqual(r.slice(-4), ['250 Queuing started', '458 Unable to queue messages', '459 <other.org>: service unavailable', '221 2.0.0 Bye']);
  });
});
