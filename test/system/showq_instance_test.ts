/*
 * showq_instance_test - showq(8) as a Postern master runs it, read by the real and by Postern's postqueue
 *
 * What it does: starts a Postern instance with pickup, cleanup,
 * trivial-rewrite, postlogd and showq (no qmgr: mail stays in incoming),
 * submits two messages with Postern's sendmail, waits until both are in
 * incoming, and then lists the queue with Postern's "postqueue -p" and
 * "-j" and with the real Postfix postqueue (a throwaway configuration
 * whose queue_directory is the instance's queue, so it talks to Postern's
 * public/showq). The outputs must be identical and list both messages.
 * The instance is stopped and its directories removed.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PosternInstance } from '../lib/instance.js';
import { runCommand, runProgram } from '../lib/paths.js';
import { makeOracleConfig, POSTFIX_PROGRAMS, type OracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';

/** Generous: a loaded test machine may take long to start Node. */
const RUN_MS = 40_000;
const TZ = 'Asia/Tokyo';

describe('showq under a Postern master', () => {
  let inst: PosternInstance;
  let oracle: OracleConfig;
  before(async () => {
    inst = await PosternInstance.create({
      prefix: 'postern-showq-',
      main: { myhostname: 'host.example', mydomain: 'example', mydestination: '' },
      masterLines: [
        'pickup unix n - n 60 1 pickup',
        'cleanup unix n - n - 0 cleanup',
        'rewrite unix - - n - - trivial-rewrite',
        'postlog unix-dgram n - n - 1 postlogd',
        'showq unix n - n - - showq',
      ],
    });
    await inst.start();
    oracle = makeOracleConfig({ prefix: 'postern-showq-oracle-', main: { compatibility_level: '3.6', queue_directory: inst.queueDir } });
  });
  after(async () => {
    await inst?.stop();
    await inst?.cleanup();
    await oracle?.cleanup();
  });

  it('Postern postqueue and the real postqueue print the same listing from Postern showq', async () => {
    for (const [from, to] of [
      ['alice@example.org', 'bob@example.com'],
      ['carol@example.org', 'dave@example.net'],
    ]) {
      const r = await runCommand('sendmail', ['-C', inst.confDir, '-f', from!, to!], { input: 'Subject: showq\n\nhello\n', timeoutMs: RUN_MS });
      assert.equal(r.status, 0, r.stderr);
    }
    const incoming = join(inst.queueDir, 'incoming');
    assert.ok(await waitUntil(() => readdirSync(incoming).length === 2, 15_000), 'two messages in incoming');
    const env: NodeJS.ProcessEnv = { ...process.env, TZ };
    delete env.MAIL_CONFIG;
    const ours = await runCommand('postqueue', ['-c', inst.confDir, '-p'], { env, timeoutMs: RUN_MS });
    const real = await runProgram(POSTFIX_PROGRAMS.postqueue, ['-c', oracle.confDir, '-p'], { env, timeoutMs: RUN_MS });
    assert.equal(ours.stderr, '');
    assert.equal(real.stderr, '');
    assert.equal(ours.status, 0);
    assert.equal(real.status, 0);
    assert.equal(ours.stdout, real.stdout);
    assert.match(ours.stdout, /alice@example\.org\n +bob@example\.com\n/);
    assert.match(ours.stdout, /-- \d+ Kbytes in 2 Requests\.\n$/);
    const oursJ = await runCommand('postqueue', ['-c', inst.confDir, '-j'], { env, timeoutMs: RUN_MS });
    const realJ = await runProgram(POSTFIX_PROGRAMS.postqueue, ['-c', oracle.confDir, '-j'], { env, timeoutMs: RUN_MS });
    assert.equal(oursJ.stdout, realJ.stdout);
    assert.equal(oursJ.stdout.split('\n').filter((l) => l.startsWith('{"queue_name": "incoming"')).length, 2);
  });
});
