/*
 * pipe_test - pipe(8) delivered in-process through the real delivery request protocol, with real commands
 *
 * What it tests: argv= macro expansion with hostile addresses ("-x",
 * "$(id)", ";rm -rf /", quotes, spaces) arriving verbatim, one argument
 * each, one per recipient; the h/u flags; the message on stdin with
 * Return-Path:; the command running as user= (nobody); sysexits mapping
 * (75 deferred, 67 bounced 5.1.1, 1 "Command died with status 1",
 * "4.x.x text" output wins); the time limit killing the whole process
 * group and bouncing 5.3.0 "Command time limit exceeded"; size=, the D
 * flag's loop check and its single-recipient rule; bad attributes.
 *
 * What it does not test: master or qmgr (test/system does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, chmodSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { getpwnam } from '../util/pwd_lookup.js';
import { DEL_STAT } from '../global/deliver_request.js';
import { BOUNCE_CMD } from '../global/bounce_clnt.js';
import { createPipeDeliver, pipeService } from './pipe.js';
import { PipeAttrError, parsePipeAttr } from './pipe_attr.js';
import { AgentHarness } from '../global/agent_harness_test_lib.js';

const NOBODY = getpwnam('nobody');
const PY = '/usr/bin/python3';

/** Writes its argv, uid and stdin as JSON to the file named by argv[1]. */
const RECORD_SCRIPT = 'import sys, os, json; data = sys.stdin.read(); open(sys.argv[1], "w").write(json.dumps({"argv": sys.argv[2:], "uid": os.getuid(), "stdin": data}))';
/** Reads stdin, prints argv[1], exits with argv[2]. */
const EXIT_SCRIPT = 'import sys; sys.stdin.read(); print(sys.argv[1]); sys.exit(int(sys.argv[2]))';
/** Starts a grandchild sleeper, records its pid, then sleeps itself. */
const HANG_SCRIPT = 'import sys, subprocess, time; p = subprocess.Popen(["/bin/sleep", "300"]); open(sys.argv[1], "w").write(str(p.pid)); time.sleep(300)';

function harness(args: (dir: string) => string[], params: Record<string, string> = {}): AgentHarness {
  assert.ok(NOBODY, 'the nobody account must exist');
  let outDir = '';
  const h = new AgentHarness((dir) => {
    outDir = join(dir, 'out');
    return { recipient_delimiter: '+', ...params };
  }, { serviceName: 'mypipe', args: [] });
  mkdirSync(outDir, { mode: 0o777 });
  chmodSync(outDir, 0o777);
  h.args.push(...args(outDir));
  return h;
}

function deliverFor(h: AgentHarness) {
  const ctx = { config: h.config, serviceName: h.serviceName, serviceType: 'unix', programName: 'pipe', args: h.args, signal: new AbortController().signal };
  return createPipeDeliver(pipeService(ctx));
}

