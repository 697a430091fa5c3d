/*
 * smtpd - the Postern SMTP server (Postfix smtpd(8))
 *
 * What it does: main() runs smtpd as a single-server daemon under
 * master(8) (src/master/mail_server.ts): one process serves many
 * concurrent sessions, master.cf's maxproc bounds them. preInit builds
 * the per-process SmtpdServer (parameters, restriction engine with the
 * trivial-rewrite resolver and DNS, flush client); each client socket
 * becomes one smtpdSession() (smtpd_proto.ts). The cleanup service runs
 * in this process when master.cf runs it with the cleanup program
 * (smtpd_cleanup_colocate.ts). With -S it runs one
 * stand-alone session on stdin/stdout instead, as Postfix's smtpd does
 * for "sendmail -bs": no restrictions, no XCLIENT/XFORWARD, mail goes
 * to the maildrop queue through postdrop(1).
 * createSmtpdServer() and smtpdSession() are exported for in-process use
 * (tests, co-location).
 *
 * What it does not do: listen (master does), TLS/SASL/milters/anvil
 * limits (later issues).
 *
 * DIAGNOSTICS
 * Fatal for bad configuration (see smtpd_server.ts, smtpd_check.ts);
 * session problems are logged as Postfix logs them.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { getopt, getoptMessage } from '../util/getopt.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgSetVerbose } from '../util/msg.js';
import { dnsLookup } from '../global/dns_lookup.js';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { resolveClient } from '../global/resolve_clnt.js';
import { singleServerMain } from '../master/mail_server.js';
import { SmtpdChecks } from './smtpd_check.js';
import { colocatedCleanup } from './smtpd_cleanup_colocate.js';
import { smtpdSession } from './smtpd_proto.js';
import { SmtpdServer, type SmtpdServerDeps } from './smtpd_server.js';

export { smtpdSession } from './smtpd_proto.js';
export { SmtpdServer } from './smtpd_server.js';

/** The network-mode server with its real dependencies (overridable for tests). */
export function createSmtpdServer(config: MailConfig, deps: SmtpdServerDeps = {}): SmtpdServer {
  const resolve = deps.resolve ?? resolveClient(config);
  const dns = deps.dns ?? dnsLookup();
  const checks = deps.checks !== undefined ? deps.checks : new SmtpdChecks(config, { resolve, dns });
  return new SmtpdServer(config, { ...deps, resolve, dns, checks });
}

/** smtpd -S: one session on stdin/stdout (sendmail -bs). */
async function standAlone(argv: string[]): Promise<number> {
  let configDir: string | undefined;
  let verbose = 0;
  getopt(
    argv,
    'c:Sv',
    (ch, arg) => {
      if (ch === 'c') configDir = arg;
      else if (ch === 'v') verbose++;
    },
    (kind, ch) => msgFatal(`${getoptMessage(kind, ch)}; usage: smtpd -S [-c config_dir] [-v]`),
  );
  const config = loadMailConfig(configDir !== undefined ? { configDir } : {});
  initMailLogFromConfig(config, 'smtpd');
  if (verbose) msgSetVerbose(verbose);
  const server = new SmtpdServer(config, { checks: null });
  const io = Duplex.from({ readable: process.stdin, writable: process.stdout });
  await smtpdSession(server, io, { peer: null, output: io });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-S')) return standAlone(argv);
  let server: SmtpdServer | null = null;
  return singleServerMain(argv, {
    programName: 'smtpd',
    preInit(ctx) {
      const cleanup = colocatedCleanup(ctx.config);
      server = createSmtpdServer(ctx.config, cleanup ? { cleanupEndpoint: cleanup } : {});
    },
    async service(stream: Socket, ctx) {
      if (!server) server = createSmtpdServer(ctx.config);
      await smtpdSession(server, stream, {
        peer: { remoteAddress: stream.remoteAddress, remotePort: stream.remotePort, localAddress: stream.localAddress, localPort: stream.localPort },
        serviceName: ctx.serviceName,
      });
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
