/*
 * smtpd_standalone_test - "smtpd -S" (sendmail -bs) against Postfix's sendmail -bs
 *
 * What it does: feeds the same SMTP dialog to the real "sendmail -bs"
 * (Postfix's smtpd in stand-alone mode, writing through the real
 * postdrop) and to Postern's "smtpd -S" (writing through Postern's
 * postdrop), each with its own throwaway configuration and queue, then
 * compares the replies and the maildrop files as the real postcat shows
 * them (up to queue ids, host names and times): same envelope (no client
 * attributes in stand-alone mode), same Received: header
 * ("from HELO (localhost [127.0.0.1])"), same content. ETRN is refused
 * with 458 in this mode, as Postfix does.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeOracleConfig, ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, postfixIds, type OracleConfig } from '../lib/postfix_oracle.js';
import { runProgram, srcPath } from '../lib/paths.js';

const INPUT = 'HELO me\r\nMAIL FROM:<u@sa.example>\r\nRCPT TO:<x@y.z>\r\nRCPT TO:<w@y.z> NOTIFY=NEVER\r\nDATA\r\nSubject: sa\r\n\r\nhi\r\n..dot\r\n.\r\nETRN x\r\nQUIT\r\n';

/** Without local_recipient_maps the real smtpd does not wait for proxymap (no instance runs). */
const MAIN = { ...ORACLE_MAIN_BASE, local_recipient_maps: '', alias_maps: '' };

let real: OracleConfig;
let ours: OracleConfig;

function postdropGid(): number {
  const line = execFileSync('getent', ['group', 'postdrop'], { encoding: 'utf8' }).trim();
  return Number(line.split(':')[2]);
}

before(() => {
  assert.equal(process.getuid?.(), 0, 'the real postdrop needs its set-gid maildrop (run as root)');
  real = makeOracleConfig({ prefix: 'postern-sa-real-', main: MAIN });
  ours = makeOracleConfig({ prefix: 'postern-sa-ours-', main: MAIN });
  const maildrop = join(real.queueDir, 'maildrop');
  mkdirSync(maildrop);
  chownSync(maildrop, postfixIds().uid, postdropGid());
  chmodSync(maildrop, 0o1730);
  mkdirSync(join(ours.queueDir, 'maildrop'));
});

after(async () => {
  await real?.cleanup();
  await ours?.cleanup();
});

async function maildropFile(queueDir: string, conf: OracleConfig): Promise<string[]> {
  const names = readdirSync(join(queueDir, 'maildrop'));
  assert.equal(names.length, 1, names.join(' '));
  const id = names[0]!;
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', conf.confDir, join(queueDir, 'maildrop', id)]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('message_arrival_time'))
    .map((l) => l.replaceAll(id, 'QUEUEID').replace(/^(\*\*\* [A-Z ]+) .*\*\*\*$/, '$1 ***').replace(/\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)$/, 'DATE'));
}

describe('stand-alone smtpd (sendmail -bs)', () => {
  it('answers and writes the maildrop file as Postfix does', async () => {
    const a = await runProgram(POSTFIX_PROGRAMS.sendmail, ['-C', real.confDir, '-bs'], { input: INPUT, env: real.env, timeoutMs: 20_000 });
    const b = await runProgram(process.execPath, [srcPath('dist/src/smtpd/smtpd.js'), '-S'], { input: INPUT, env: { ...process.env, MAIL_CONFIG: ours.confDir }, timeoutMs: 20_000 });
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    const norm = (s: string): string => s.replace(/queued as \w+/, 'queued as ID');
    assert.equal(norm(b.stdout), norm(a.stdout));
    assert.match(b.stdout, /^458 Unable to queue messages\r$/m);
    assert.deepEqual(await maildropFile(ours.queueDir, ours), await maildropFile(real.queueDir, real));
  });
});
