/*
 * start_test - the README's run command works: scripts/start.sh (npm
 * start) builds, lays out its var tree from conf/, starts master in the
 * foreground, and Ctrl-C (SIGINT to its process group, as a terminal
 * sends it) stops it leaving no process behind.
 *
 * It runs with POSTERN_VAR pointing at a temporary directory, so it never
 * touches a developer's ./var.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, runCommand } from '../lib/paths.js';
import { processesMentioning } from '../lib/proc.js';

const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
const POLL_MS = 200;

async function waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

test('npm start runs master in the foreground and Ctrl-C stops it cleanly', { timeout: START_TIMEOUT_MS + 60_000 }, async () => {
  const varDir = mkdtempSync(join(tmpdir(), 'postern-start-'));
  // Daemons that drop to mail_owner must be able to reach the tree.
  chmodSync(varDir, 0o755);
  const etc = join(varDir, 'etc');
  const maillog = join(varDir, 'log', 'maillog');
  const child = spawn('bash', ['scripts/start.sh'], {
    cwd: REPO_ROOT,
    env: { ...process.env, POSTERN_VAR: varDir },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  let exitCode: number | null = null;
  let exited = false;
  child.on('exit', (code) => {
    exitCode = code;
    exited = true;
  });
  try {
    await waitFor('"daemon started" in the maillog', START_TIMEOUT_MS, () => {
      if (exited) throw new Error(`start.sh ended early (status ${exitCode}):\n${output}`);
      return existsSync(maillog) && readFileSync(maillog, 'utf8').includes('postfix/master[');
    });
    assert.match(readFileSync(maillog, 'utf8'), /postfix\/master\[\d+\]: daemon started -- version [\d.]+, configuration /);
    assert.match(output, new RegExp(`config directory ${etc}`));
    assert.match(output, /queue directory +\S+\/spool\/postern/);

    const status = await runCommand('postfix', ['-c', etc, 'status']);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stderr + status.stdout, /the Postfix mail system is running: PID: \d+/);
    assert.ok(processesMentioning(etc).length > 0);
    // start.sh built the bundled alias table (newaliases): local(8) finds postmaster in it.
    const alias = await runCommand('postalias', ['-c', etc, '-q', 'postmaster', `lmdb:${join(etc, 'aliases')}`]);
    assert.equal(alias.stdout, 'root\n', alias.stderr);

    process.kill(-child.pid!, 'SIGINT');
    await waitFor('start.sh to end', STOP_TIMEOUT_MS, () => exited);
    assert.equal(exitCode, 0, output);
    assert.match(readFileSync(maillog, 'utf8'), /postfix\/master\[\d+\]: terminating on signal 2/);
    await waitFor('every process of this instance to end', STOP_TIMEOUT_MS, () => processesMentioning(etc).length === 0);
  } finally {
    if (!exited) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const pid of processesMentioning(etc)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    rmSync(varDir, { recursive: true, force: true });
  }
});
