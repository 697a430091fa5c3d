/*
 * cleanup_addr_cases - the messages and tables of cleanup_addr_oracle_test
 *
 * What it does: lists the lookup tables written into the oracle's
 * configuration directory and one case per submitted message: envelope
 * sender (sendmail -f), envelope recipients (sendmail arguments) and
 * address headers. DEFERRED_CASES hit a virtual alias limit, so the real
 * cleanup refuses them; `key` is the address its warning names.
 *
 * What it does not do: run anything (cleanup_addr_oracle_test.ts does).
 *
 * DIAGNOSTICS
 * None.
 */

export interface AddrCase {
  name: string;
  sender: string;
  rcpts: string[];
  /** Header name and value, in message order. */
  headers: Array<[string, string]>;
  /** sendmail -t: the recipients come from the headers (rcpts must be empty). */
  extract?: boolean;
}

export interface DeferredCase extends AddrCase {
  key: string;
}

const deepChain = Array.from({ length: 7 }, (_, i) => `deep${i}@origin.example\tdeep${i + 1}@origin.example`).join('\n');
const bigList = Array.from({ length: 9 }, (_, i) => `b${i}@remote.example`).join(', ');

/** File name (in the config directory) -> texthash content. */
export const ORACLE_TABLES: Readonly<Record<string, string>> = {
  canonical: [
    '@old.example\t@new.example',
    'jdoe@origin.example\tjohn.doe@origin.example',
    'alias-user\treal-user',
    'multi@origin.example\tfirst@origin.example, second@origin.example',
    'loop1@origin.example\tloop2@origin.example',
    'loop2@origin.example\tloop1@origin.example',
    'self@origin.example\tSELF@origin.example',
    'ext@origin.example\textended@remote.example',
    'unq@origin.example\tunqualified',
    '@corp-canon.example\t@host.corp.example',
    '',
  ].join('\n'),
  sender_canonical: ['"john..smith"@origin.example\tjohn.smith@origin.example', ''].join('\n'),
  recipient_canonical: ['rcpt-old@origin.example\trcpt-new@remote.example', '@rc.example\t@rc-new.example', ''].join('\n'),
  virtual: [
    'list@origin.example\tm1@remote.example, m2@remote.example, m3@remote.example',
    'selfish@origin.example\tselfish@origin.example, copy@remote.example',
    'chain1@origin.example\tchain2@origin.example',
    'chain2@origin.example\tchain3@remote.example',
    'vext@origin.example\tvext-target@remote.example',
    '@virt.example\tcatchall@remote.example',
    'sales@virt.example\tsales-team@remote.example',
    'dupl@origin.example\tm1@remote.example, M1@remote.example, m1@REMOTE.example',
    'bare@origin.example\tbarelocal',
    'group@origin.example\tlist@origin.example, chain1@origin.example, m1@remote.example',
    deepChain,
    `big@origin.example\t${bigList}`,
    '',
  ].join('\n'),
  recipient_bcc: ['watched@remote.example\tmonitor@remote.example', 'watched2@remote.example\tlist@origin.example', ''].join('\n'),
};

const plainFrom = (a: string): Array<[string, string]> => [['From', a]];

