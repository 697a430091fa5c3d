/*
 * master_ent_test - master.cf entries to services: endpoints, ports, commands
 *
 * What it does: checks buildServiceSpec and its helpers against what
 * Postfix's master does with the same entries: unix/fifo endpoints under
 * private/ or public/, inet host:port and [v6]:port, bare ports on
 * inet_interfaces (loopback-only, all, per inet_protocols), port names
 * from known_tcp_ports then /etc/services (compared with getent),
 * master_service_disable, the worker's command line, daemon resolution.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { parseMasterCf } from '../global/master_cf.js';
import {
  buildServiceSpec,
  interfaceHosts,
  MasterEntError,
  parseKnownTcpPorts,
  resolveCommand,
  resolvePort,
  serviceDisabled,
} from './master_ent.js';

let dir: string;
function config(o: Record<string, string> = {}): MailConfig {
  return loadMailConfig({ configDir: dir, overrides: { queue_directory: '/q', ...o } });
}
function spec(line: string, o: Record<string, string> = {}) {
  const [e] = parseMasterCf(`${line}\n`, '/etc/postfix/master.cf');
  return buildServiceSpec(e, config(o), 0);
}

describe('master_ent', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'postern-ment-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('puts unix and fifo endpoints under private/ or public/', () => {
    const cleanup = spec('cleanup unix n - n - 0 cleanup');
    assert.deepEqual(cleanup.endpoint, { kind: 'path', path: '/q/public/cleanup', label: 'public/cleanup' });
    assert.equal(cleanup.maxproc, 0);
    const rewrite = spec('rewrite unix - - n - - trivial-rewrite');
    assert.equal(rewrite.endpoint.kind === 'path' && rewrite.endpoint.path, '/q/private/rewrite');
    assert.equal(rewrite.maxproc, 100, 'default_process_limit');
    assert.ok(rewrite.modulePath.endsWith('/src/trivial-rewrite/trivial_rewrite.js'));
    const pass = spec('smtpd pass - - n - - smtpd');
    assert.equal(pass.endpoint.kind === 'path' && pass.endpoint.path, '/q/private/smtpd');
    const pickup = spec('pickup fifo n - n 60 1 pickup');
    assert.equal(pickup.endpoint.kind === 'path' && pickup.endpoint.path, '/q/public/pickup');
    assert.equal(pickup.wakeupSeconds, 60);
  });

  it('parses inet endpoints', () => {
    const a = spec('127.0.0.1:2525 inet n - n - - smtpd');
    assert.deepEqual(a.endpoint, { kind: 'inet', addrs: [{ host: '127.0.0.1', port: 2525 }], label: '127.0.0.1:2525' });
    const b = spec('[::1]:2526 inet n - n - - smtpd');
    assert.deepEqual(b.endpoint.kind === 'inet' && b.endpoint.addrs, [{ host: '::1', port: 2526 }]);
    const c = spec('smtp inet n - n - - smtpd', { inet_interfaces: 'loopback-only', inet_protocols: 'ipv4' });
    assert.deepEqual(c.endpoint.kind === 'inet' && c.endpoint.addrs, [{ host: '127.0.0.1', port: 25 }]);
    assert.throws(() => spec('nosuchport inet n - n - - smtpd'), MasterEntError);
  });

  it('follows inet_interfaces and inet_protocols for a bare port', () => {
    assert.deepEqual(interfaceHosts(config({ inet_interfaces: 'all', inet_protocols: 'all' })), [{ host: '::', ipv6Only: false }]);
    assert.deepEqual(interfaceHosts(config({ inet_interfaces: 'all', inet_protocols: 'ipv4' })), [{ host: '0.0.0.0' }]);
    assert.deepEqual(interfaceHosts(config({ inet_interfaces: 'loopback-only', inet_protocols: 'all' })), [
      { host: '127.0.0.1' },
      { host: '::1', ipv6Only: true },
    ]);
    assert.deepEqual(interfaceHosts(config({ inet_interfaces: '192.0.2.1, [2001:db8::1]' })), [{ host: '192.0.2.1' }, { host: '2001:db8::1' }]);
  });

  it('resolves port names via known_tcp_ports, then /etc/services', () => {
    assert.deepEqual([...parseKnownTcpPorts('lmtp=24, smtp=25, smtps=submissions=465, submission=587')], [
      ['lmtp', 24],
      ['smtp', 25],
      ['smtps', 465],
      ['submissions', 465],
      ['submission', 587],
    ]);
    const c = config();
    assert.equal(resolvePort('submissions', c), 465);
    assert.equal(resolvePort('2525', c), 2525);
    assert.equal(resolvePort('0', c), null);
    const getent = execFileSync('getent', ['services', 'pop3/tcp'], { encoding: 'utf8' });
    assert.equal(resolvePort('pop3', c), Number(/(\d+)\/tcp/.exec(getent)?.[1]));
  });

  it('honours master_service_disable', () => {
    const c = config({ master_service_disable: 'inet, pickup/fifo' });
    assert.equal(serviceDisabled(c, 'smtp', 'inet'), true);
    assert.equal(serviceDisabled(c, 'pickup', 'fifo'), true);
    assert.equal(serviceDisabled(c, 'pickup', 'unix'), false);
  });

  it('builds the worker command line', () => {
    const s = spec('submission inet n - n - - smtpd -o syslog_name=postfix/submission -o smtpd_tls_security_level=encrypt');
    assert.deepEqual(s.workerArgs, [
      '-n',
      'submission',
      '-t',
      'inet',
      '-u',
      '-o',
      'syslog_name=postfix/submission',
      '-o',
      'smtpd_tls_security_level=encrypt',
    ]);
    assert.deepEqual(spec('rewrite unix - n n - - trivial-rewrite').workerArgs, ['-n', 'rewrite', '-t', 'unix']);
    assert.equal(resolveCommand('/opt/x/service.js'), '/opt/x/service.js');
  });
});
