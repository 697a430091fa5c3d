/*
 * smtpd_check_oracle_cases - restriction configurations and SMTP sessions
 * for smtpd_check_oracle_test.ts
 *
 * What it does: lists the main.cf settings every configuration shares
 * (address classes for the resolver, recipient tables), the access
 * tables (texthash files, "$T/" is their directory), the DNS records the
 * test's dnsmasq serves (all under .test, which dnsmasq answers
 * authoritatively; names under .example get REFUSED, a temporary
 * failure), and CASES: one smtpd service each, with its restriction
 * settings and the sessions (client name/address via XCLIENT, HELO,
 * optional ETRN, sender, recipients, optional DATA) to run against the
 * real smtpd and against SmtpdChecks. Together they use every
 * restriction word of the brief and every access(5) action.
 *
 * What it does not do: run anything (the test does).
 *
 * DIAGNOSTICS
 * None: data.
 */

/** A client identity for XCLIENT; "[UNAVAILABLE]" / "[TEMPUNAVAIL]" mean unknown (permanent / temporary). */
export interface OracleClient {
  name: string;
  reverse?: string;
  addr: string;
}

export interface OracleSession {
  client: OracleClient;
  helo: string;
  etrn?: string;
  sender: string;
  rcpts: string[];
  data?: boolean;
}

export interface OracleCase {
  id: string;
  settings: Record<string, string>;
  sessions: OracleSession[];
}

/**
 * The DNS server's address: port 53, since the system resolver has no
 * port syntax, on a loopback address chosen per process so that two runs
 * do not collide.
 */
export const DNS_ADDR = `127.83.${(process.pid >> 8) & 255}.${(process.pid & 255) || 1}`;

/** Settings of main.cf shared by every service (the resolver reads these). */
export const COMMON_MAIN: Record<string, string> = {
  mydestination: 'local.test',
  virtual_alias_domains: 'valias.test',
  virtual_alias_maps: 'texthash:$T/virtual_alias',
  virtual_mailbox_domains: 'vmbox.test',
  virtual_mailbox_maps: 'texthash:$T/virtual_mailbox',
  relay_domains: 'relay.test',
  relay_recipient_maps: 'texthash:$T/relay_recipients',
  local_recipient_maps: 'texthash:$T/local_recipients',
  alias_maps: '',
  recipient_delimiter: '+',
  mynetworks: '192.0.2.0/28',
  smtpd_authorized_xclient_hosts: '127.0.0.1',
  smtpd_peername_lookup: 'no',
  smtpd_client_connection_count_limit: '0',
  smtpd_client_connection_rate_limit: '0',
  smtpd_error_sleep_time: '0s',
  smtpd_soft_error_limit: '100',
  smtpd_hard_error_limit: '100',
  smtpd_junk_command_limit: '1000',
  inet_protocols: 'all',
  inet_interfaces: '127.0.0.1',
};

