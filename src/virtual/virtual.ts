/*
 * virtual - the virtual(8) delivery agent: mailboxes of virtual domains (Postfix virtual/virtual.c)
 *
 * What it does: runs under master as the virtual service (a single
 * server through delivery_agent.ts: one request per connection) and
 * delivers each recipient of a request to the mailbox that
 * virtual_mailbox_maps names under virtual_mailbox_base (Maildir when
 * the result ends in "/", else an mbox file locked per
 * virtual_mailbox_lock), owned by virtual_uid_maps/virtual_gid_maps
 * (static:N works), refusing uids below virtual_minimum_uid, with the
 * file size capped by virtual_mailbox_limit (virtual_mailbox.ts has the
 * per-recipient rules and texts). Recipients that are final (delivered
 * or bounced) are crossed off in the queue file; the reply is DEFER when
 * any recipient must be tried again. createVirtualDeliver() builds the
 * deliver function from a configuration (tests drive it in-process with
 * serveDeliveryConnection).
 *
 * What it does not do: virtual_mailbox_domains (trivial-rewrite routes
 * those domains to virtual_transport), aliases, commands, .forward.
 *
 * DIAGNOSTICS
 * Fatal, as Postfix: "do not specify relative pathname:
 * virtual_mailbox_base = X", "main.cf configuration error:
 * virtual_mailbox_limit is smaller than message_size_limit", "invalid
 * virtual_minimum_uid parameter value N < 1", a bad virtual_mailbox_lock
 * value; "unexpected command-line argument: X"
 * (virtual takes none).
 */
import { msgFatal } from '../util/msg.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { singleServerMain } from '../master/mail_server.js';
import { deliveryAgentMain, type AgentServiceContext, type DeliveryContext } from '../global/delivery_agent.js';
import { DEL_STAT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import type { MailConfig } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import { mboxLockMask } from '../global/mbox_conf.js';
import { resolveLocal } from '../global/resolve_local.js';
import { deliverRecipient, type VirtualSettings } from './virtual_mailbox.js';

export const VIRTUAL_PROGRAM = 'virtual';

export class VirtualConfigError extends Error {}

/** The settings Postfix's pre_init/post_init compute, checked the same way. */
export function virtualSettings(config: MailConfig): VirtualSettings {
  const base = config.get('virtual_mailbox_base');
  if (!base.startsWith('/')) throw new VirtualConfigError(`do not specify relative pathname: virtual_mailbox_base = ${base}`);
  const limit = Number(config.get('virtual_mailbox_limit'));
  const msgLimit = Number(config.get('message_size_limit'));
  if (!Number.isFinite(limit) || limit < 0) throw new VirtualConfigError(`bad numerical configuration: virtual_mailbox_limit = ${config.get('virtual_mailbox_limit')}`);
  if (limit > 0 && (limit < msgLimit || msgLimit === 0)) {
    throw new VirtualConfigError('main.cf configuration error: virtual_mailbox_limit is smaller than message_size_limit');
  }
  const minimumUid = config.getInt('virtual_minimum_uid');
  if (minimumUid < 1) throw new VirtualConfigError(`invalid virtual_minimum_uid parameter value ${minimumUid} < 1`);
  const lockStyle = config.get('virtual_mailbox_lock');
  const lock = mboxLockMask(lockStyle, 'virtual_mailbox_lock');
  if (!lock.ok) throw new VirtualConfigError(lock.why);
  const mapsOpts = { config, noRegsub: true };
  const myorigin = config.get('myorigin').toLowerCase();
  return {
    mailboxMaps: new Maps('virtual_mailbox_maps', config.get('virtual_mailbox_maps'), mapsOpts),
    uidMaps: new Maps('virtual_uid_maps', config.get('virtual_uid_maps'), mapsOpts),
    gidMaps: new Maps('virtual_gid_maps', config.get('virtual_gid_maps'), mapsOpts),
    mailboxBase: base,
    minimumUid,
    lockStyle,
    mailboxLimit: limit,
    strictOwner: config.getBool('strict_mailbox_ownership'),
    findOptions: {
      recipientDelimiter: config.get('recipient_delimiter'),
      isLocalDomain: (d: string) => d.toLowerCase() === myorigin || resolveLocal(config, d),
      doubleBounceSender: config.get('double_bounce_sender'),
      ownerRequestSpecial: config.getBool('owner_request_special'),
    },
  };
}

/** Postfix local_deliver(): every recipient in turn; DEFER when any is not final. */
export function createVirtualDeliver(settings: VirtualSettings): (req: DeliverRequest, ctx: DeliveryContext) => Promise<DeliverReply> {
  return async (req, ctx) => {
    let msgStat = 0;
    for (const rcpt of req.recipients) {
      const st = await deliverRecipient(req, rcpt, ctx, settings);
      msgStat |= st === 0 ? 0 : 1;
    }
    return { status: msgStat === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: null };
  };
}

export async function main(argv: string[]): Promise<number> {
  let deliver: ((req: DeliverRequest, ctx: DeliveryContext) => Promise<DeliverReply>) | null = null;
  return deliveryAgentMain(argv, {
    skeleton: singleServerMain,
    programName: VIRTUAL_PROGRAM,
    preInit(ctx: AgentServiceContext) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
      try {
        deliver = createVirtualDeliver(virtualSettings(ctx.config));
      } catch (e) {
        if (e instanceof VirtualConfigError) msgFatal(e.message);
        throw e;
      }
    },
    deliver(req, ctx) {
      if (deliver === null) deliver = createVirtualDeliver(virtualSettings(ctx.config));
      return deliver(req, ctx);
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
