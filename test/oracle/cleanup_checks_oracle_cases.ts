/*
 * cleanup_checks_oracle_cases - the tables and messages of cleanup_checks_oracle_test
 *
 * What it does: TABLES are the regexp:/pcre: files the real Postfix and
 * Postern both read (every header_checks(5) action, the bad-argument
 * forms, $1 substitution, mixed-case action names); CASES are the
 * messages, each with the cleanup service its smtpd uses, whether it
 * also goes through sendmail (not for rejects: pickup would try to
 * bounce them), and a pattern the real outcome must match so a case
 * cannot pass without exercising what it is about. caseMessage() adds
 * the standard From:/To:/Date:/Message-ID: headers.
 *
 * What it does not do: run anything.
 */

export const TABLES: Record<string, string> = {
  'hc.regexp': `/^Received:/ DUNNO
/^Subject:.*reject-default/ REJECT
/^Subject:.*reject-text/ REJECT go away now
/^Subject:.*reject-dsn/ REJECT 5.7.0 custom dsn text
/^Subject:.*reject-temp/ REJECT 4.7.1 try again later
/^Subject:.*reject-baddsn/ REJECT 2.0.0 odd code
/^Subject:.*warn-text/ WARN watch this
/^Subject:.*warn-empty/ WARN
/^Subject:.*info-me/ INFO noted
/^Subject:.*hold-me/ HOLD held by test
/^Subject:.*discard-me/ DISCARD dropped by test
/^Subject:.*filter-me/ FILTER smtp:[127.0.0.1]:10025
/^Subject:.*filter-bad/ FILTER nocolon
/^Subject:.*filter-none/ FILTER
/^Subject:.*redirect-me/ REDIRECT elsewhere@example.org
/^Subject:.*redirect-bad/ REDIRECT nobody
/^Subject:.*bcc-me/ BCC copy@example.org
/^Subject:.*bcc-bad/ BCC nobody
/^Subject:.*prepend-me/ PREPEND X-Prepended: by test
/^Subject:.*prepend-bad/ PREPEND not a header
/^Subject:.*replace-me/ REPLACE Subject: replaced subject
/^Subject:.*replace-bad/ REPLACE no colon here
/^Subject:.*ignore-me/ IGNORE
/^Subject:.*strip-me/ STRIP stripped
/^Subject:.*dunno-me/ DUNNO
/^Subject:.*ok-me/ OK
/^Subject:.*pass-me/ PASS trusted
/^Subject:.*unknown-me/ FROBNICATE now
/^X-Case:/ hOlD mixed case
/^X-Multi:(.*)/ WARN multi:$1
`,
  'hc.pcre': `/^Received:/ DUNNO
/^X-Pcre: (\\w+)/ INFO pcre saw $1
/^Subject:.*pcre-reject/ REJECT pcre rejected
`,
  'mhc.pcre': `/^Content-Type:.*name="?[^"]*\\.exe/ REJECT 5.7.1 no executables
/^Content-Disposition:.*warnme/ WARN mime disposition
/^Content-Type:/ INFO mime type
/^Content-Transfer-Encoding:/ INFO mime cte
`,
  'nhc.regexp': `/^Subject:.*nested-reject/ REJECT nested rejected
/^(Subject|X-Inner):(.*)/ INFO nested $1
`,
  'bc.regexp': `/^body-reject/ REJECT body rejected
/^body-warn(.*)/ WARN body warn$1
/^body-replace/ REPLACE replaced body line
/^body-prepend/ PREPEND prepended body line
/^body-ignore/ IGNORE
/^body-hold/ HOLD body hold
/^body-discard/ DISCARD
/^body-bcc/ BCC bodycopy@example.org
/^--/ INFO boundary
/^limit-probe/ INFO probe
/^Subject: in-body/ INFO header-like body line
`,
  'bc.pcre': `/^pcre-body (\\d+)/ INFO pcre body $1
`,
};

