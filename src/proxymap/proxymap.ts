/*
 * proxymap - the lookup table proxy server (Postfix proxymap(8))
 *
 * SYNOPSIS
 *     proxymap [generic daemon options]    (started by master(8) only)
 *     master.cf:  proxymap    unix  -  -  n  -  -  proxymap
 *                 proxywrite  unix  -  -  n  -  1  proxymap
 *
 * What it does: a multi-server (long-lived clients: every daemon with a
 * proxy: table keeps a connection) that serves tables to Postern and
 * Postfix clients in Postfix 3.7's protocol (src/global/proxy_proto.ts):
 * it announces protocol=proxymap_protocol, then answers open, lookup,
 * update, delete and sequence requests, one at a time per connection,
 * many connections at once (an unknown request name gets status BAD, as
 * in Postfix). Run as the "proxymap" service it is
 * read-only and serves the tables listed as proxy:TYPE:NAME in
 * proxy_read_maps; as "proxywrite" (process limit 1: the single updater)
 * it also updates and deletes, for the tables in proxy_write_maps. Opened
 * tables are shared by all clients of the process (see
 * proxymap_service.ts for the statuses and rules). proxymapServer()
 * gives the same service for createMailServer() (tests, co-located).
 *
 * Before each new client the read-only service checks whether a table
 * file changed and then reads its tables anew (Postfix exits instead).
 *
 * What it does not do: chroot, or Postfix's setsid() for the writer. A
 * request that does not follow the protocol otherwise (a missing or
 * malformed attribute) ends that client's connection with a warning,
 * where Postfix answers BAD.
 *
 * PROTOCOL
 * See PROXYMAP_PROTOCOL.describe() (src/global/proxy_proto.ts).
 *
 * DIAGNOSTICS
 * Fatal at start: "service name must be one of proxymap or proxymap"
 * (Postfix's text) when master.cf names the service otherwise,
 * "unexpected command-line argument: ARG". Per request: the warnings of
 * proxymap_service.ts.
 */
import type { Socket } from 'node:net';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal } from '../util/msg.js';
import { serveAttrConnection } from '../global/ipc/attr_serv.js';
import { MAIL_CLASS, MAIL_SERVICE } from '../global/mail_proto.js';
import { multiServerMain, type ServiceContext, type StreamServerOptions } from '../master/mail_server.js';
import { PROXYMAP_SERVER_PROTOCOL, ProxymapService } from './proxymap_service.js';

export const PROGRAM_NAME = 'proxymap';

/** The service for this process, from its master.cf name (Postfix post_jail_init). */
export function proxymapServiceFor(ctx: ServiceContext): ProxymapService {
  if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
  let writer = false;
  if (ctx.serviceName === MAIL_SERVICE.PROXYWRITE) writer = true;
  else if (ctx.serviceName !== MAIL_SERVICE.PROXYMAP) {
    // Postfix names proxymap twice in this message.
    msgFatal(`service name must be one of ${MAIL_SERVICE.PROXYMAP} or ${MAIL_SERVICE.PROXYMAP}`);
  }
  return new ProxymapService(ctx.config, writer);
}

/** The skeleton options: one attr0 conversation per client connection. */
export function proxymapServer(): StreamServerOptions {
  let service: ProxymapService | null = null;
  return {
    programName: PROGRAM_NAME,
    preInit(ctx: ServiceContext) {
      service = proxymapServiceFor(ctx);
    },
    service(stream: Socket, ctx: ServiceContext) {
      const s = service ?? (service = proxymapServiceFor(ctx));
      s.refreshIfChanged();
      void serveAttrConnection(stream, PROXYMAP_SERVER_PROTOCOL, s.connectionHandler(), {
        label: `${MAIL_CLASS.PRIVATE}/${ctx.serviceName}`,
        idleTimeoutMs: ctx.config.getTime('ipc_timeout') * 1000,
        writeTimeoutMs: ctx.config.getTime('ipc_timeout') * 1000,
      });
    },
    async onExit() {
      await service?.closeAll();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  return multiServerMain(argv, proxymapServer());
}

if (isMainModule(import.meta.url)) runMain(main);