test('pipe: hostile addresses arrive verbatim as single arguments, one per recipient; runs as user=; stdin has the message', async () => {
  assert.equal(process.getuid?.(), 0, 'these tests run as root (user=nobody)');
  const h = harness((out) => ['flags=Rhu', 'user=nobody', `argv=${PY}`, '-c', RECORD_SCRIPT, join(out, 'rec.json'),
    '-f', '${sender}', '--', '${recipient}', 'u=${user}', 'e=${extension}', 'd=${domain}', 'm=$(mailbox)', 'o=${original_recipient}',
    'n=$nexthop', 'q=${queue_id}', 's=${size}', 'c=${client_address}', '$$HOME', '{literal}']);
  try {
    const hostile = ['-x@Dom.Test', '$(id)@dom.test', ';rm -rf /@dom.test', `it's "q"@dom.test`, 'a b\\c@dom.test', 'User+Ext@dom.test'];
    const q = await h.enqueue({ sender: '-f$(id)@evil.test', recipients: hostile.map((a) => ({ address: a })), lines: ['Subject: pipe test', '', 'body line'] });
    const req = h.request(q, { nexthop: 'Next.Hop', clientAddr: '192.0.2.1' });
    const reply = await h.deliver(deliverFor(h), req);
    assert.equal(reply.status, DEL_STAT.OK, h.logs.join('\n'));
    const rec = JSON.parse(readFileSync(join(h.dir, 'out', 'rec.json'), 'utf8')) as { argv: string[]; uid: number; stdin: string };
    assert.equal(rec.uid, NOBODY!.uid);
    const folded = ['-x@dom.test', '$(id)@dom.test', ';rm -rf /@dom.test', `it's "q"@dom.test`, 'a b\\c@dom.test', 'user+ext@dom.test'];
    const locals = folded.map((a) => a.slice(0, a.lastIndexOf('@')));
    assert.deepEqual(rec.argv, [
      '-f', '-f$(id)@evil.test', '--',
      ...folded,
      ...locals.map((l) => `u=${l.split('+')[0]}`),
      ...locals.map((l) => `e=${l.includes('+') ? l.split('+')[1] : ''}`),
      ...folded.map(() => 'd=dom.test'),
      ...locals.map((l) => `m=${l}`),
      ...folded.map((a) => `o=${a}`),
      'n=next.hop', `q=${q.queueId}`, `s=${req.dataSize}`, 'c=192.0.2.1', '$HOME', '{literal}',
    ]);
    assert.equal(rec.stdin, 'Return-Path: <"-f$(id)"@evil.test>\nSubject: pipe test\n\nbody line\n');
    // Log lines show the addresses in external (quoted) form, as Postfix's info_log_address_format default.
    assert.equal(h.logLines(new RegExp(`^${q.queueId}: to=<.*>, relay=mypipe, .*dsn=2\\.0\\.0, status=sent \\(delivered via mypipe service\\)$`)).length, hostile.length, h.logs.join('\n'));
    assert.equal(h.logLines(new RegExp(`^${q.queueId}: to=<";rm -rf /"@dom\\.test>, relay=mypipe, `)).length, 1);
    assert.equal(h.doneRecipients(q.path).length, hostile.length);
  } finally {
    h.close();
  }
});

test('pipe: sysexits mapping, D.S.N output, time limit kills the process group', async () => {
  const h = harness((out) => ['user=nobody', `argv=${PY}`, '-c', '${nexthop}', join(out, 'pid'), '${user}'], { mypipe_time_limit: '2s' });
  try {
    const deliver = deliverFor(h);
    const run = async (nexthop: string, user: string) => {
      const q = await h.enqueue({ sender: 's@example.org', recipients: [{ address: `${user}@dom.test` }], lines: ['Subject: x', '', 'y'] });
      return { q, reply: await h.deliver(deliver, h.request(q, { nexthop })) };
    };
    // The script travels as ${nexthop}; arguments per case.
    const exit = (text: string, code: number) => `${EXIT_SCRIPT.replace('sys.argv[1]', JSON.stringify(text)).replace('int(sys.argv[2])', String(code))}`;
    const started = Date.now();
    const [t75, t67, t1, tdsn, thang] = await Promise.all([
      run(exit('busy now', 75), 'a'),
      run(exit('no such mailbox', 67), 'b'),
      run(exit('oops', 1), 'c'),
      run(exit('4.7.1 try again later', 1), 'd'),
      run(HANG_SCRIPT, 'e'),
    ]);
    const elapsed = Date.now() - started;
    const line = (q: { queueId: string }) => h.logLines(new RegExp(`^${q.queueId}: to=`)).join('\n');
    assert.equal(t75.reply.status, DEL_STAT.DEFER);
    assert.match(line(t75.q), /dsn=4\.3\.0, status=deferred \(temporary failure\. Command output: busy now \)$/);
    assert.deepEqual(h.doneRecipients(t75.q.path), []);
    assert.equal(t67.reply.status, DEL_STAT.OK);
    assert.match(line(t67.q), /dsn=5\.1\.1, status=bounced \(user unknown\. Command output: no such mailbox \)$/);
    assert.deepEqual(h.doneRecipients(t67.q.path), ['b@dom.test']);
    assert.match(line(t1.q), /dsn=5\.3\.0, status=bounced \(Command died with status 1: "\/usr\/bin\/python3"\. Command output: oops \)$/);
    assert.equal(tdsn.reply.status, DEL_STAT.DEFER);
    assert.match(line(tdsn.q), /dsn=4\.7\.1, status=deferred \(try again later \)$/);
    assert.match(line(thang.q), /dsn=5\.3\.0, status=bounced \(Command time limit exceeded: "\/usr\/bin\/python3"\)$/);
    assert.ok(elapsed < 20_000, `time limit enforced (${elapsed} ms)`);
    const pid = Number(readFileSync(join(h.dir, 'out', 'pid'), 'utf8'));
    assert.ok(pid > 0);
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      alive = existsSync(`/proc/${pid}`) && !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (alive) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(alive, false, 'the grandchild in the process group was killed');
    const kinds = h.bounceRequests.filter((b) => b.req.command === BOUNCE_CMD.APPEND).map((b) => b.service).sort();
    assert.deepEqual(kinds, ['bounce', 'bounce', 'bounce', 'defer', 'defer']);
  } finally {
    h.close();
  }
});

