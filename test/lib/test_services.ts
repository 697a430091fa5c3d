/*
 * test_services - small services for master.cf in system tests, written on the real server skeleton
 *
 * What it does: gives the text of JavaScript modules that a test writes
 * into its instance directory and names as a master.cf command: an echo
 * service (multi-server: greets with its pid, uid, the echo_greeting
 * parameter and its service name, echoes lines, "quit" ends), a trigger
 * service (appends each trigger to a file), and a flaky service (fails
 * its first N starts). Each imports the compiled mail_server skeleton
 * (dist/src/master/mail_server.js), so master runs it as it runs a real
 * daemon.
 *
 * What it does not do: speak SMTP or any mail protocol.
 *
 * DIAGNOSTICS
 * None here; the services log through the skeleton.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commandPath } from './paths.js';

const SERVER_JS = pathToFileURL(join(commandPath('master', 'mail_server'))).href;

/** An echo service: greets with its pid, uid and echo_greeting, echoes lines, "quit" ends. */
export const ECHO_SERVICE = `
import { multiServerMain } from '${SERVER_JS}';
await multiServerMain(process.argv.slice(2), {
  programName: 'echo',
  service(stream, ctx) {
    stream.write('pid=' + process.pid + ' uid=' + process.getuid() + ' greeting=' + ctx.config.get('echo_greeting') + ' service=' + ctx.serviceName + '\\n');
    let buf = '';
    stream.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\\n')) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
        if (line === 'quit') { stream.end(); return; }
        stream.write(line + '\\n');
      }
    });
  },
});
`;

/** A trigger service that appends each trigger (JSON string) to OUT/triggers.<service>. */
export function triggerService(outDir: string): string {
  return `
import { appendFileSync } from 'node:fs';
import { triggerServerMain } from '${SERVER_JS}';
await triggerServerMain(process.argv.slice(2), {
  programName: 'trig',
  service(data, ctx) {
    appendFileSync(${JSON.stringify(outDir)} + '/triggers.' + ctx.serviceName, JSON.stringify(data.toString('latin1')) + '\\n');
  },
});
`;
}

/** Fails its first `failures` starts (exit 1), then behaves like the echo service. */
export function flakyService(outDir: string, failures: number): string {
  return `
import { readFileSync, writeFileSync } from 'node:fs';
const f = ${JSON.stringify(outDir)} + '/flaky.count';
let n = 0; try { n = Number(readFileSync(f, 'utf8')); } catch {}
if (n < ${failures}) { writeFileSync(f, String(n + 1)); process.exit(1); }
${ECHO_SERVICE}
`;
}
