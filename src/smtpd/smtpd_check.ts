/*
 * smtpd_check - smtpd(8) access restrictions (Postfix smtpd_check.c)
 *
 * What it does: SmtpdChecks reads the restriction lists once
 * (smtpd_client_restrictions, smtpd_helo_restrictions,
 * smtpd_sender_restrictions, smtpd_relay_restrictions,
 * smtpd_recipient_restrictions, smtpd_data_restrictions,
 * smtpd_end_of_data_restrictions, smtpd_etrn_restrictions and the
 * smtpd_restriction_classes), opens every access table they name, and
 * refuses — fatally, with Postfix's message — a configuration where
 * neither smtpd_relay_restrictions nor smtpd_recipient_restrictions can
 * reject mail by default (no open relay). Each check method runs one
 * SMTP stage and returns null (go on) or the reply to send, having
 * logged "NOQUEUE: reject: ..." itself:
 *   checkClient/checkHelo/checkMail: at once when smtpd_delay_reject =
 *     no, else they return null and checkRcpt() (and checkEtrn() for
 *     client/HELO) runs them first, as Postfix;
 *   checkRcpt: delayed stages, then smtpd_recipient_restrictions and
 *     smtpd_relay_restrictions (in the order of
 *     smtpd_relay_before_recipient_restrictions; both must pass), then a
 *     pending defer_if_permit, then reject_unlisted_recipient implied by
 *     smtpd_reject_unlisted_recipient; "postmaster" is always accepted;
 *   checkData/checkEod: smtpd_data/end_of_data_restrictions;
 *   checkEtrn: smtpd_etrn_restrictions; checkSize: message_size_limit.
 * Stand-alone sessions (smtpd -S, sendmail -bs) are never restricted.
 * Access-table side effects land on the SmtpdState (see
 * smtpd_check_access.ts); per-session bookkeeping (defer_if_permit
 * carried between stages) lives in state.checkData.
 *
 * What it does not do: SMTP I/O, the client name lookup (smtpd calls
 * dns_lookup.ts peerName()), SASL, TLS, policy services, address
 * verification (the words exist: see smtpd_check_words.ts).
 *
 * DIAGNOSTICS
 * msgFatal() for an unusable configuration (no relay protection, an
 * undefined restriction class, a bad *_tempfail_action); warnings and
 * 451 4.3.5 replies for problems found while evaluating.
 */
import { msgFatal, msgWarn } from '../util/msg.js';
import { isTablePattern, MATCH_FLAG, matchListInit } from '../util/match_list.js';
import type { DnsLookup } from '../global/dns_lookup.js';
import type { MailConfig } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import { matchParentStyle, namadrListFromConfig, type NamadrList, VAR_PAR_DOM_MATCH } from '../global/namadr_list.js';
import type { SmtpdState } from './smtpd_state.js';
import { splitRestrictions } from './smtpd_check_access.js';
import { checkRecipientRcptMaps, checkSenderRcptMaps } from './smtpd_check_addr.js';
import {
  CHECK,
  CheckAbort,
  type CheckCtx,
  type CheckEnv,
  type CheckResolveReply,
  type CheckResolver,
  type CheckSession,
  checkReject,
  MAIL_ERROR,
  newCheckSession,
  type RblAnswer,
  SMTPD_NAME,
} from './smtpd_check_log.js';
import { genericChecks } from './smtpd_check_words.js';
import { ownAddresses, readParams } from './smtpd_check_params.js';

export { CHECK, SMTPD_NAME } from './smtpd_check_log.js';

export interface SmtpdCheckDeps {
  /** The trivial-rewrite resolver (R's ResolveClient fits). */
  resolve: CheckResolver;
  dns: DnsLookup;
  /** `sleep N` (tests shorten it); default a real timer. */
  sleep?: (seconds: number) => Promise<void>;
}

/** Resolver answers cached per process (Postfix smtpd_resolve cache size). */
export const RESOLVE_CACHE_LIMIT = 100;
/** Restriction lists and what a bare "type:table" in them means. */
const STAGE_LISTS = [
  'smtpd_client_restrictions',
  'smtpd_helo_restrictions',
  'smtpd_sender_restrictions',
  'smtpd_relay_restrictions',
  'smtpd_recipient_restrictions',
  'smtpd_etrn_restrictions',
  'smtpd_data_restrictions',
  'smtpd_end_of_data_restrictions',
] as const;
/** Restrictions that reject relaying by default (Postfix rcpt_required). */
const RCPT_REQUIRED = ['reject_unauth_destination', 'defer_unauth_destination', 'reject', 'defer', 'defer_if_permit', 'check_relay_domains'];
const SESSION_KEY = 'smtpd_check';