export const TABLES: Record<string, string> = {
  virtual_alias: 'alias@valias.test r1@relay.test\n',
  virtual_mailbox: 'box@vmbox.test whatever\n',
  relay_recipients: 'r1@relay.test x\nr3@relay.test x\nstrict@relay.test x\ndip@relay.test x\nloop@relay.test x\nsleeper@relay.test x\nbogus@relay.test x\nmap@relay.test x\nhold@relay.test x\nredirect@relay.test x\nbcc@relay.test x\nmulti@relay.test x\ndirword@relay.test x\n',
  local_recipients: 'known x\n',
  client_access: [
    'blocked.test REJECT',
    'rejtext.test REJECT Go away now',
    'custom.test 521 5.7.0 Custom reject',
    'deferme.test DEFER',
    'defertext.test DEFER 4.7.9 Later please',
    'okhost.test OK',
    'relayhost.test RELAY',
    'dunno.test DUNNO',
    'hold.test HOLD',
    'holdtext.test HOLD held for review',
    'discard.test DISCARD',
    'filter.test FILTER smtp:[127.0.0.1]:10025',
    'badfilter.test FILTER nocolon',
    'redirect.test REDIRECT admin@relay.test',
    'bcc.test BCC copy@relay.test',
    'prepend.test PREPEND X-Client-Tag: tagged',
    'warn.test WARN client looks odd',
    'info.test INFO client noted',
    'dip.test DEFER_IF_PERMIT',
    'dir.test DEFER_IF_REJECT Not today',
    'classy.test cls_strict',
    'numeric.test 12345',
    'parent.test REJECT parent domain',
    '192.0.2.99 REJECT by address',
    '198.51.100 554 5.7.2 network blocked',
    '203.0 DEFER_IF_PERMIT 4.7.3 net later',
    '',
  ].join('\n'),
  reverse_access: 'revblock.test REJECT reverse name blocked\nrevok.test OK\n',
  helo_access: 'blockedhelo.test REJECT bad helo\nokhelo.test OK\nholdhelo.test HOLD\n',
  sender_access: [
    '<> REJECT null sender refused',
    'full@addr.test REJECT full address',
    'user@ext.test 550 5.1.0 bare address hit',
    'dom.test REJECT whole domain',
    'parentdom.test 451 4.1.8 parent domain',
    'localpart@ REJECT by localpart',
    'user+x@ REJECT by localpart with extension',
    'hold@addr.test HOLD',
    'ok@addr.test OK',
    'dsn1@addr.test 550 5.1.1 mapped sender one',
    'dsn3@addr.test 550 5.1.3 mapped sender three',
    'dsn4@addr.test 550 5.1.4 mapped sender four',
    'dsn6@addr.test 550 5.1.6 mapped sender six',
    'dsn9@addr.test 550 5.1.9 mapped sender nine',
    '',
  ].join('\n'),
  rcpt_access: [
    'redirect@relay.test REDIRECT known@local.test',
    'bcc@relay.test BCC known@local.test',
    'hold@relay.test HOLD',
    'rcptblock.test REJECT',
    'r3@relay.test 450 4.2.0 mailbox busy',
    'dunno@elsewhere.test DUNNO',
    'ok@elsewhere.test OK',
    'dsn7@relay.test 550 5.1.7 mapped recipient seven',
    'dsn0@relay.test 550 5.1.0 mapped recipient zero',
    'dsn9@relay.test 550 5.1.9 mapped recipient nine',
    '',
  ].join('\n'),
  class_access: [
    'strict@relay.test cls_strict',
    'relaxed@elsewhere.test cls_relaxed',
    'dip@relay.test DEFER_IF_PERMIT',
    'dir@elsewhere.test DEFER_IF_REJECT',
    'loop@relay.test defer_if_permit',
    'sleeper@relay.test sleep 0',
    'bogus@relay.test bogus_word',
    'map@relay.test regexp:/etc/nothing',
    'multi@relay.test reject_non_fqdn_sender permit',
    'dirword@relay.test defer_if_reject reject',
    '',
  ].join('\n'),
  etrn_access: 'blocked.test REJECT no queue run for you\nok.test OK\n',
  eod_access: 'eod@relay.test REJECT end of data refusal\n',
  server_access: 'badmx.test REJECT bad mail server\n192.0.2.66 REJECT bad server address\ngoodmx.test OK\n',
  rbl_reply: 'rbl2.test=127.0.0.[4..5] $rbl_code 5.7.9 Custom $rbl_class [$rbl_what] from ${rbl_domain}; client=$client helo=$helo_name\n',
};

/** dnsmasq arguments for the zone. */
export const DNS_RECORDS: string[] = [
  '--host-record=helo.good.test,192.0.2.50',
  '--mx-host=mx.good.test,helo.good.test,10',
  '--mx-host=nullmx.test,.,0',
  '--host-record=10.2.0.192.rbl.test,127.0.0.2',
  '--txt-record=10.2.0.192.rbl.test,listed for testing',
  '--host-record=11.2.0.192.rbl2.test,127.0.0.4',
  '--host-record=12.2.0.192.rbl2.test,127.0.0.9',
  '--host-record=20.2.0.192.wl.test,127.0.10.1',
  '--host-record=20.2.0.192.rbl.test,127.0.0.2',
  `--host-record=0.1.0.0.${'0.'.repeat(20)}8.b.d.0.1.0.0.2.rbl.test,127.0.0.2`,
  '--host-record=spam.test.rhsbl.test,127.0.0.2',
  '--txt-record=spam.test.rhsbl.test,spam domain',
  '--host-record=mx.good.test.rhsbl.test,127.0.0.3',
  '--mx-host=sbad.test,badmx.test,10',
  '--host-record=badmx.test,192.0.2.60',
  '--mx-host=sbadaddr.test,mxaddr.test,10',
  '--host-record=mxaddr.test,192.0.2.66',
  '--mx-host=sok.test,goodmx.test,10',
  '--host-record=goodmx.test,192.0.2.61',
  '--host-record=plain.test,192.0.2.66',
  '--mx-host=backup.test,primary.test,10',
  '--mx-host=backup.test,mx.self.test,20',
  '--host-record=primary.test,192.0.2.77',
  '--host-record=mx.self.test,127.0.0.1',
  '--mx-host=primaryself.test,mx.self.test,10',
];

