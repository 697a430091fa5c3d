/*
 * resolve_addr - trivial-rewrite's address resolver (Postfix trivial-rewrite/resolve.c)
 *
 * What it does: ResolveEngine.resolve(kind, sender, address) maps one
 * internal-form recipient to (transport, nexthop, recipient, flags) as
 * Postfix's resolve_addr() does:
 *   - the address is quoted, tokenized, and local domains are stripped
 *     again and again (trailing dot and, with resolve_null_domain, a
 *     trailing '@' dropped; an @domain that resolve_local says is ours is
 *     cut off and remembered); what is left is rewritten in the "local"
 *     context while it holds '@', or '!' (swap_bangpath) or '%'
 *     (allow_percent_hack); with resolve_dequoted_address a quoted local
 *     part is cracked open for those operators; an empty local part
 *     becomes empty_address_recipient; a bare user gets @$myhostname;
 *   - the recipient's domain must be a valid host name or [address]
 *     literal (resolve_numeric_domain puts brackets around a bare
 *     address), else FLAG ERROR and class DEFAULT, nothing else decided;
 *   - ROUTED when the local part still holds '@', '!' or '%';
 *   - class: LOCAL (local_transport, nexthop = the domain), ALIAS
 *     (virtual_alias_domains: error / "5.1.1 User unknown in virtual alias
 *     table"), VIRTUAL (virtual_mailbox_domains: virtual_transport),
 *     RELAY (relay_domains: relay_transport) or DEFAULT
 *     (sender_dependent_default_transport_maps, else default_transport);
 *     RELAY and DEFAULT take the nexthop from
 *     sender_dependent_relayhost_maps (DUNNO = the domain), relayhost or
 *     the domain; a "transport:nexthop" main.cf value sets the nexthop;
 *   - transport_maps (resolve_transport.ts) may override all that, except
 *     for the ALIAS class; relocated_maps turns the recipient into
 *     error / "5.1.6 User has moved to ..."; a recipient starting with '-'
 *     is an ERROR unless allow_min_user.
 * The "verify" kind uses the address_verify_* personalities of the
 * transports, relayhost, sender_dependent maps and transport_maps.
 * Any DictError (a table that cannot be searched) ends the resolution
 * with FLAG FAIL and whatever was decided so far, as Postfix replies.
 *
 * The stripping loop lives in resolve_strip.ts, the transport(5) search in
 * resolve_transport.ts. main.cf values are read once per engine.
 *
 * What it does not do: IPC (trivial_rewrite.ts serves it, resolve_clnt.ts
 * calls it), or expand virtual aliases (cleanup).
 *
 * DIAGNOSTICS
 * Postfix's warnings: "do not list domain X in BOTH A and B"
 * (helpful_warnings), "A lookup failure", "file .../main.cf: parameter
 * P: null transport is not allowed", "<sender_maps>: ignoring null lookup
 * result for KEY", "resolve_addr: <A>: giving up after N iterations".
 */
import { join } from 'node:path';
import { msgWarn } from '../util/msg.js';
import { validHostaddr, validHostname, validMailhostLiteral } from '../util/valid_hostname.js';
import { DictError } from './dict.js';
import { DomainList, domainListFromConfig, stringListFromConfig } from './domain_list.js';
import type { MailConfig } from './mail_conf.js';
import { mailAddrFind } from './mail_addr_find.js';
import { Maps } from './maps.js';
import type { ResolveReply } from './resolve_clnt.js';
import { LocalDomains, resolveLocal } from './resolve_local.js';
import { MAIL_SERVICE_ERROR, TransportTable } from './resolve_transport.js';
import { appendMyhostname, ResolveLoopError, resolveStrip, type StripOptions } from './resolve_strip.js';
import { type RewriteSettings, rewriteSettings } from './rewrite_addr.js';
import { tokSubAppend } from './tok822.js';
import { tokInternalize } from './tok822_parse.js';

/* Flag values repeated from resolve_clnt.ts (which imports this file). */
const FLAG_ROUTED = 1 << 1;
const FLAG_ERROR = 1 << 2;
const FLAG_FAIL = 1 << 3;
const CLASS_LOCAL = 1 << 8;
const CLASS_ALIAS = 1 << 9;
const CLASS_VIRTUAL = 1 << 10;
const CLASS_RELAY = 1 << 11;
const CLASS_DEFAULT = 1 << 12;

