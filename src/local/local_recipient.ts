/*
 * local_recipient - the delivery switch of local(8) (Postfix local/recipient.c)
 *
 * What it does: deliverRecipient() handles one (top-level or expanded)
 * recipient: the recursion limit, the duplicate filter, mail loop
 * detection (the address already appears in a Delivered-To: header: 5.4.6
 * "mail forwarding loop for ADDR"), the case-folded local part, domain,
 * user and extension (recipient_delimiter; an extension with "/" is
 * dropped with a warning), then the switch: aliases for the full local
 * part, then for the bare user (unmatched extension propagated with
 * "alias" in propagate_unmatched_extensions); forwarding when an owner
 * other than the user is set or the recipient came from :include:; else
 * (home directory check with require_home_directory) .forward, mailbox,
 * and the unknown-user fallbacks.
 *
 * What it does not do: the single delivery methods (other local_*.ts).
 *
 * DIAGNOSTICS
 * Postfix's texts: "recipient nesting limit exceeded", "mail forwarding
 * loop for ADDR", "null username in \"ADDR\"", "cannot access home
 * directory DIR: ERR", warnings "no @ in recipient address: ADDR",
 * "QUEUEID: address with illegal extension: LOCAL".
 */
import { stat } from 'node:fs/promises';
import { dsnMake } from '../global/dsn.js';
import { splitAddrIndex } from '../global/mail_addr_find.js';
import { strerror } from '../util/strerror.js';
import { msgWarn } from '../util/msg.js';
import { EXT_PROP } from './local_params.js';
import { beenHere, EXPAND_TYPE, type LocalEnv, type LocalState, LOCAL_NESTING_LIMIT, nextLevel, reportBounce, reportDefer, type UserAttr } from './local_state.js';
import { bounceWorkaround, deliverAlias } from './local_alias.js';
import { deliverIndirect } from './local_forward.js';
import { deliverDotforward } from './local_dotforward.js';
import { deliverMailbox } from './local_mailbox.js';
import { deliverUnknown } from './local_unknown.js';
import { withEugid } from './local_privs.js';

export async function deliverRecipient(env: LocalEnv, state: LocalState, usr: UserAttr): Promise<number> {
  const s = nextLevel(state);
  const addr = s.msg.rcpt.address;
  if (s.level > LOCAL_NESTING_LIMIT) {
    msgWarn(`recipient nesting limit exceeded for ${addr}`);
    return reportBounce(env, s, dsnMake('5.4.6', 'recipient nesting limit exceeded'));
  }
  if (beenHere(env, `recipient ${s.level} ${addr}`)) return 0;
  if (env.loopInfo.has(addr.toLowerCase())) {
    return bounceWorkaround(env, s, dsnMake('5.4.6', `mail forwarding loop for ${addr}`));
  }
  if (s.msg.delivered === null) s.msg.delivered = addr;
  let local = addr.toLowerCase();
  let domain: string | null = null;
  const at = local.lastIndexOf('@');
  if (at >= 0) {
    domain = local.slice(at + 1);
    local = local.slice(0, at);
  } else {
    msgWarn(`no @ in recipient address: ${local}`);
  }
  let user = local;
  let extension: string | null = null;
  const delim = env.params.recipientDelimiter;
  if (delim !== '') {
    const i = splitAddrIndex(local, delim, { ownerRequestSpecial: env.params.ownerRequestSpecial });
    if (i > 0) {
      extension = local.slice(i + 1);
      user = local.slice(0, i);
      if (extension.includes('/')) {
        msgWarn(`${env.req.queueId}: address with illegal extension: ${local}`);
        extension = null;
        local = user;
      }
    }
  }
  s.msg.local = local;
  s.msg.domain = domain;
  s.msg.user = user;
  s.msg.extension = extension;
  s.msg.unmatched = extension;
  if (user === '') return reportBounce(env, s, dsnMake('5.1.3', `null username in "${addr}"`));
  return deliverSwitch(env, s, usr);
}

async function deliverSwitch(env: LocalEnv, state: LocalState, usr: UserAttr): Promise<number> {
  const s = nextLevel(state);
  s.msg.unmatched = null;
  const a = await deliverAlias(env, s, usr, s.msg.local);
  if (a !== null) return a;
  if (s.msg.extension !== null) {
    if (env.params.extPropMask & EXT_PROP.ALIAS) s.msg.unmatched = s.msg.extension;
    const b = await deliverAlias(env, s, usr, s.msg.user);
    if (b !== null) return b;
    s.msg.unmatched = s.msg.extension;
  }
  if (s.msg.owner !== null && s.msg.owner.toLowerCase() !== s.msg.user.toLowerCase()) return deliverIndirect(env, s);
  if (s.msg.expType === EXPAND_TYPE.INCL) return deliverIndirect(env, s);

  if (env.params.requireHomeDirectory) {
    const pw = env.getpwnam(s.msg.user);
    if (pw !== null) {
      try {
        await withEugid(env.privileged, pw.uid, pw.gid, () => stat(pw.home));
      } catch (e) {
        return reportDefer(env, s, dsnMake('4.3.0', `cannot access home directory ${pw.home}: ${strerror(e)}`));
      }
    }
  }
  const f = await deliverDotforward(env, s);
  if (f !== null) return f;
  const m = await deliverMailbox(env, s, usr);
  if (m !== null) return m;
  return deliverUnknown(env, s, usr);
}