test('pipe: size=, D flag loop detection and single-recipient rule, unknown macro', async () => {
  const h = harness(() => ['flags=D', 'size=100', 'user=nobody', 'argv=/bin/true', '${recipient}']);
  try {
    const deliver = deliverFor(h);
    const big = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'big@dom.test' }], lines: ['Subject: big', '', 'x'.repeat(200)] });
    await h.deliver(deliver, h.request(big));
    assert.match(h.logLines(new RegExp(`^${big.queueId}: `)).join(''), /dsn=5\.2\.3, status=bounced \(message too large\)$/);
    const loop = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'Loop@Dom.test' }], lines: ['Delivered-To: loop@dom.test', 'Subject: l', '', 'y'] });
    await h.deliver(deliver, h.request(loop));
    assert.match(h.logLines(new RegExp(`^${loop.queueId}: `)).join(''), /dsn=5\.4\.6, status=bounced \(mail forwarding loop for Loop@Dom\.test\)$/);
    const two = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'x@dom.test' }, { address: 'y@dom.test' }], lines: ['Subject: t', '', 'y'] });
    assert.equal((await h.deliver(deliver, h.request(two))).status, DEL_STAT.DEFER);
    assert.equal(h.logLines(/^warning: pipe flag `D' requires mypipe_destination_recipient_limit = 1$/).length, 1);
    assert.equal(h.logLines(new RegExp(`^${two.queueId}: .*dsn=4\\.3\\.5, status=deferred \\(mail system configuration error\\)$`)).length, 2);
    const ok = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'ok@dom.test' }], lines: ['Delivered-To: other@dom.test', '', 'y'] });
    assert.equal((await h.deliver(deliver, h.request(ok))).status, DEL_STAT.OK);
  } finally {
    h.close();
  }
  const h2 = harness(() => ['user=nobody', 'argv=/bin/true', '${bogus}']);
  try {
    const q = await h2.enqueue({ sender: '', recipients: [{ address: 'r@dom.test' }], lines: ['', 'y'] });
    assert.equal((await h2.deliver(deliverFor(h2), h2.request(q))).status, DEL_STAT.DEFER);
    assert.equal(h2.logLines(/^warning: file .*\/master\.cf: service mypipe: unknown macro name: "bogus"$/).length, 1, h2.logs.join('\n'));
  } finally {
    h2.close();
  }
});

test('pipe: master.cf attribute errors as Postfix', () => {
  const opts = { ownerUid: 999999, ownerGid: 999999, ownerName: 'postfix', sgidGid: null, sgidGroup: 'postdrop' };
  const err = (args: string[]) => {
    try {
      parsePipeAttr(args, opts);
    } catch (e) {
      assert.ok(e instanceof PipeAttrError);
      return e.message;
    }
    return 'no error';
  };
  assert.equal(err(['user=root', 'argv=/bin/true']), 'user= command-line attribute specifies root privileges');
  assert.equal(err(['argv=/bin/true']), 'missing user= command-line attribute');
  assert.equal(err(['user=nobody']), 'missing argv= command-line attribute');
  assert.equal(err(['flags=Z', 'user=nobody', 'argv=/bin/true']), 'unknown flag: Z (ignored)');
  assert.equal(err(['bogus=1', 'user=nobody', 'argv=/bin/true']), 'unknown attribute name: bogus=1');
  assert.equal(err(['size=12x', 'user=nobody', 'argv=/bin/true']), 'get_service_attr: bad size= value: 12x');
  assert.equal(err(['user=no-such-user-here', 'argv=/bin/true']), 'get_service_attr: unknown username: no-such-user-here');
  assert.equal(err(['user=nobody:root', 'argv=/bin/true']), 'user= command-line attribute specifies privileged group id 0');
  const a = parsePipeAttr(['eol=\\r\\n', 'null_sender=', 'user=nobody', 'argv=/bin/cat', 'a b'], opts);
  assert.equal(a.eol, '\r\n');
  assert.equal(a.nullSender, '');
  assert.deepEqual(a.command, ['/bin/cat', 'a b']);
});