export type ResolveKind = 'regular' | 'verify';

/** What each resolver personality reads (Postfix RES_CONTEXT). */
export const RESOLVE_PARAMS: Readonly<Record<ResolveKind, Readonly<Record<string, string>>>> = {
  regular: {
    localTransport: 'local_transport',
    virtTransport: 'virtual_transport',
    relayTransport: 'relay_transport',
    defTransport: 'default_transport',
    sndDefXportMaps: 'sender_dependent_default_transport_maps',
    relayhost: 'relayhost',
    sndRelayMaps: 'sender_dependent_relayhost_maps',
    transportMaps: 'transport_maps',
  },
  verify: {
    localTransport: 'address_verify_local_transport',
    virtTransport: 'address_verify_virtual_transport',
    relayTransport: 'address_verify_relay_transport',
    defTransport: 'address_verify_default_transport',
    sndDefXportMaps: 'address_verify_sender_dependent_default_transport_maps',
    relayhost: 'address_verify_relayhost',
    sndRelayMaps: 'address_verify_sender_dependent_relayhost_maps',
    transportMaps: 'address_verify_transport_maps',
  },
};

/** The placeholders Postfix's resolve_addr starts from (seen in FAIL and ERROR replies). */
export const NOT_UPDATED = {
  channel: 'CHANNEL NOT UPDATED',
  nexthop: 'NEXTHOP NOT UPDATED',
  recipient: 'NEXTRCPT NOT UPDATED',
} as const;

/** What the sender-dependent maps answer to mean "use the default". */
const DUNNO = 'dunno';

interface Personality {
  names: Readonly<Record<string, string>>;
  sndDefXport: Maps | null;
  sndRelay: Maps | null;
  transport: TransportTable | null;
}

/** A thrown end of resolution: the reply as it stands gets FLAG FAIL. */
class ResolveFail extends Error {}

export class ResolveEngine {
  readonly config: MailConfig;
  readonly local: LocalDomains;
  readonly relayDomains: DomainList;
  readonly virtAliasDoms: DomainList;
  readonly virtMailboxDoms: DomainList;
  readonly relocated: Maps;
  readonly #personalities = new Map<ResolveKind, Personality>();
  #rewrite: RewriteSettings | null = null;

  constructor(config: MailConfig) {
    this.config = config;
    this.local = new LocalDomains(config);
    this.relayDomains = domainListFromConfig(config, 'relay_domains');
    this.virtAliasDoms = stringListFromConfig(config, 'virtual_alias_domains');
    this.virtMailboxDoms = stringListFromConfig(config, 'virtual_mailbox_domains');
    this.relocated = new Maps('relocated_maps', config.get('relocated_maps'), { config });
  }

  /** main.cf values, read once (Postfix reads them at daemon start). */
  readonly #values = new Map<string, string>();
  readonly #bools = new Map<string, boolean>();

