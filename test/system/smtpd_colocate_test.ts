/*
 * smtpd_colocate_test - smtpd runs the cleanup service in its own process
 *
 * What it does: under the real Postern master, with swaks as the client:
 * when master.cf runs cleanup_service_name with the cleanup program,
 * smtpd does the cleanup work itself (no cleanup process is started),
 * with the cleanup entry's own -o settings (a header_checks REJECT and a
 * syslog_name that only the cleanup entry has), and cleanup's log lines
 * carry "SYSLOG_NAME/cleanup" with smtpd's pid; a second smtpd whose
 * cleanup_service_name names an entry running the cleanup module by its
 * absolute path talks to a separate cleanup process over the socket.
 *
 * What it does not do: compare queue files with Postfix's (the other
 * smtpd system tests do that with co-location in place).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveCommand } from '../../src/master/master_ent.js';
import { PosternInstance } from '../lib/instance.js';
import { runSwaks } from '../lib/peers.js';
import { descendantsOf, waitFor } from '../lib/proc.js';

let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-colocate-',
    main: { smtpd_peername_lookup: 'no', mynetworks: '127.0.0.0/8', local_recipient_maps: '' },
    ports: ['smtp', 'smtp2'],
    masterLines: [
      '127.0.0.1:${port:smtp} inet n - n - - smtpd',
      '127.0.0.1:${port:smtp2} inet n - n - - smtpd -o cleanup_service_name=bypath',
      'cleanup unix n - n - 0 cleanup -o header_checks=regexp:${root}/etc/header_checks -o syslog_name=postfix-in',
      `bypath unix n - n - 0 ${resolveCommand('cleanup')}`,
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  writeFileSync(join(inst.confDir, 'header_checks'), '/^Subject: colocated reject/ REJECT no thanks\n');
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

/** Programs (the .js file name) of master's live descendants. */
function runningPrograms(): string[] {
  return descendantsOf(inst.child!.pid!).map((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      return (argv.find((a) => a.endsWith('.js')) ?? '').replace(/^.*\//, '');
    } catch {
      return '';
    }
  });
}

function queuedId(replies: string[]): string {
  const m = replies.map((l) => /^250 2\.0\.0 Ok: queued as (\S+)/.exec(l)).find(Boolean);
  assert.ok(m, replies.join('\n'));
  return m[1];
}

describe('smtpd with the cleanup service in its process', () => {
  it('runs cleanup in smtpd with the cleanup entry settings and tag', async () => {
    const ok = await runSwaks({ server: inst.address('smtp'), from: 'a@example.com', to: 'b@example.net', headers: ['Subject: fine'] });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const id = queuedId(ok.replies);
    const bad = await runSwaks({ server: inst.address('smtp'), from: 'a@example.com', to: 'b@example.net', headers: ['Subject: colocated reject'] });
    assert.ok(bad.replies.some((l) => /^550 5\.7\.1 no thanks/.test(l)), bad.replies.join('\n'));

    const log = await waitFor('the message-id line', () => (/cleanup\[\d+\]: \S+: message-id=/.test(inst.log()) ? inst.log() : null), 10_000);
    const smtpdPid = new RegExp(`postfix/smtpd\\[(\\d+)\\]: ${id}: client=`).exec(log)?.[1];
    assert.ok(smtpdPid, log);
    assert.match(log, new RegExp(`postfix-in/cleanup\\[${smtpdPid}\\]: ${id}: message-id=`));
    assert.match(log, /postfix-in\/cleanup\[\d+\]: \S+: reject: header Subject: colocated reject/);
    assert.ok(!runningPrograms().includes('cleanup.js'), `no cleanup process: ${runningPrograms().join(' ')}`);
  });

  it('connects to a cleanup entry that runs another command', async () => {
    const r = await runSwaks({ server: inst.address('smtp2'), from: 'a@example.com', to: 'b@example.net' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const id = queuedId(r.replies);
    const log = await waitFor('the message-id line', () => (new RegExp(`${id}: message-id=`).test(inst.log()) ? inst.log() : null), 10_000);
    const cleanupPid = new RegExp(`postfix/cleanup\\[(\\d+)\\]: ${id}: message-id=`).exec(log)?.[1];
    const smtpdPid = new RegExp(`postfix/smtpd\\[(\\d+)\\]: ${id}: client=`).exec(log)?.[1];
    assert.ok(cleanupPid && smtpdPid, log);
    assert.notEqual(cleanupPid, smtpdPid);
    assert.ok(runningPrograms().includes('cleanup.js'), runningPrograms().join(' '));
  });
});
