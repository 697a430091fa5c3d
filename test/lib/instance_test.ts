/*
 * instance_test - the live-instance harness: the shipped configuration
 * starts through `postfix start-fg` and stops leaving no process; a
 * service added with postconf -Me on a picked loopback port answers a
 * .chat dialog; a port taken between picking and binding is picked anew;
 * a bad service entry fails create() with postconf's message.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseChat, playChat } from './chat.js';
import { PosternInstance } from './instance.js';
import { processAlive, processesMentioning } from './proc.js';
import { ECHO_SERVICE } from './test_services.js';

const ECHO_ENTRY = '127.0.0.1:${port:echo} inet n - n - - ${root}/echo.mjs -o echo_greeting=hi';

describe('PosternInstance', () => {
  it('starts the shipped configuration with postfix start-fg and stops it leaving no process', async () => {
    const inst = await PosternInstance.create({ main: { myhostname: 'inst.postern.example' } });
    try {
      assert.match(readFileSync(join(inst.confDir, 'main.cf'), 'utf8'), new RegExp(`^queue_directory = ${inst.queueDir}$`, 'm'));
      const n = await inst.postconf(['-h', 'myhostname', 'maillog_file']);
      assert.equal(n.stdout, `inst.postern.example\n${inst.logFile}\n`);
      await inst.start();
      assert.equal(inst.countLog(/postfix\/master\[\d+\]: daemon started -- version [\d.]+, configuration /), 1, inst.log());
      const status = await inst.postfix(['status']);
      assert.equal(status.status, 0, status.stderr);
      assert.match(status.stderr + status.stdout, /the Postfix mail system is running: PID: \d+/);
      const master = inst.child?.pid as number;
      await inst.stop();
      assert.equal(processAlive(master), false);
      assert.deepEqual(processesMentioning(inst.confDir), []);
      await inst.waitLog(/postfix\/master\[\d+\]: terminating on signal 15/, 5_000);
      const after = await inst.postfix(['status']);
      assert.equal(after.status, 1);
    } finally {
      await inst.cleanup();
    }
  });

  it('runs a service added with postconf -Me on a picked port, which answers a dialog', async () => {
    const inst = await PosternInstance.create({
      ports: ['echo'],
      services: { '127.0.0.1:${port:echo}/inet': ECHO_ENTRY },
      files: { 'echo.mjs': ECHO_SERVICE },
      startWith: 'master',
    });
    try {
      const m = await inst.postconf(['-M', `127.0.0.1:${inst.ports.echo}/inet`]);
      assert.match(m.stdout, new RegExp(`^127\\.0\\.0\\.1:${inst.ports.echo} +inet +n +- +n +- +- +${inst.root}/echo\\.mjs -o echo_greeting=hi$`, 'm'));
      await inst.start();
      const script = parseChat(
        ['c = connect ${echo}', 'c <~ pid=\\d+ uid=\\d+ greeting=hi service=127\\.0\\.0\\.1:${port_echo}$', 'c -> hello there', 'c <- hello there', 'c => quit\\n', 'c wait close'].join('\n'),
        'echo.chat',
        inst.chatVars(),
      );
      const transcript = await playChat(script);
      const pid = Number(/pid=(\d+)/.exec(transcript.join('\n'))?.[1]);
      assert.ok(processAlive(pid), 'the echo worker is running');
      await inst.stop();
      assert.equal(processAlive(pid), false, 'the echo worker outlived stop()');
    } finally {
      await inst.cleanup();
    }
  });

  it('picks new ports when a picked one is taken before master binds it', async () => {
    const inst = await PosternInstance.create({
      ports: ['echo'],
      services: { '127.0.0.1:${port:echo}/inet': ECHO_ENTRY },
      files: { 'echo.mjs': ECHO_SERVICE },
    });
    const taken = inst.ports.echo;
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen(taken, '127.0.0.1', () => r()));
    try {
      await inst.start();
      assert.notEqual(inst.ports.echo, taken);
      const script = parseChat('c = connect 127.0.0.1:${port}\nc <~ pid=\\d+ .* greeting=hi \nc => quit\\n\nc wait close\n', 'retry.chat', { port: String(inst.ports.echo) });
      await playChat(script);
      assert.equal(inst.address('echo'), `127.0.0.1:${inst.ports.echo}`);
    } finally {
      squatter.close();
      await inst.cleanup();
    }
  });

  it('fails create() with postconf -Me\'s message for a bad service entry, leaving no directory', async () => {
    await assert.rejects(PosternInstance.create({ prefix: 'postern-inst-bad-', services: { 'bad/inet': 'bad inet n - n - -' } }), /postconf -c \S+ -Me .*failed \(status 1\): .*postconf: fatal: /s);
  });
});