  #get(name: string): string {
    let v = this.#values.get(name);
    if (v === undefined) {
      v = this.config.get(name);
      this.#values.set(name, v);
    }
    return v;
  }

  #bool(name: string): boolean {
    let v = this.#bools.get(name);
    if (v === undefined) {
      v = this.config.getBool(name);
      this.#bools.set(name, v);
    }
    return v;
  }

  #personality(kind: ResolveKind): Personality {
    let p = this.#personalities.get(kind);
    if (p) return p;
    const names = RESOLVE_PARAMS[kind];
    const maps = (param: string): Maps | null => {
      const v = this.#get(param);
      return v.trim() === '' ? null : new Maps(param, v, { config: this.config });
    };
    const tv = this.#get(names.transportMaps!);
    p = {
      names,
      sndDefXport: maps(names.sndDefXportMaps!),
      sndRelay: maps(names.sndRelayMaps!),
      transport: tv.trim() === '' ? null : new TransportTable(this.config, names.transportMaps!, tv),
    };
    this.#personalities.set(kind, p);
    return p;
  }

  #settings(): RewriteSettings {
    this.#rewrite ??= rewriteSettings(this.config, 'local');
    return this.#rewrite;
  }

  /** Resolves one address; never rejects for a table problem (FLAG FAIL instead). */
  async resolve(kind: ResolveKind, sender: string, address: string): Promise<ResolveReply> {
    const st: ResolveReply = { transport: NOT_UPDATED.channel, nexthop: NOT_UPDATED.nexthop, recipient: NOT_UPDATED.recipient, flags: 0 };
    try {
      await this.#resolve(this.#personality(kind), sender, address, st);
    } catch (err) {
      if (!(err instanceof ResolveFail) && !(err instanceof DictError) && !(err instanceof ResolveLoopError)) throw err;
      st.flags |= FLAG_FAIL;
    }
    return st;
  }

  /** A list or table step that may fail: a DictError becomes "<name> lookup failure". */
  async #guard<T>(name: string, p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (!(err instanceof DictError)) throw err;
      msgWarn(`${name} lookup failure`);
      throw new ResolveFail(name);
    }
  }

  #stripOptions(): StripOptions {
    return {
      settings: this.#settings(),
      nullDomain: this.#bool('resolve_null_domain'),
      dequoted: this.#bool('resolve_dequoted_address'),
      emptyAddress: this.#get('empty_address_recipient'),
      myhostname: this.#get('myhostname'),
      isLocal: (d) => this.local.isLocal(d),
    };
  }

  async #resolve(p: Personality, sender: string, address: string, st: ResolveReply): Promise<void> {
    const stripped = await resolveStrip(address, this.#stripOptions());
    const tree = stripped.tree;
    let domain = stripped.domain;
    if (domain === null) {
      if (stripped.saved) tokSubAppend(tree, stripped.saved);
      else appendMyhostname(tree, this.#get('myhostname'));
    }

    // Back to internal form; the domain must be a host name or an address literal.
    let rcpt = tokInternalize(tree);
    st.recipient = rcpt;
    let rcptDomain = rcpt.slice(rcpt.lastIndexOf('@') + 1);
    if (rcptDomain.startsWith('[')) {
      if (!validMailhostLiteral(rcptDomain)) st.flags |= FLAG_ERROR;
    } else if (!validHostname(rcptDomain)) {
      if (this.#bool('resolve_numeric_domain') && validHostaddr(rcptDomain)) {
        rcpt = `${rcpt.slice(0, rcpt.length - rcptDomain.length)}[${rcptDomain}]`;
        st.recipient = rcpt;
        rcptDomain = `[${rcptDomain}]`;
        if (await this.local.isLocal(rcptDomain)) domain = null;
      } else {
        st.flags |= FLAG_ERROR;
      }
    }
    if (st.flags & FLAG_ERROR) {
      st.flags |= CLASS_DEFAULT;
      return;
    }

    // Routing operators left in the local part (whatever our own settings).
    const firstOp = rcpt.search(/[@!%]/);
    if (rcpt.slice(firstOp + 1) !== rcptDomain) st.flags |= FLAG_ROUTED;

    const helpful = this.#bool('helpful_warnings');
    const both = (a: string, b: string): void => msgWarn(`do not list domain ${rcptDomain} in BOTH ${a} and ${b}`);
    let blame = '';
    const names = p.names;
    if (domain !== null) {
      if (await this.#guard('virtual_alias_domains', this.virtAliasDoms.match(rcptDomain))) {
        if (helpful) {
          if (await this.virtMailboxDoms.match(rcptDomain).catch(() => false)) both('virtual_alias_domains', 'virtual_mailbox_domains');
          if (await this.relayDomains.match(rcptDomain).catch(() => false)) both('virtual_alias_domains', 'relay_domains');
        }
        st.transport = MAIL_SERVICE_ERROR;
        st.nexthop = `5.1.1 User unknown${this.#bool('show_user_unknown_table_name') ? ' in virtual alias table' : ''}`;
        st.flags |= CLASS_ALIAS;
      } else if (await this.#guard('virtual_mailbox_domains', this.virtMailboxDoms.match(rcptDomain))) {
        if (helpful && (await this.relayDomains.match(rcptDomain).catch(() => false))) both('virtual_mailbox_domains', 'relay_domains');
        st.transport = this.#get(names.virtTransport!);
        st.nexthop = rcptDomain;
        blame = names.virtTransport!;
        st.flags |= CLASS_VIRTUAL;
      } else {
        if (await this.#guard('relay_domains', this.relayDomains.match(rcptDomain))) {
          st.transport = this.#get(names.relayTransport!);
          blame = names.relayTransport!;
          st.flags |= CLASS_RELAY;
        } else {
          const xport = p.sndDefXport ? await this.#senderFind(p.sndDefXport, sender, 'empty_address_default_transport_maps_lookup_key') : null;
          if (xport !== null) {
            st.transport = xport.toLowerCase() === DUNNO ? this.#get(names.defTransport!) : xport;
            blame = names.sndDefXportMaps!;
          } else {
            st.transport = this.#get(names.defTransport!);
            blame = names.defTransport!;
          }
          st.flags |= CLASS_DEFAULT;
        }
        // DUNNO from the sender-dependent maps falls back to relayhost (postconf(5)).
        const relay = p.sndRelay ? await this.#senderFind(p.sndRelay, sender, 'empty_address_relayhost_maps_lookup_key') : null;
        const relayhost = this.#get(names.relayhost!);
        if (relay !== null && relay.toLowerCase() !== DUNNO) st.nexthop = relay;
        else st.nexthop = relayhost !== '' ? relayhost : rcptDomain;
      }
    } else {
      if (helpful) {
        if (await this.virtAliasDoms.match(rcptDomain).catch(() => false)) both('mydestination', 'virtual_alias_domains');
        if (await this.virtMailboxDoms.match(rcptDomain).catch(() => false)) both('mydestination', 'virtual_mailbox_domains');
      }
      st.transport = this.#get(names.localTransport!);
      st.nexthop = rcptDomain;
      blame = names.localTransport!;
      st.flags |= CLASS_LOCAL;
    }

    // A main.cf "transport:nexthop" value sets the nexthop.
    const colon = st.transport.indexOf(':');
    if (colon >= 0) {
      const destination = st.transport.slice(colon + 1);
      st.transport = st.transport.slice(0, colon);
      if (destination !== '') st.nexthop = destination;
    }
    if (st.transport === '') {
      msgWarn(`file ${join(this.config.configDir, 'main.cf')}: parameter ${blame}: null transport is not allowed`);
      throw new ResolveFail(blame);
    }

    if (p.transport && !(st.flags & CLASS_ALIAS)) {
      const cur = { channel: st.transport, nexthop: st.nexthop };
      await this.#guard(p.transport.name, p.transport.lookup(rcpt, rcptDomain, cur));
      st.transport = cur.channel;
      st.nexthop = cur.nexthop;
    }

    if (!this.relocated.empty) {
      const moved = await this.#guard('relocated_maps', mailAddrFind(this.relocated, rcpt, this.#findOpts()));
      if (moved !== null) {
        st.transport = MAIL_SERVICE_ERROR;
        st.nexthop = `5.1.6 User has moved to ${moved.result}`;
      }
    }

    if (!this.#bool('allow_min_user') && rcpt.startsWith('-')) st.flags |= FLAG_ERROR;
  }

  #findOptions: Parameters<typeof mailAddrFind>[2] | null = null;

  /** mail_addr_find's settings; "local" is $myorigin or resolve_local(). */
  #findOpts(): Parameters<typeof mailAddrFind>[2] {
    if (this.#findOptions) return this.#findOptions;
    const config = this.config;
    const myorigin = this.#get('myorigin').toLowerCase();
    this.#findOptions = {
      recipientDelimiter: this.#get('recipient_delimiter'),
      isLocalDomain: (d: string) => d.toLowerCase() === myorigin || resolveLocal(config, d),
      doubleBounceSender: this.#get('double_bounce_sender'),
      ownerRequestSpecial: this.#bool('owner_request_special'),
    };
    return this.#findOptions;
  }

  /** A sender-dependent lookup: the sender, or the null-sender key; an empty result is DUNNO. */
  async #senderFind(maps: Maps, sender: string, nullKeyParam: string): Promise<string | null> {
    const key = sender !== '' ? sender : this.#get(nullKeyParam);
    const hit = await this.#guard(maps.title, mailAddrFind(maps, key, this.#findOpts()));
    if (hit === null) return null;
    if (hit.result === '') {
      msgWarn(`${maps.title}: ignoring null lookup result for ${key}`);
      return DUNNO;
    }
    return hit.result;
  }
}
