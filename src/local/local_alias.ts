/*
 * local_alias - alias_maps expansion of local(8) (Postfix local/alias.c, bounce_workaround in local.c)
 *
 * What it does: deliverAlias() looks a name up in alias_maps (each table
 * in order, as Postfix's dict_get loop) and delivers to every destination
 * in the value (local_token.ts). It keeps Postfix's roles: an alias that
 * includes its own name is delivered to the user instead; nesting beyond
 * 100 levels bounces as an alias loop; /file and |command run with the
 * rights of the table owner (default_privs for root-owned or file-less
 * tables); an "owner-NAME" alias (with owner_request_special) becomes the
 * sender for the expansion's forwarded copies and its DSN parameters are
 * reset; NOTIFY=SUCCESS becomes an "expanded"/"delivered" trace record;
 * an address-verification probe only reports "aliased to VALUE".
 * bounceWorkaround() reports a failed /file or |command delivery: to the
 * owner- alias (one-recipient bounce) when there is one, else as usual.
 *
 * What it does not do: interpret single destinations (local_token.ts).
 *
 * DIAGNOSTICS
 * Postfix's texts: "alias database loop for NAME", "alias database
 * unavailable" (4.3.0, lookup error or an empty expansion, with the
 * warning "no recipient in alias lookup result for NAME"), "cannot find
 * alias database owner".
 */
import type { Dsn } from '../global/dsn.js';
import { dsnMake, DSN_NOTIFY } from '../global/dsn.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { msgWarn } from '../util/msg.js';
import { EXPAND_TYPE, type LocalEnv, type LocalState, LOCAL_NESTING_LIMIT, nextLevel, noUser, reportBounce, reportDefer, reportFailure, reportSent, type UserAttr, userFromPasswd } from './local_state.js';
import { deliverTokenString } from './local_token.js';

async function canonInternal(env: LocalEnv, addr: string): Promise<string> {
  try {
    return await env.rewriter.rewrite('local', addr);
  } catch {
    return addr;
  }
}

/** Postfix DSN rule for expansions: SUCCESS is removed, "SUCCESS only" becomes NEVER. */
export function notifyWithoutSuccess(n: number): number {
  return n === DSN_NOTIFY.SUCCESS ? DSN_NOTIFY.NEVER : n & ~DSN_NOTIFY.SUCCESS;
}

/** Returns the status when the name is an alias, null when it is not (Postfix NO). */
export async function deliverAlias(env: LocalEnv, state: LocalState, usrIn: UserAttr, name: string): Promise<number | null> {
  let s = nextLevel(state);
  if (s.msg.expFrom !== null && s.msg.expFrom.toLowerCase() === name.toLowerCase()) return null;
  if (s.level > LOCAL_NESTING_LIMIT) {
    msgWarn(`alias database loop for ${name}`);
    return reportBounce(env, s, dsnMake('5.4.6', `alias database loop for ${name}`));
  }
  s.msg.expFrom = name;
  let hit;
  try {
    hit = await env.tables.aliasLookup(name);
  } catch {
    return reportDefer(env, s, dsnMake('4.3.0', 'alias database unavailable'));
  }
  if (hit === null) return null;
  if (env.req.flags & DEL_REQ_FLAG.MTA_VRFY) return reportSent(env, s, '2.0.0', `aliased to ${hit.value}`);
  s.msg.expType = EXPAND_TYPE.ALIAS;

  let usr: UserAttr;
  if (hit.ownerUid === 0) {
    usr = noUser();
  } else {
    const pw = env.getpwuid(hit.ownerUid);
    if (pw === null) {
      msgWarn(`cannot find alias database owner for ${hit.spec}`);
      return reportDefer(env, s, dsnMake('4.3.0', 'cannot find alias database owner'));
    }
    usr = userFromPasswd(pw);
  }
  void usrIn;

  // Where to report problems: the owner- alias when there is one.
  let canonOwner: string | null = null;
  if (env.params.ownerRequestSpecial) {
    const ownerName = `owner-${name}`;
    let ownerRhs: string | null = null;
    try {
      ownerRhs = (await env.tables.aliasLookup(ownerName))?.value ?? null;
    } catch {
      ownerRhs = null;
    }
    if (ownerRhs !== null) {
      canonOwner = await canonInternal(env, env.params.expandOwnerAlias ? ownerRhs : ownerName);
      s = { ...s, msg: { ...s.msg, owner: canonOwner, sender: canonOwner } };
    } else if (env.params.resetOwnerAlias) {
      s = { ...s, msg: { ...s.msg, owner: null } };
    }
  }
  if (!env.params.frozenDeliveredTo) s.msg.delivered = s.msg.rcpt.address;

  const savedNotify = s.msg.rcpt.dsnNotify;
  const saved = { envid: s.msg.dsnEnvid, ret: s.msg.dsnRet, orcpt: s.msg.rcpt.dsnOrcpt, orig: s.msg.rcpt.origAddress };
  s.msg.rcpt = { ...s.msg.rcpt, dsnNotify: notifyWithoutSuccess(savedNotify) };
  if (canonOwner !== null) {
    s.msg.dsnEnvid = '';
    s.msg.dsnRet = 0;
    s.msg.rcpt = { ...s.msg.rcpt, dsnOrcpt: '', origAddress: '' };
  }
  const r = await deliverTokenString(env, s, usr, hit.value);
  if (r.count < 1) {
    msgWarn(`no recipient in alias lookup result for ${name}`);
    return reportDefer(env, s, dsnMake('4.3.0', 'alias database unavailable'));
  }
  if (savedNotify & DSN_NOTIFY.SUCCESS) {
    const rcpt = { ...s.msg.rcpt, dsnNotify: savedNotify, ...(canonOwner !== null ? { dsnOrcpt: saved.orcpt, origAddress: saved.orig } : {}) };
    await env.report.trace(env.req, rcpt, env.service, dsnMake('2.0.0', 'alias expanded', { action: canonOwner !== null ? 'delivered' : 'expanded' }));
  }
  return r.status;
}

/** Postfix bounce_workaround(): report to the owner- alias of the recipient when there is one. */
export async function bounceWorkaround(env: LocalEnv, s: LocalState, dsn: Dsn): Promise<number> {
  if (env.params.ownerRequestSpecial && env.report.bounceOne && !dsn.status.startsWith('4')) {
    const at = s.msg.rcpt.address.lastIndexOf('@');
    const localPart = at >= 0 ? s.msg.rcpt.address.slice(0, at) : s.msg.rcpt.address;
    let ownerName = `owner-${localPart}`;
    let rhs: string | null;
    try {
      rhs = (await env.tables.aliasLookup(ownerName))?.value ?? null;
      if (rhs === null && env.params.recipientDelimiter !== '') {
        const d = localPart.search(new RegExp(`[${env.params.recipientDelimiter.replace(/[\]\\^-]/g, '\\$&')}]`));
        if (d > 0) {
          ownerName = `owner-${localPart.slice(0, d)}`;
          rhs = (await env.tables.aliasLookup(ownerName))?.value ?? null;
        }
      }
    } catch {
      return reportDefer(env, s, dsn);
    }
    if (rhs !== null) {
      const owner = await canonInternal(env, env.params.expandOwnerAlias ? rhs : ownerName);
      return env.report.bounceOne(env.req, owner, s.msg.rcpt, env.service, { ...dsn, action: 'failed' });
    }
  }
  return reportFailure(env, s, dsn);
}

export { userFromPasswd };
