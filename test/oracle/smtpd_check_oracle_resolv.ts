/*
 * smtpd_check_oracle_resolv - run a program with another /etc/resolv.conf
 *
 * What it does: meant to run inside "unshare -m --propagation private"
 * (a private mount namespace, as root): bind-mounts the resolv.conf-format
 * file given as the first argument over /etc/resolv.conf, then runs the
 * rest of the arguments as a program and exits with its status. Programs
 * it starts (e.g. "postfix start" and the master daemon it leaves behind)
 * keep that view of /etc/resolv.conf, so the real Postfix asks the test's
 * dnsmasq; the rest of the machine is not affected.
 *
 * What it does not do: start dnsmasq, or use a shell.
 *
 * DIAGNOSTICS
 * Exits 2 with a message on stderr when the mount or the program fails to
 * start.
 */
import { execFileSync, spawnSync } from 'node:child_process';

/** Bound on the wrapped program (postfix start returns quickly). */
const RUN_TIMEOUT_MS = 30_000;

const [file, prog, ...args] = process.argv.slice(2);
if (file === undefined || prog === undefined) {
  process.stderr.write('usage: smtpd_check_oracle_resolv RESOLV_CONF PROGRAM [ARGS...]\n');
  process.exit(2);
}
try {
  execFileSync('mount', ['--bind', file, '/etc/resolv.conf'], { stdio: 'inherit' });
} catch (err) {
  process.stderr.write(`mount --bind ${file} /etc/resolv.conf: ${(err as Error).message}\n`);
  process.exit(2);
}
const r = spawnSync(prog, args, { stdio: 'inherit', timeout: RUN_TIMEOUT_MS });
if (r.error) {
  process.stderr.write(`${prog}: ${r.error.message}\n`);
  process.exit(2);
}
process.exit(r.status ?? 2);