export class SmtpdChecks {
  readonly config: MailConfig;
  readonly #env: CheckEnv;
  readonly #lists: Map<string, string[]> = new Map();
  readonly #maps = new Map<string, Maps>();

  constructor(config: MailConfig, deps: SmtpdCheckDeps) {
    this.config = config;
    const params = readParams(config);
    const classes = new Map<string, string[]>();
    for (const name of config.getList('smtpd_restriction_classes')) {
      const value = config.get(name);
      if (value.trim() === '') msgFatal(`restriction class \`${name}' needs a definition`);
      classes.set(name, this.#parse(value));
    }
    for (const param of STAGE_LISTS) this.#lists.set(param, this.#parse(config.get(param)));
    const hasRequired = (list: readonly string[], seen: Set<string>): boolean => {
      for (let i = 0; i < list.length; i++) {
        const w = list[i]!;
        if (w.toLowerCase() === 'warn_if_reject' && i + 1 < list.length) {
          i++;
          continue;
        }
        if (w.toLowerCase() === 'permit') {
          if (i + 1 < list.length) msgWarn(`restriction \`${list[i + 1]}' after \`${w}' is ignored`);
          return false;
        }
        if (RCPT_REQUIRED.includes(w.toLowerCase())) return true;
        const cls = classes.get(w);
        if (cls && !seen.has(w) && hasRequired(cls, new Set([...seen, w]))) return true;
      }
      return false;
    };
    if (!hasRequired(this.#list('smtpd_recipient_restrictions'), new Set()) && !hasRequired(this.#list('smtpd_relay_restrictions'), new Set())) {
      msgFatal(
        `in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least one working instance of: ${RCPT_REQUIRED.slice(0, -1).join(', ')} or ${RCPT_REQUIRED[RCPT_REQUIRED.length - 1]}`,
      );
    }
    const mynetworks: NamadrList = namadrListFromConfig(config, 'mynetworks');
    const own = ownAddresses(config);
    const named = new Map<string, Maps>();
    const resolveCache = new Map<string, CheckResolveReply>();
    const rblCache = new Map<string, RblAnswer>();
    const permitLog = matchListInit('smtpd_log_access_permit_actions', MATCH_FLAG.NONE, config.get('smtpd_log_access_permit_actions'), [
      (list, input, pattern) => (isTablePattern(pattern) ? list.tableLookup(pattern, input) !== undefined : input === pattern),
    ]);
    this.#env = {
      config,
      params,
      dns: deps.dns,
      resolver: deps.resolve,
      accessParentStyle: matchParentStyle('smtpd_access_maps', config.get(VAR_PAR_DOM_MATCH)) !== 0,
      accessMaps: (spec) => this.#maps.get(spec),
      namedMaps: (param) => {
        let m = named.get(param);
        if (!m) {
          m = new Maps(param, config.get(param), { config });
          named.set(param, m);
        }
        return m;
      },
      resolveAddr: async (sender, address) => {
        const key = `${sender}\0${address}`;
        const hit = resolveCache.get(key);
        if (hit) return hit;
        const r = await deps.resolve.resolve(sender, address);
        const reply = { ...r, recipient: r.recipient.toLowerCase() };
        if (resolveCache.size >= RESOLVE_CACHE_LIMIT) resolveCache.clear();
        resolveCache.set(key, reply);
        return reply;
      },
      ownAddress: (addr) => own.has(addr.toLowerCase()),
      matchMynetworks: (name, addr) => {
        const hit = mynetworks.match(name, addr);
        if (!hit && mynetworks.error !== null) {
          msgWarn(mynetworks.error);
          return mynetworks.error;
        }
        return hit;
      },
      genericChecks,
      restrictionClasses: classes,
      sleep: deps.sleep ?? ((s) => new Promise((res) => setTimeout(res, s * 1000))),
      rblCache,
      logPermit: (action) => permitLog.match(action),
    };
  }

  /** Splits a list and opens the tables it names (Postfix smtpd_check_parse). */
  #parse(value: string): string[] {
    const list = splitRestrictions(value);
    for (const name of list) {
      if ((name.includes(':') || name.startsWith('{')) && !this.#maps.has(name)) {
        this.#maps.set(name, new Maps(name, name, { config: this.config }));
      }
    }
    return list;
  }

