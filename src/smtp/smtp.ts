/*
 * smtp - the SMTP/LMTP delivery agent (Postfix smtp(8), lmtp(8))
 *
 * What it does: main() runs the agent under master as a single server
 * (D's deliveryAgentMain): one delivery request per connection from
 * qmgr; the process keeps one session cache for all of them
 * (smtp_session_cache.ts). smtpDeliver() handles one request: it reads the message content
 * from the queue file, works through the next-hop's servers
 * (smtp_connect.ts), speaks SMTP or LMTP (smtp_proto.ts), reports every
 * recipient through sent/bounce_append/defer_append and crosses off the
 * finished ones, and answers qmgr with the request status and, when the
 * destination failed as a whole, the hop status that throttles it.
 * createSmtpDeliver(mode) gives the deliver function for lmtp(8)
 * (src/lmtp/lmtp.ts) and for in-process tests.
 *
 * What it does not do: TLS, SASL, the scache(8) service, XFORWARD,
 * smtp_generic_maps and smtp_*_checks (later issues).
 *
 * DIAGNOSTICS
 * Per-recipient log lines come from sent/bounce/defer (relay=host[addr]:port);
 * connection and session problems are logged as Postfix's smtp(8) does.
 * An unreadable queue file defers every recipient (4.3.0) without
 * throttling the destination.
 */
import { singleServerMain } from '../master/mail_server.js';
import { type DeliveryContext, deliveryAgentMain } from '../global/delivery_agent.js';
import { DEL_STAT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { dnsLookup, type DnsLookup } from '../global/dns_lookup.js';
import { dsnMake } from '../global/dsn.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgWarn } from '../util/msg.js';
import { readContent } from './smtp_content.js';
import { smtpConnect } from './smtp_connect.js';
import { readSmtpParams, SMTP_MODE, type SmtpMode } from './smtp_params.js';
import type { SmtpSession } from './smtp_proto.js';
import { SessionCache } from './smtp_session_cache.js';
import { newSmtpState } from './smtp_state.js';
import { reportDefer } from './smtp_status.js';

export interface SmtpDeliverOptions {
  /** DNS for MX/A/AAAA lookups (tests pass one over their dnsmasq); default dnsLookup(). */
  dns?: DnsLookup;
  /** Idle connections shared by the requests this function serves (default: its own). */
  cache?: SessionCache<SmtpSession>;
}

export function createSmtpDeliver(mode: SmtpMode, opts: SmtpDeliverOptions = {}): (req: DeliverRequest, ctx: DeliveryContext) => Promise<DeliverReply> {
  let dns: DnsLookup | null = opts.dns ?? null;
  const cache = opts.cache ?? new SessionCache<SmtpSession>();
  return async (req, ctx) => {
    dns ??= dnsLookup();
    const params = readSmtpParams(ctx.config, mode);
    const queueFile = ctx.queueFilePath(req);
    const content = readContent(queueFile);
    const report = { status: ctx.status, req, queueFile };
    if (!content.ok) {
      // A local problem: defer each recipient, but do not throttle the destination.
      msgWarn(`${req.queueId}: ${content.message}`);
      const why = dsnMake('4.3.0', 'mail system configuration error: cannot read the queue file');
      for (const r of req.recipients) await reportDefer(report, r, 'none', why);
      return { status: DEL_STAT.DEFER, hop: null };
    }
    const state = newSmtpState(req, params, report, dns, cache);
    const limits = { nestingLimit: ctx.config.getInt('mime_nesting_limit'), headerLimit: ctx.config.getInt('header_size_limit') };
    await smtpConnect(state, ctx.queueDir, content.records, limits);
    return { status: state.status === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: state.hop };
  };
}

export async function agentMain(argv: string[], mode: SmtpMode): Promise<number> {
  return deliveryAgentMain(argv, {
    skeleton: singleServerMain,
    programName: mode,
    preInit(ctx) {
      // Fail early on malformed settings, as Postfix reads them at start-up.
      readSmtpParams(ctx.config, mode);
    },
    deliver: createSmtpDeliver(mode),
  });
}

export async function main(argv: string[]): Promise<number> {
  return agentMain(argv, SMTP_MODE.SMTP);
}

if (isMainModule(import.meta.url)) runMain(main);
