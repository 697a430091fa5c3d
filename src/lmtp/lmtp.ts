/*
 * lmtp - the LMTP delivery agent (Postfix lmtp(8))
 *
 * What it does: runs the SMTP client of src/smtp in LMTP mode: LHLO
 * instead of EHLO, one reply per accepted recipient after the message
 * content, the lmtp_* parameter names (lmtp_lhlo_name, lmtp_tcp_port =
 * 24, lmtp_connect_timeout, ...), next-hops "unix:/path" (relative to
 * queue_directory) and "inet:host:port" or "host:port" without MX lookup.
 *
 * What it does not do: anything of its own; src/smtp does the work.
 *
 * DIAGNOSTICS
 * As smtp(8), logged as postfix/lmtp[pid].
 */
import { isMainModule, runMain } from '../util/main_module.js';
import { agentMain } from '../smtp/smtp.js';
import { SMTP_MODE } from '../smtp/smtp_params.js';

export async function main(argv: string[]): Promise<number> {
  return agentMain(argv, SMTP_MODE.LMTP);
}

if (isMainModule(import.meta.url)) runMain(main);