  #list(param: string): string[] {
    return this.#lists.get(param) ?? [];
  }

  #ctx(state: SmtpdState): CheckCtx {
    let sess = state.checkData.get(SESSION_KEY) as CheckSession | undefined;
    if (!sess) {
      sess = newCheckSession();
      state.checkData.set(SESSION_KEY, sess);
    }
    return { env: this.#env, state, sess };
  }

  /** SMTPD_CHECK_RESET. */
  #reset(ctx: CheckCtx): void {
    ctx.sess.recursion = 0;
    ctx.sess.warnIfReject = 0;
    ctx.sess.deferIfReject.active = false;
  }

  /** One list under the stage's abort handler (Postfix's setjmp). */
  async #run(ctx: CheckCtx, param: string, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
    const list = this.#list(param);
    if (list.length === 0) return CHECK.DUNNO;
    try {
      return await genericChecks(ctx, list, replyName, replyClass, defAcl);
    } catch (err) {
      if (err instanceof CheckAbort) return err.status;
      msgWarn(`${param}: ${err instanceof Error ? err.message : String(err)}`);
      return checkReject(ctx, MAIL_ERROR.SOFTWARE, 451, '4.3.5', 'Server configuration error');
    }
  }

  /** The reply for a REJECT result. */
  #reply(ctx: CheckCtx, status: number): string | null {
    return status === CHECK.REJECT ? ctx.sess.errorText : null;
  }

  /** A pending defer_if_permit turns a permit into a deferral. */
  #forceDefer(ctx: CheckCtx, status: number): number {
    const d = ctx.sess.deferIfPermit;
    if (status !== CHECK.REJECT && d.active) return checkReject(ctx, d.errorClass, d.code, d.dsn, d.reason);
    return status;
  }

  async #client(ctx: CheckCtx): Promise<string | null> {
    ctx.sess.deferIfPermit.active = false;
    this.#reset(ctx);
    const status = await this.#run(ctx, 'smtpd_client_restrictions', ctx.state.namaddr, SMTPD_NAME.CLIENT, 'check_client_access');
    ctx.sess.deferIfPermitClient = ctx.sess.deferIfPermit.active;
    return this.#reply(ctx, status);
  }

  async #helo(ctx: CheckCtx, helo: string | null): Promise<string | null> {
    if (helo === null) return null;
    const { state, sess } = ctx;
    const saved = state.heloName;
    state.heloName = helo;
    try {
      sess.deferIfPermit.active = sess.deferIfPermitClient;
      this.#reset(ctx);
      const status = await this.#run(ctx, 'smtpd_helo_restrictions', helo, SMTPD_NAME.HELO, 'check_helo_access');
      sess.deferIfPermitHelo = sess.deferIfPermit.active;
      return this.#reply(ctx, status);
    } finally {
      state.heloName = saved;
    }
  }

  async #mail(ctx: CheckCtx, sender: string | null): Promise<string | null> {
    if (sender === null) return null;
    const { state, sess } = ctx;
    const saved = state.sender;
    state.sender = sender;
    try {
      sess.deferIfPermit.active = sess.deferIfPermitClient || sess.deferIfPermitHelo;
      sess.senderRcptmapChecked = false;
      this.#reset(ctx);
      let status = await this.#run(ctx, 'smtpd_sender_restrictions', sender, SMTPD_NAME.SENDER, 'check_sender_access');
      sess.deferIfPermitSender = sess.deferIfPermit.active;
      if (this.#env.params.rejectUnlistedSender && status !== CHECK.REJECT && !sess.senderRcptmapChecked && !state.discard && sender !== '') {
        status = await this.#guard(ctx, () => checkSenderRcptMaps(ctx, sender));
      }
      return this.#reply(ctx, status);
    } finally {
      state.sender = saved;
    }
  }

  /** Runs one restriction outside a list, with the stage's abort handler. */
  async #guard(ctx: CheckCtx, fn: () => Promise<number>): Promise<number> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CheckAbort) return err.status;
      throw err;
    }
  }

  /** Client restrictions now (smtpd_delay_reject = no), else null. */
  async checkClient(state: SmtpdState): Promise<string | null> {
    if (state.standAlone || this.#env.params.delayReject) return null;
    return this.#client(this.#ctx(state));
  }

  async checkHelo(state: SmtpdState, helo: string): Promise<string | null> {
    if (state.standAlone || this.#env.params.delayReject) return null;
    return this.#helo(this.#ctx(state), helo);
  }

  async checkMail(state: SmtpdState, sender: string): Promise<string | null> {
    if (state.standAlone || this.#env.params.delayReject) return null;
    return this.#mail(this.#ctx(state), sender);
  }

  async checkRcpt(state: SmtpdState, recipient: string): Promise<string | null> {
    if (state.standAlone || recipient.toLowerCase() === 'postmaster') return null;
    const ctx = this.#ctx(state);
    const { sess } = ctx;
    const saved = state.recipient;
    state.recipient = recipient;
    try {
      sess.recipientRcptmapChecked = false;
      if (this.#env.params.delayReject) {
        const err = (await this.#client(ctx)) ?? (await this.#helo(ctx, state.heloName)) ?? (await this.#mail(ctx, state.sender));
        if (err !== null) return err;
      }
      sess.deferIfPermit.active = sess.deferIfPermitSender;
      this.#reset(ctx);
      const order = this.#env.params.relayBeforeRecipient
        ? ['smtpd_relay_restrictions', 'smtpd_recipient_restrictions']
        : ['smtpd_recipient_restrictions', 'smtpd_relay_restrictions'];
      let status: number = CHECK.DUNNO;
      for (const param of order) {
        status = await this.#run(ctx, param, recipient, SMTPD_NAME.RECIPIENT, 'check_recipient_access');
        if (status === CHECK.REJECT) break;
      }
      status = this.#forceDefer(ctx, status);
      if (this.#env.params.rejectUnlistedRecipient && status !== CHECK.REJECT && !sess.recipientRcptmapChecked && !state.discard) {
        status = await this.#guard(ctx, () => checkRecipientRcptMaps(ctx, recipient));
      }
      return this.#reply(ctx, status);
    } finally {
      state.recipient = saved;
    }
  }

  async #dataLike(state: SmtpdState, param: string, replyName: string, replyClass: string): Promise<string | null> {
    if (state.standAlone) return null;
    const ctx = this.#ctx(state);
    const saved = state.recipient;
    if (state.rcptCount > 1) state.recipient = null;
    try {
      ctx.sess.deferIfPermit.active = false;
      this.#reset(ctx);
      const status = this.#forceDefer(ctx, await this.#run(ctx, param, replyName, replyClass, null));
      return this.#reply(ctx, status);
    } finally {
      state.recipient = saved;
    }
  }

  checkData(state: SmtpdState): Promise<string | null> {
    return this.#dataLike(state, 'smtpd_data_restrictions', 'DATA', SMTPD_NAME.DATA);
  }

  checkEod(state: SmtpdState): Promise<string | null> {
    return this.#dataLike(state, 'smtpd_end_of_data_restrictions', 'END-OF-MESSAGE', SMTPD_NAME.EOD);
  }

  async checkEtrn(state: SmtpdState, domain: string): Promise<string | null> {
    if (state.standAlone) return null;
    const ctx = this.#ctx(state);
    const { sess } = ctx;
    const saved = sess.etrnName;
    sess.etrnName = domain;
    try {
      if (this.#env.params.delayReject) {
        const err = (await this.#client(ctx)) ?? (await this.#helo(ctx, state.heloName));
        if (err !== null) return err;
      }
      sess.deferIfPermit.active = sess.deferIfPermitClient || sess.deferIfPermitHelo;
      this.#reset(ctx);
      const status = this.#forceDefer(ctx, await this.#run(ctx, 'smtpd_etrn_restrictions', domain, SMTPD_NAME.ETRN, 'check_etrn_access'));
      return this.#reply(ctx, status);
    } finally {
      sess.etrnName = saved;
    }
  }

  /** SIZE= against message_size_limit (0 = no limit). */
  checkSize(state: SmtpdState, size: number): string | null {
    const limit = this.#env.params.messageSizeLimit;
    if (limit > 0 && size > limit) {
      const ctx = this.#ctx(state);
      this.#reset(ctx);
      checkReject(ctx, MAIL_ERROR.POLICY, 552, '5.3.4', 'Message size exceeds fixed limit');
      return ctx.sess.errorText;
    }
    return null;
  }
}