export const ADDR_CASES: readonly AddrCase[] = [
  { name: 'nothing to map', sender: 's@remote.example', rcpts: ['r@remote.example'], headers: [['From', 's@remote.example'], ['To', 'r@remote.example']] },
  { name: 'unqualified addresses get @myorigin', sender: 'user', rcpts: ['other'], headers: [['From', 'user'], ['To', 'other, third']] },
  { name: 'MAILER-DAEMON becomes the null sender', sender: 'MAILER-DAEMON', rcpts: ['r@remote.example'], headers: plainFrom('MAILER-DAEMON') },
  {
    name: 'canonical @domain',
    sender: 'bob@old.example',
    rcpts: ['carol@old.example'],
    headers: [['From', 'Bob <bob@old.example>'], ['To', 'carol@old.example (Carol)']],
  },
  { name: 'canonical @domain keeps the extension in the local part', sender: 'bob+tag@old.example', rcpts: ['carol+x@old.example'], headers: plainFrom('bob+tag@old.example') },
  {
    name: 'canonical full address',
    sender: 'jdoe@origin.example',
    rcpts: ['jdoe@origin.example'],
    headers: [['From', '"J. Doe" <jdoe@origin.example>'], ['Cc', 'jdoe@origin.example']],
  },
  { name: 'canonical local part of a local domain', sender: 'alias-user@origin.example', rcpts: ['alias-user'], headers: [['From', 'alias-user'], ['To', 'alias-user@origin.example']] },
  { name: 'canonical local part with an unmatched extension', sender: 'alias-user+ext@origin.example', rcpts: ['alias-user+x'], headers: plainFrom('alias-user+ext') },
  { name: 'canonical multi-valued entry', sender: 'multi@origin.example', rcpts: ['multi@origin.example'], headers: plainFrom('multi@origin.example') },
  { name: 'canonical loop', sender: 'loop1@origin.example', rcpts: ['r@remote.example'], headers: plainFrom('loop1@origin.example') },
  { name: 'canonical maps to itself in other case', sender: 'self@origin.example', rcpts: ['self@origin.example'], headers: [['Reply-To', 'self@origin.example']] },
  { name: 'canonical propagates an unmatched extension', sender: 'ext+foo@origin.example', rcpts: ['ext+bar@origin.example'], headers: [['From', 'ext+foo@origin.example'], ['To', 'ext@origin.example']] },
  { name: 'canonical result without domain', sender: 'unq@origin.example', rcpts: ['unq@origin.example'], headers: plainFrom('unq@origin.example') },
  {
    name: 'sender_canonical only for the envelope sender class',
    sender: 'sender@origin.example',
    rcpts: ['sender@origin.example'],
    headers: [['From', 'sender@origin.example'], ['Sender', 'x'], ['To', 'sender@origin.example']],
  },
  { name: 'sender_canonical with a quoted local part', sender: '"john..smith"@origin.example', rcpts: ['"a b"@remote.example'], headers: [['From', '"john..smith"@origin.example'], ['To', '"a b"@remote.example']] },
  {
    name: 'recipient_canonical for recipients and recipient headers only',
    sender: 'rcpt-old@origin.example',
    rcpts: ['rcpt-old@origin.example', 'x@rc.example'],
    headers: [['From', 'rcpt-old@origin.example'], ['To', 'rcpt-old@origin.example'], ['Cc', 'x@rc.example, y@RC.example']],
  },
  { name: 'masquerade the sender', sender: 'user@host.corp.example', rcpts: ['r@remote.example'], headers: [['From', 'User <user@host.corp.example>']] },
  { name: 'masquerade exception with !', sender: 'user@x.keep.corp.example', rcpts: ['r@remote.example'], headers: [['From', 'user@x.keep.corp.example'], ['Cc', 'a@keep.corp.example']] },
  { name: 'masquerade_exceptions', sender: 'root@host.corp.example', rcpts: ['r@remote.example'], headers: [['From', 'root@host.corp.example'], ['To', 'Root@a.corp.example']] },
  {
    name: 'masquerade classes: headers yes, envelope recipients no',
    sender: 's@corp.example',
    rcpts: ['u@host.corp.example'],
    headers: [['To', 'u@host.corp.example'], ['From', 's@corp.example']],
  },
  { name: 'canonical then masquerade', sender: 'a@corp-canon.example', rcpts: ['b@corp-canon.example'], headers: [['From', 'a@corp-canon.example']] },
  { name: 'virtual alias list', sender: 's@remote.example', rcpts: ['list@origin.example'], headers: [['To', 'list@origin.example']] },
  { name: 'virtual alias to itself is kept', sender: 's@remote.example', rcpts: ['selfish@origin.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual alias chain', sender: 's@remote.example', rcpts: ['chain1@origin.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual alias does not propagate the extension here', sender: 's@remote.example', rcpts: ['vext+tag@origin.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual alias @domain and full address', sender: 's@remote.example', rcpts: ['anyone@virt.example', 'sales@virt.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual alias results that differ in case only', sender: 's@remote.example', rcpts: ['dupl@origin.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual alias result without domain', sender: 's@remote.example', rcpts: ['bare@origin.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual alias nested lists with duplicates', sender: 's@remote.example', rcpts: ['group@origin.example'], headers: plainFrom('s@remote.example') },
  {
    name: 'duplicate envelope recipients',
    sender: 's@remote.example',
    rcpts: ['r@remote.example', 'R@remote.example', 'r@remote.example', 'm1@remote.example', 'list@origin.example'],
    headers: plainFrom('s@remote.example'),
  },
  { name: 'sender_bcc_maps', sender: 'boss@origin.example', rcpts: ['r@remote.example'], headers: plainFrom('boss@origin.example') },
  { name: 'recipient_bcc_maps', sender: 's@remote.example', rcpts: ['watched@remote.example', 'monitor@remote.example'], headers: plainFrom('s@remote.example') },
  { name: 'recipient_bcc_maps result goes through virtual', sender: 's@remote.example', rcpts: ['watched2@remote.example'], headers: plainFrom('s@remote.example') },
  {
    name: 'every sender and recipient header kind',
    sender: 's@remote.example',
    rcpts: ['r@remote.example'],
    headers: [
      ['From', 'jdoe'],
      ['Sender', 'bob@old.example'],
      ['Reply-To', 'Team <team>'],
      ['Errors-To', 'errors'],
      ['Return-Receipt-To', 'receipts'],
      ['Disposition-Notification-To', 'dn'],
      ['Mail-Followup-To', 'mf@host.corp.example'],
      ['Resent-From', 'rf'],
      ['Resent-Sender', 'rs@old.example'],
      ['Resent-To', 'rt, rcpt-old'],
      ['Resent-Cc', 'rc@host.corp.example'],
      ['Resent-Reply-To', 'rrt'],
      ['Apparently-To', 'at'],
      ['Delivered-To', 'not-rewritten'],
    ],
  },
  {
    name: 'comments, phrases and groups survive',
    sender: 's@remote.example',
    rcpts: ['r@remote.example'],
    headers: [
      ['To', 'Group: a@old.example (x), "B C" <b>;, (lead) d@remote.example'],
      ['Cc', 'undisclosed-recipients:;'],
    ],
  },
  { name: 'header with nothing to change stays byte for byte', sender: 's@remote.example', rcpts: ['r@remote.example'], headers: [['From', '"X  Y"   <x@remote.example>  (spaced)'], ['To', 'a@remote.example,b@remote.example']] },
  {
    name: 'long header is folded',
    sender: 's@remote.example',
    rcpts: ['r@remote.example'],
    headers: [['To', 'alpha, "Beta Person" <beta@old.example>, gamma@host.corp.example, delta, Epsilon <epsilon@remote.example>, zeta, eta (comment), theta@old.example']],
  },
  {
    name: 'sendmail -t: recipients from To, Cc and Bcc',
    sender: 's@remote.example',
    rcpts: [],
    extract: true,
    headers: [['To', 'Team <list@origin.example>, jdoe'], ['Cc', 'rcpt-old@origin.example, watched@remote.example'], ['Bcc', 'hidden@host.corp.example, list@origin.example']],
  },
  {
    name: 'sendmail -t: Resent- headers win',
    sender: 's@remote.example',
    rcpts: [],
    extract: true,
    headers: [['To', 'ignored@remote.example'], ['Resent-From', 'jdoe'], ['Resent-To', 'chain1@origin.example, anyone@virt.example'], ['Resent-Bcc', 'carol@old.example']],
  },
  {
    name: 'odd addresses in headers',
    sender: 's@remote.example',
    rcpts: ['r@remote.example'],
    headers: [['From', '""'], ['To', '<>, @a.example,@b.example:x@c.example'], ['Cc', 'x@[192.0.2.1], user%host@relay.example, host!user, "q"@old.example']],
  },
  { name: 'folded header input', sender: 's@remote.example', rcpts: ['r@remote.example'], headers: [['Cc', 'one@old.example,\n\ttwo@remote.example,\n three']] },
];

export const DEFERRED_CASES: readonly DeferredCase[] = [
  { name: 'virtual_alias_recursion_limit', key: 'deep0@origin.example', sender: 's@remote.example', rcpts: ['deep0@origin.example'], headers: plainFrom('s@remote.example') },
  { name: 'virtual_alias_expansion_limit', key: 'big@origin.example', sender: 's@remote.example', rcpts: ['big@origin.example'], headers: plainFrom('s@remote.example') },
];
