/*
 * trivial_rewrite - the address rewriting and resolving daemon (Postfix trivial-rewrite(8))
 *
 * SYNOPSIS
 *     trivial-rewrite [generic daemon options]    (started by master(8) only)
 *     master.cf:  rewrite  unix  -  -  n  -  -  trivial-rewrite
 *
 * What it does: a multi-server on private/rewrite (long-lived clients:
 * cleanup, smtpd, qmgr, ...) that speaks Postfix 3.7's trivial-rewrite
 * protocol (TRIVIAL_REWRITE_PROTOCOL in src/global/rewrite_clnt.ts), so a
 * real Postfix client can use it and ours can use a real Postfix one:
 *   - announces protocol=trivial_rewrite_protocol on connect;
 *   - request=rewrite rule=local|remote address=<external form>:
 *     rewriteExternal() in that context (src/global/rewrite_addr.ts);
 *     reply flags=0 address=<result>;
 *   - request=resolve|verify sender= address=<internal form>: the resolver
 *     (src/global/resolve_addr.ts) with the regular or the
 *     address_verify_* personality; reply flags=0 transport= nexthop=
 *     recipient= flags=<RESOLVE_FLAG|RESOLVE_CLASS>.
 * A request with an unknown name or rule, or that does not follow the
 * protocol, ends that client's connection, as Postfix does.
 * trivialRewriteServer(config) gives the same service for
 * createMailServer() (tests, co-located services).
 *
 * What it does not do: the restart-when-a-table-changes check (Postfix
 * exits when a file-based table changed; here master's max_idle/max_use
 * recycles the process), or chroot.
 *
 * PROTOCOL
 * See TRIVIAL_REWRITE_PROTOCOL.describe().
 *
 * DIAGNOSTICS
 * Fatal at start when a transport parameter or empty_address_recipient is
 * empty ("bad string length 0 < 1: NAME = ", as Postfix).
 * "unknown context: RULE" and "bad command NAME" warnings, then the
 * client is disconnected; table problems are logged by the resolver and
 * answered with RESOLVE_FLAG.FAIL.
 */
import type { Socket } from 'node:net';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgVerbose, msgWarn } from '../util/msg.js';
import { serveAttrConnection } from '../global/ipc/attr_serv.js';
import type { MailConfig } from '../global/mail_conf.js';
import {
  TRIVIAL_REQ,
  TRIVIAL_REWRITE_PROTOCOL,
  type TrivialReply,
  type TrivialRequest,
  type RewriteContext,
} from '../global/rewrite_clnt.js';
import { multiServerMain, type ServiceContext, type StreamServerOptions } from '../master/mail_server.js';
import { type RewriteSettings, REWRITE_CONTEXT, rewriteExternal, rewriteSettings } from './rewrite.js';
import { ResolveEngine } from './resolve.js';

export const PROGRAM_NAME = 'trivial-rewrite';
/** The server flags sent with every reply (Postfix: non-zero asks clients to reconnect). */
export const SERVER_FLAGS_NONE = 0;

/** Parameters that must not be empty (Postfix's str_table minimum length 1). */
export const NON_EMPTY_PARAMS: readonly string[] = [
  'local_transport',
  'virtual_transport',
  'relay_transport',
  'default_transport',
  'empty_address_recipient',
  'address_verify_local_transport',
  'address_verify_virtual_transport',
  'address_verify_relay_transport',
  'address_verify_default_transport',
  'empty_address_relayhost_maps_lookup_key',
  'empty_address_default_transport_maps_lookup_key',
];

/** Fatal, in Postfix's words, when a parameter that must have a value is empty. */
export function checkParameters(config: MailConfig): void {
  for (const name of NON_EMPTY_PARAMS) {
    const value = config.get(name);
    if (value.length < 1) msgFatal(`bad string length ${value.length} < 1: ${name} = ${value}`);
  }
}

/** The request handler for one configuration (tables opened once). */
export function trivialRewriteHandler(config: MailConfig): (req: TrivialRequest) => Promise<TrivialReply> {
  checkParameters(config);
  const settings = new Map<RewriteContext, RewriteSettings>();
  const contexts: readonly string[] = [REWRITE_CONTEXT.LOCAL, REWRITE_CONTEXT.REMOTE];
  const engine = new ResolveEngine(config);
  return async (req) => {
    if (req.request === TRIVIAL_REQ.REWRITE) {
      if (!contexts.includes(req.rule)) {
        msgWarn(`unknown context: ${req.rule}`);
        throw new Error(`unknown context: ${req.rule}`);
      }
      const rule = req.rule as RewriteContext;
      let s = settings.get(rule);
      if (!s) {
        s = rewriteSettings(config, rule);
        settings.set(rule, s);
      }
      const address = rewriteExternal(s, req.address);
      msgVerbose(`\`${req.address}' -> \`${address}'`);
      return { serverFlags: SERVER_FLAGS_NONE, address };
    }
    const r = await engine.resolve(req.request === TRIVIAL_REQ.VERIFY ? 'verify' : 'regular', req.sender, req.address);
    msgVerbose(`\`${req.sender}' -> \`${req.address}' -> (\`${r.transport}' \`${r.nexthop}' \`${r.recipient}' \`${r.flags}')`);
    return { serverFlags: SERVER_FLAGS_NONE, ...r };
  };
}

/** The skeleton options: one attr0 conversation per client connection. */
export function trivialRewriteServer(): StreamServerOptions {
  let handler: ((req: TrivialRequest) => Promise<TrivialReply>) | null = null;
  return {
    programName: PROGRAM_NAME,
    preInit(ctx: ServiceContext) {
      if (ctx.args.length > 0) throw new Error(`unexpected command-line argument: ${ctx.args[0]}`);
      handler = trivialRewriteHandler(ctx.config);
    },
    service(stream: Socket, ctx: ServiceContext) {
      const h = handler ?? (handler = trivialRewriteHandler(ctx.config));
      void serveAttrConnection(stream, TRIVIAL_REWRITE_PROTOCOL, (req) => h(req), {
        label: `private/${ctx.serviceName}`,
        idleTimeoutMs: ctx.config.getTime('ipc_timeout') * 1000,
      });
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  return multiServerMain(argv, trivialRewriteServer());
}

if (isMainModule(import.meta.url)) runMain(main);