export interface ChecksCase {
  name: string;
  /** Header lines after the standard ones (Subject: included here). */
  headers: string[];
  body: string[];
  rcpts: string[];
  /** The cleanup service behind the smtpd used (default "cleanup"). */
  service?: 'cleanup' | 'cleanup2' | 'cleanup3';
  /** Also submit through sendmail. */
  sendmail?: boolean;
  /** The real outcome ("REPLY QUEUE\nLOGS") must match this. */
  expect?: RegExp;
}

const R1 = ['r1@example.net'];
const R2 = ['r1@example.net', 'r2@example.net'];
const filler = (n: number): string[] => Array.from({ length: n }, (_, i) => `filler line ${i} ${'x'.repeat(40)}`);

/** A Subject-only case. */
function subj(name: string, expect: RegExp, sendmail = true, body = ['hello']): ChecksCase {
  return { name, headers: [`Subject: ${name}`], body, rcpts: R1, sendmail, expect };
}

/** Multiparts nested `depth` levels below the top one (cleanup2 has mime_nesting_limit = 3). */
function nestingCase(name: string, depth: number, expect: RegExp): ChecksCase {
  const body: string[] = [];
  for (let i = 1; i <= depth; i++) body.push(`--n${i}`, `Content-Type: multipart/mixed; boundary=n${i + 1}`, '');
  body.push(`--n${depth + 1}`, '', 'deep');
  return {
    name,
    headers: [`Subject: ${name}`, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=n1'],
    body,
    rcpts: R1,
    service: 'cleanup2',
    expect,
  };
}

export const CASES: ChecksCase[] = [
  subj('plain', /^250 incoming\n?$/),
  subj('reject-default', /^550 5\.7\.1 message content rejected none\n.*reject: header Subject: reject-default/, false),
  subj('reject-text', /^550 5\.7\.1 go away now none/, false),
  subj('reject-dsn', /^550 5\.7\.0 custom dsn text/, false),
  subj('reject-temp', /^451 4\.7\.1 try again later none/, false),
  subj('reject-baddsn', /warning: bad DSN action/, false),
  subj('warn-text', /warning: header Subject: warn-text .*: watch this/),
  {
    ...subj('warn-text utf8', /warning: header Subject: warn-text utf8 caf\xc3\xa9 .*: watch this/),
    headers: ['Subject: warn-text utf8 caf\xc3\xa9'],
    body: ['na\xc3\xafve body-warn \xe2\x82\xac'],
  },
  subj('warn-empty', /warning: header Subject: warn-empty from/),
  subj('info-me', /info: header Subject: info-me .*: noted/),
  subj('hold-me', /^250 hold\n.*hold: header/),
  subj('discard-me', /^(250|none) none\n.*discard: header/),
  subj('filter-me', /filter: header .*: smtp:\[127\.0\.0\.1\]:10025/),
  subj('filter-bad', /warning: bad FILTER command nocolon in header_checks -- need transport:destination/),
  subj('filter-none', /warning: missing FILTER command argument in header_checks map/),
  subj('redirect-me', /redirect: header .*: elsewhere@example\.org/),
  subj('redirect-bad', /warning: bad REDIRECT target "nobody"/),
  { ...subj('bcc-me', /bcc: header .*: copy@example\.org/), rcpts: R2 },
  subj('bcc-bad', /warning: bad BCC address "nobody"/),
  subj('prepend-me', /prepend: header .*: X-Prepended: by test/),
  subj('prepend-bad', /warning: bad PREPEND header text "not a header"/),
  subj('replace-me', /replace: header Subject: replace-me/),
  subj('replace-bad', /warning: bad REPLACE header text "no colon here"/),
  subj('ignore-me', /^250 incoming\n?$/),
  subj('strip-me', /strip: header Subject: strip-me .*: stripped/),
  subj('dunno-me', /^250 incoming/),
  subj('ok-me', /^250 incoming/),
  subj('pass-me', /pass: header .*: trusted/, true, ['body-reject is not seen after PASS', 'body-warn either']),
  subj('unknown-me', /warning: unknown command in header_checks map: FROBNICATE now/),
  {
    name: 'mixed-case action and $1, folded header, pcre table',
    headers: ['Subject: several', 'X-Case: 1', 'X-Multi: first', '\tsecond line', '  third line', 'X-Pcre: word99 rest'],
    body: ['pcre-body 42 here', 'hello'],
    rcpts: R2,
    sendmail: true,
    expect: /hold: header X-Case: 1[^]*warning: header X-Multi: first\?\?second[^]*pcre saw word99[^]*pcre body 42/,
  },
  subj('pcre-reject', /^550 5\.7\.1 pcre rejected/, false),
  {
    name: 'multipart with nested message',
    headers: ['Subject: multipart', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"'],
    body: [
      'preamble',
      '--b1',
      'Content-Type: text/plain; charset=us-ascii',
      'Content-Disposition: inline; warnme',
      'X-Part: one',
      '',
      'part one',
      'Subject: in-body line',
      '--b1',
      'Content-Type: message/rfc822',
      '',
      'Subject: inner message',
      'X-Inner: yes',
      'Content-Type: text/plain',
      '',
      'inner body',
      '--b1--',
      'epilogue',
    ],
    rcpts: R1,
    sendmail: true,
    expect: /mime disposition[^]*info: header Subject: inner message .*: nested Subject[^]*nested X-Inner[^]*boundary/,
  },
  {
    name: 'attachment rejected by mime_header_checks',
    headers: ['Subject: attachment', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=xyz'],
    body: ['--xyz', 'Content-Type: application/octet-stream; name="evil.exe"', '', 'AAAA', '--xyz--'],
    rcpts: R1,
    expect: /^550 5\.7\.1 no executables none/,
  },
  {
    name: 'nested header reject',
    headers: ['Subject: nested', 'MIME-Version: 1.0', 'Content-Type: message/rfc822'],
    body: ['Subject: nested-reject please', '', 'inner'],
    rcpts: R1,
    expect: /^550 5\.7\.1 nested rejected/,
  },
  {
    name: 'body actions',
    headers: ['Subject: body actions'],
    body: ['first', 'body-warn ing', 'body-replace me', 'body-prepend me', 'body-ignore me', 'last'],
    rcpts: R1,
    sendmail: true,
    expect: /warning: body body-warn ing .*: body warn ing[^]*replace: body[^]*prepend: body/,
  },
  {
    name: 'body hold and bcc',
    headers: ['Subject: body hold'],
    body: ['body-hold now', 'body-bcc now'],
    rcpts: R1,
    sendmail: true,
    expect: /^250 hold\n[^]*bcc: body body-bcc now/,
  },
  { name: 'body discard', headers: ['Subject: body discard'], body: ['a', 'body-discard', 'body-warn after discard'], rcpts: R1, sendmail: true, expect: /discard: body/ },
  { name: 'body reject', headers: ['Subject: body reject'], body: ['a', 'body-reject now'], rcpts: R1, expect: /^550 5\.7\.1 body rejected/ },
  {
    name: 'body_checks_size_limit per body segment',
    headers: ['Subject: limit', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="L"'],
    body: ['--L', '', 'limit-probe early', ...filler(10), 'limit-probe late', '--L', '', 'limit-probe next part', '--L--'],
    rcpts: R1,
    sendmail: true,
    expect: /probe[^]*next part/,
  },
  {
    name: 'hold then discard',
    headers: ['Subject: hold-me first'],
    body: ['body-discard later'],
    rcpts: R1,
    sendmail: true,
    expect: /hold: header[^]*discard: body/,
  },
  {
    name: 'garbage in the primary header block',
    headers: ['Subject: garbage', 'this is not a header', 'X-After: garbage'],
    body: ['body'],
    rcpts: R1,
    sendmail: true,
    expect: /^250 incoming/,
  },
  {
    name: 'multipart/digest parts default to message/rfc822',
    headers: ['Subject: digest', 'MIME-Version: 1.0', 'Content-Type: multipart/digest; boundary="D"'],
    body: ['--D', '', 'Subject: digest inner', 'X-Inner: d', '', 'text', '--D--'],
    rcpts: R1,
    sendmail: true,
    expect: /nested Subject/,
  },
  {
    name: '8-bit header with strict_8bitmime',
    headers: ['Subject: caf\xe9'],
    body: ['body'],
    rcpts: R1,
    service: 'cleanup2',
    expect: /^550 5\.6\.0 improper use of 8-bit data in message header none\n.*reject: mime-error/,
  },
  {
    name: '8-bit body in a 7-bit part with strict_8bitmime',
    headers: ['Subject: eight'],
    body: ['caf\xe9 au lait'],
    rcpts: R1,
    service: 'cleanup2',
    expect: /^550 5\.6\.0 improper use of 8-bit data in message body/,
  },
  {
    name: 'encoding domain with strict_mime_encoding_domain',
    headers: ['Subject: domain', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=E', 'Content-Transfer-Encoding: base64'],
    body: ['--E', '', 'x', '--E--'],
    rcpts: R1,
    service: 'cleanup2',
    expect: /^550 5\.6\.0 invalid message\/\* or multipart\/\* encoding domain/,
  },
  nestingCase('nesting at mime_nesting_limit + 1 open boundaries', 4, /^250 incoming/),
  nestingCase('nesting beyond mime_nesting_limit', 5, /^550 5\.6\.0 MIME nesting exceeds safety limit none\n[^]*reject: mime-error MIME nesting/),
  {
    name: 'header_size_limit truncates a long header',
    headers: ['Subject: long', 'X-Long: start', ...Array.from({ length: 20 }, (_, i) => `\tcontinuation ${i} ${'y'.repeat(40)}`)],
    body: ['body'],
    rcpts: R1,
    service: 'cleanup2',
    expect: /^250 incoming/,
  },
  {
    name: 'disable_mime_input_processing',
    headers: ['Subject: nomime', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=q'],
    body: ['--q', 'Content-Type: application/octet-stream; name="evil.exe"', 'Content-Disposition: warnme', '', 'x', '--q--'],
    rcpts: R1,
    service: 'cleanup3',
    expect: /^250 incoming[^]*info: body --q/,
  },
  {
    name: 'lines longer than line_length_limit arrive in pieces, body checks stop at the size limit',
    headers: [`Subject: long ${'s'.repeat(2100)}`, `X-Long: ${'m'.repeat(2500)}`, `X-Pcre: tail ${'t'.repeat(2040)}`],
    body: [`${'c'.repeat(2048)}--piece`, `limit-probe ${'d'.repeat(5000)}`, 'pcre-body 7'],
    rcpts: R1,
    sendmail: true,
    // The body pieces after the first lie beyond body_checks_size_limit (400): only the header is logged.
    expect: /^250 incoming\n[^\n]*: pcre saw tail$/,
  },
  {
    name: 'message_strip_characters',
    headers: ['Subject: strip # these ##'],
    body: ['body # line', '#'],
    rcpts: R1,
    service: 'cleanup3',
    expect: /^250 incoming/,
  },
  {
    name: 'message_reject_characters',
    headers: ['Subject: fine'],
    body: ['body ^ line'],
    rcpts: R1,
    service: 'cleanup3',
    expect: /^550 5\.7\.1 disallowed character none\n.*reject: content body \^ line/,
  },
];

/** The message text (LF line ends) of a case. */
export function caseMessage(c: ChecksCase, sender: string): string {
  const std = [`From: Sender <${sender}>`, `To: ${c.rcpts.join(', ')}`, 'Date: Sat, 28 Nov 2026 12:00:00 +0000', `Message-ID: <${sender.replace('@', '.')}@example.com>`];
  return `${[...std, ...c.headers].join('\n')}\n\n${c.body.join('\n')}\n`;
}