const relay = 'r1@relay.test';
const c = (name: string, addr: string, reverse?: string): OracleClient => ({ name, addr, reverse });

export const CASES: OracleCase[] = [
  {
    id: 'client-access',
    settings: {
      smtpd_client_restrictions:
        'check_reverse_client_hostname_access texthash:$T/reverse_access, check_client_access texthash:$T/client_access, warn_if_reject reject_unknown_client_hostname, reject_unknown_reverse_client_hostname',
      smtpd_restriction_classes: 'cls_strict',
      cls_strict: 'reject_non_fqdn_sender, reject',
      smtpd_log_access_permit_actions: 'static:all',
    },
    sessions: [
      ...[
        'blocked.test', 'rejtext.test', 'custom.test', 'deferme.test', 'defertext.test', 'okhost.test', 'relayhost.test',
        'dunno.test', 'hold.test', 'holdtext.test', 'discard.test', 'filter.test', 'badfilter.test', 'redirect.test',
        'bcc.test', 'prepend.test', 'warn.test', 'info.test', 'dip.test', 'dir.test', 'classy.test', 'numeric.test',
        'sub.parent.test',
      ].map((n) => ({ client: c(n, '192.0.2.200'), helo: 'client.test', sender: 'a@relay.test', rcpts: [relay, 'r3@relay.test', 'x@elsewhere.example'], data: true })),
      { client: c('[UNAVAILABLE]', '192.0.2.99'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '198.51.100.7'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '203.0.113.5'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[TEMPUNAVAIL]', '192.0.2.201', '[TEMPUNAVAIL]'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '192.0.2.202', 'rev.test'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('fine.test', '192.0.2.203', '[UNAVAILABLE]'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '192.0.2.204', 'revblock.test'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '192.0.2.205', 'revok.test'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
    ],
  },
  {
    id: 'helo',
    settings: {
      smtpd_helo_restrictions:
        'check_helo_access texthash:$T/helo_access, reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, reject_unknown_helo_hostname, reject_rhsbl_helo rhsbl.test',
    },
    sessions: [
      '[192.0.2.1]', '[300.1.1.1]', 'bad_name!', 'nodots', 'helo.good.test', 'unknown.test', 'mx.good.test', 'x.tempfail.example',
      'helo.good.test.', 'blockedhelo.test', 'okhelo.test', 'holdhelo.test', '-bad.test', '[IPv6:2001:db8::1]', 'spam.test',
    ].map((h) => ({ client: c('any.test', '192.0.2.210'), helo: h, sender: 's@relay.test', rcpts: [relay] })),
  },
  {
    id: 'sender',
    settings: {
      smtpd_sender_restrictions:
        'check_sender_access texthash:$T/sender_access, reject_non_fqdn_sender, reject_unknown_sender_domain, reject_rhsbl_sender rhsbl.test, reject_unlisted_sender',
    },
    sessions: [
      '', 'full@addr.test', 'user+foo@ext.test', 'a@dom.test', 'a@x.parentdom.test', 'localpart@any.test', 'user+x@any.test',
      'hold@addr.test', 'ok@addr.test', 'a@nodomain', 'a@unknown-domain.test', 'a@mx.good.test', 'a@tempfail.example',
      'a@nullmx.test', 'a@spam.test', 'nobody@valias.test', 'known@local.test', 'nobody@local.test', 'a@[192.0.2.1]',
      'dsn1@addr.test', 'dsn3@addr.test', 'dsn4@addr.test', 'dsn6@addr.test', 'dsn9@addr.test',
    ].map((s) => ({ client: c('any.test', '192.0.2.211'), helo: 'h.test', sender: s, rcpts: [relay] })),
  },
  {
    id: 'recipient',
    settings: {
      smtpd_recipient_restrictions:
        'check_recipient_access texthash:$T/rcpt_access, reject_non_fqdn_recipient, reject_unknown_recipient_domain, reject_rhsbl_recipient rhsbl.test, permit_auth_destination, reject',
      smtpd_log_access_permit_actions: 'OK, permit_mynetworks, !permit_auth_destination',
    },
    sessions: [
      {
        client: c('any.test', '192.0.2.212'),
        helo: 'h.test',
        sender: 's@relay.test',
        rcpts: [
          'known@local.test', 'nobody@local.test', 'alias@valias.test', 'nobody@valias.test', 'box@vmbox.test', 'nobox@vmbox.test',
          'r1@relay.test', 'r2@relay.test', 'x@elsewhere.test', 'postmaster', 'x@rcptblock.test', 'r3@relay.test', 'dunno@elsewhere.test',
          'ok@elsewhere.test', 'dsn7@relay.test', 'dsn0@relay.test', 'dsn9@relay.test', 'user@nodomain', 'x@tempfail.example', 'x@nullmx.test', 'x@mx.good.test', 'Known+ext@LOCAL.test',
        ],
      },
      { client: c('any.test', '192.0.2.213'), helo: 'h.test', sender: 's@relay.test', rcpts: ['redirect@relay.test', 'bcc@relay.test', 'hold@relay.test'], data: true },
      { client: c('any.test', '192.0.2.5'), helo: 'h.test', sender: 's@relay.test', rcpts: ['x@outside.example'] },
    ],
  },
  {
    id: 'dnsbl',
    settings: {
      smtpd_client_restrictions:
        'permit_dnswl_client wl.test, reject_rbl_client rbl.test, reject_rbl_client rbl2.test=127.0.0.[4..5], reject_rhsbl_client rhsbl.test, reject_rhsbl_reverse_client rhsbl.test',
      rbl_reply_maps: 'texthash:$T/rbl_reply',
    },
    sessions: [
      c('[UNAVAILABLE]', '192.0.2.10'), c('[UNAVAILABLE]', '192.0.2.11'), c('[UNAVAILABLE]', '192.0.2.12'), c('[UNAVAILABLE]', '192.0.2.20'),
      c('spam.test', '192.0.2.30'), c('[UNAVAILABLE]', '192.0.2.31', 'spam.test'), c('mx.good.test', '192.0.2.32'), c('fine.test', '192.0.2.33'),
      c('[UNAVAILABLE]', '2001:db8::10'), c('[UNAVAILABLE]', '2001:db8::11'),
    ].map((client) => ({ client, helo: 'helo.good.test', sender: 's@relay.test', rcpts: [relay, 'x@elsewhere.example'] })),
  },
  {
    id: 'classes',
    settings: {
      smtpd_recipient_restrictions:
        'warn_if_reject reject_unlisted_recipient, check_recipient_access texthash:$T/class_access, permit_auth_destination, warn_if_reject reject_non_fqdn_sender, reject',
      smtpd_restriction_classes: 'cls_strict, cls_relaxed',
      cls_strict: 'reject_non_fqdn_sender, reject',
      cls_relaxed: 'permit',
    },
    sessions: [
      {
        client: c('any.test', '192.0.2.214'),
        helo: 'h.test',
        sender: 'nofqdn@localhost',
        rcpts: [
          'strict@relay.test', 'relaxed@elsewhere.test', 'dip@relay.test', 'dir@elsewhere.test', 'loop@relay.test', 'sleeper@relay.test',
          'bogus@relay.test', 'map@relay.test', 'multi@relay.test', 'dirword@relay.test', 'r2@relay.test', 'other@elsewhere.test',
        ],
      },
      { client: c('any.test', '192.0.2.215'), helo: 'h.test', sender: 'fine@relay.test', rcpts: ['strict@relay.test', 'dip@relay.test', 'r1@relay.test'] },
    ],
  },
  {
    id: 'no-delay',
    settings: {
      smtpd_delay_reject: 'no',
      smtpd_helo_restrictions: 'reject_non_fqdn_helo_hostname',
      smtpd_sender_restrictions: 'reject_non_fqdn_sender, check_sender_access texthash:$T/sender_access',
      smtpd_etrn_restrictions: 'check_etrn_access texthash:$T/etrn_access, reject_unknown_client_hostname',
      smtpd_data_restrictions: 'reject_multi_recipient_bounce',
      smtpd_end_of_data_restrictions: 'check_sender_access texthash:$T/eod_access',
    },
    sessions: [
      { client: c('any.test', '192.0.2.216'), helo: 'nodots', sender: 's@relay.test', rcpts: [relay] },
      { client: c('any.test', '192.0.2.216'), helo: 'h.test', etrn: 'blocked.test', sender: 'a@nodomain', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '192.0.2.217'), helo: 'h.test', etrn: 'some.test', sender: 'hold@addr.test', rcpts: [relay], data: true },
      { client: c('any.test', '192.0.2.218'), helo: 'h.test', etrn: 'ok.test', sender: '', rcpts: [relay, 'r3@relay.test'], data: true },
      { client: c('any.test', '192.0.2.219'), helo: 'h.test', sender: '', rcpts: [relay], data: true },
      { client: c('any.test', '192.0.2.219'), helo: 'h.test', sender: 'eod@relay.test', rcpts: [relay], data: true },
    ],
  },
  {
    id: 'relay-soft-bounce',
    settings: {
      smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
      smtpd_recipient_restrictions: 'check_recipient_access texthash:$T/rcpt_access',
      soft_bounce: 'yes',
      relay_domains_reject_code: '550',
      access_map_reject_code: '553',
    },
    sessions: [
      { client: c('any.test', '192.0.2.5'), helo: 'h.test', sender: 's@relay.test', rcpts: ['x@outside.example', 'x@rcptblock.test', relay] },
      { client: c('any.test', '192.0.2.100'), helo: 'h.test', sender: 's@relay.test', rcpts: ['x@outside.example', 'x@rcptblock.test', relay] },
    ],
  },
  {
    id: 'recipient-first',
    settings: {
      smtpd_relay_before_recipient_restrictions: 'no',
      smtpd_relay_restrictions: 'defer_unauth_destination',
      smtpd_recipient_restrictions: 'check_recipient_access texthash:$T/rcpt_access, permit_mynetworks',
      defer_code: '451',
    },
    sessions: [
      { client: c('any.test', '192.0.2.5'), helo: 'h.test', sender: 's@relay.test', rcpts: ['x@outside.example', 'x@rcptblock.test', 'ok@elsewhere.test', relay] },
      { client: c('any.test', '192.0.2.100'), helo: 'h.test', sender: 's@relay.test', rcpts: ['x@outside.example', 'ok@elsewhere.test', relay] },
    ],
  },
  {
    id: 'table-failures',
    settings: {
      smtpd_client_restrictions: 'check_client_access fail:broken',
      smtpd_relay_restrictions: 'reject_unauth_destination',
      local_recipient_maps: 'fail:gone',
      unknown_local_recipient_reject_code: '550',
    },
    sessions: [{ client: c('any.test', '192.0.2.220'), helo: 'h.test', sender: 's@relay.test', rcpts: ['known@local.test'] }],
  },
  {
    id: 'local-unknown',
    settings: {
      smtpd_relay_restrictions: 'reject_unauth_destination',
      show_user_unknown_table_name: 'no',
      unknown_local_recipient_reject_code: '450',
      defer_code: '450',
      smtpd_data_restrictions: 'defer',
    },
    sessions: [{ client: c('any.test', '192.0.2.221'), helo: 'h.test', sender: 's@relay.test', rcpts: ['nobody@local.test', 'known@local.test'], data: true }],
  },
  {
    id: 'servers',
    settings: {
      smtpd_client_restrictions: 'check_client_a_access texthash:$T/server_access, check_reverse_client_hostname_mx_access texthash:$T/server_access',
      smtpd_helo_restrictions: 'check_helo_mx_access texthash:$T/server_access, check_helo_a_access texthash:$T/server_access',
      smtpd_sender_restrictions: 'check_sender_mx_access texthash:$T/server_access, check_sender_a_access texthash:$T/server_access',
      smtpd_relay_restrictions: '',
      smtpd_recipient_restrictions: 'check_recipient_mx_access texthash:$T/server_access, permit_mx_backup, check_relay_domains',
      smtpd_log_access_permit_actions: 'static:all',
      smtpd_end_of_data_restrictions: 'reject',
    },
    sessions: [
      { client: c('any.test', '192.0.2.222'), helo: 'sbad.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('any.test', '192.0.2.222'), helo: 'plain.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('plain.test', '192.0.2.223'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      { client: c('[UNAVAILABLE]', '192.0.2.224', 'sbad.test'), helo: 'h.test', sender: 's@relay.test', rcpts: [relay] },
      ...['a@sbadaddr.test', 'a@sok.test', 'a@[192.0.2.66]', 'a@plain.test', 'a@nomx.test'].map((sender) => ({
        client: c('any.test', '192.0.2.225'),
        helo: 'h.test',
        sender,
        rcpts: [relay],
      })),
      {
        client: c('any.test', '192.0.2.226'),
        helo: 'h.test',
        sender: 's@relay.test',
        rcpts: ['x@backup.test', 'x@primaryself.test', 'x@sbad.test', 'x@elsewhere.example', 'known@local.test', relay],
      },
      { client: c('relay.test', '192.0.2.227'), helo: 'h.test', sender: 's@relay.test', rcpts: ['x@elsewhere.example'], data: true },
    ],
  },
];

/** A configuration Postfix refuses to run with (no relay protection). */
export const OPEN_RELAY_SETTINGS: Record<string, string> = {
  smtpd_relay_restrictions: '',
  smtpd_recipient_restrictions: 'permit_mynetworks, check_recipient_access texthash:$T/rcpt_access',
};
