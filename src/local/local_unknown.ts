/*
 * local_unknown - delivery for recipients without alias or passwd entry (Postfix local/unknown.c)
 *
 * What it does: deliverUnknown() tries, in Postfix's order,
 * fallback_transport_maps, fallback_transport (hand-off, local_pass.ts),
 * luser_relay (expanded with the recipient attributes, unmatched
 * extension not propagated, then resolved and delivered like an alias
 * destination); mail for a missing postmaster or MAILER-DAEMON alias is
 * discarded with a warning; everything else bounces.
 *
 * What it does not do: alias or passwd lookups (done before).
 *
 * DIAGNOSTICS
 * "unknown user: \"NAME\"" (5.1.1), "required alias not found: NAME"
 * (warning; the mail is reported "discarded"), "table lookup failure".
 */
import { dsnMake } from '../global/dsn.js';
import { msgWarn } from '../util/msg.js';
import { beenHere, type LocalEnv, type LocalState, nextLevel, reportBounce, reportDefer, reportSent, type UserAttr } from './local_state.js';
import { deliverPass } from './local_pass.js';
import { localExpand } from './local_expand.js';
import { deliverResolveAddr } from './local_token.js';

export async function deliverUnknown(env: LocalEnv, state: LocalState, usr: UserAttr): Promise<number> {
  const s = nextLevel(state);
  if (beenHere(env, `deliver_unknown ${s.msg.local}`)) return 0;
  const p = env.params;
  if (!env.tables.fallbackTransport.empty) {
    let t: string | null;
    try {
      t = await env.tables.fallbackTransport.find(s.msg.user);
    } catch {
      return reportDefer(env, s, dsnMake('4.3.0', 'table lookup failure'));
    }
    if (t !== null) return deliverPass(env, s, t);
  }
  if (p.fallbackTransport !== '') return deliverPass(env, s, p.fallbackTransport);
  if (p.luserRelay !== '') {
    s.msg.unmatched = null;
    const x = localExpand(p.luserRelay, s, usr, p.recipientDelimiter, null);
    return deliverResolveAddr(env, s, usr, x.value);
  }
  const u = s.msg.user.toLowerCase();
  if (u === 'mailer-daemon' || u === 'postmaster') {
    msgWarn(`required alias not found: ${s.msg.user}`);
    return reportSent(env, s, '2.0.0', 'discarded');
  }
  return reportBounce(env, s, dsnMake('5.1.1', `unknown user: "${s.msg.user}"`));
}
