/*
 * bounce_template - the texts of delivery status notifications (Postfix bounce_template.c, bounce_templates.c, bounce(5))
 *
 * What it does: the four built-in templates (failure, delay, success,
 * verify) with Postfix 3.7's wording, loading a bounce_template_file
 * (bounce(5) syntax: "name_template = <<EOF" ... "EOF", # comments), the
 * pseudo headers of a template (Charset:, From:, Subject:,
 * Postmaster-Subject:) and its message text, and the expansion of $name
 * in that text against main.cf, with the special time parameters
 * delay_warning_time_<unit> and maximal_queue_lifetime_<unit> (unit
 * seconds, minutes, hours, days or weeks). dumpBounceTemplates() and
 * expandBounceTemplates() print what `postconf -t` and `postconf -b` print.
 *
 * What it does not do: compose the notification (src/bounce/ does) or
 * read main.cf (the caller's MailConfig does).
 *
 * DIAGNOSTICS
 * A template file with a syntax error is fatal with file and line, as
 * Postfix; an unusable template (empty or non-ASCII header value, unknown
 * label, 8-bit text with charset us-ascii, no text) is warned about and
 * the built-in one is used instead. An undefined $name or a bad time
 * suffix in the text is fatal when the template is expanded, as Postfix.
 */
import { readFileSync } from 'node:fs';
import { msgFatal, msgWarn } from '../util/msg.js';
import { isHeader } from './is_header.js';
import type { MailConfig } from './mail_conf.js';
import { expandMacros } from './mail_conf_expand.js';

export type BounceTemplateClass = 'failure' | 'delay' | 'success' | 'verify';

export interface BounceTemplate {
  readonly class: BounceTemplateClass;
  /** "[built-in]" or the template file's path. */
  readonly origin: string;
  readonly charset: string;
  /** '7bit' or '8bit' (8-bit text). */
  readonly encoding: '7bit' | '8bit';
  readonly from: string;
  readonly subject: string;
  /** null: this class has no postmaster copy (success, verify). */
  readonly postmasterSubject: string | null;
  readonly text: readonly string[];
}

export interface BounceTemplates {
  failure: BounceTemplate;
  delay: BounceTemplate;
  success: BounceTemplate;
  verify: BounceTemplate;
}

const BUILTIN = '[built-in]';
const DEFAULT_FROM = 'Mail Delivery System <MAILER-DAEMON>';
const SIGNATURE = '                   The mail system';
const GREETING = 'This is the mail system at host $myhostname.';
const HELP = [
  'For further assistance, please send mail to postmaster.',
  '',
  'If you do so, please include this problem report. You can',
  'delete your own text from the attached returned message.',
];

function builtin(cls: BounceTemplateClass, subject: string, postmasterSubject: string | null, text: string[]): BounceTemplate {
  return Object.freeze({ class: cls, origin: BUILTIN, charset: 'us-ascii', encoding: '7bit', from: DEFAULT_FROM, subject, postmasterSubject, text: Object.freeze(text) });
}

/** The built-in templates (Postfix 3.7 `postconf -t` output). */
export const BUILTIN_BOUNCE_TEMPLATES: Readonly<BounceTemplates> = Object.freeze({
  failure: builtin('failure', 'Undelivered Mail Returned to Sender', 'Postmaster Copy: Undelivered Mail', [
    GREETING,
    '',
    "I'm sorry to have to inform you that your message could not",
    "be delivered to one or more recipients. It's attached below.",
    '',
    ...HELP,
    '',
    SIGNATURE,
  ]),
  delay: builtin('delay', 'Delayed Mail (still being retried)', 'Postmaster Warning: Delayed Mail', [
    GREETING,
    '',
    '####################################################################',
    '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
    '####################################################################',
    '',
    'Your message could not be delivered for more than $delay_warning_time_hours hour(s).',
    'It will be retried until it is $maximal_queue_lifetime_days day(s) old.',
    '',
    ...HELP,
    '',
    SIGNATURE,
  ]),
  success: builtin('success', 'Successful Mail Delivery Report', null, [
    GREETING,
    '',
    'Your message was successfully delivered to the destination(s)',
    'listed below. If the message was delivered to mailbox you will',
    'receive no further notifications. Otherwise you may still receive',
    'notifications of mail delivery errors from other systems.',
    '',
    SIGNATURE,
  ]),
  verify: builtin('verify', 'Mail Delivery Status Report', null, [GREETING, '', 'Enclosed is the mail delivery report that you requested.', '', SIGNATURE]),
});

const CLASSES: readonly BounceTemplateClass[] = ['failure', 'delay', 'success', 'verify'];
/** Longest template file read. */
export const BOUNCE_TEMPLATE_FILE_MAX = 1024 * 1024;

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

/** Parses one template's text (pseudo headers, blank lines, message text); null when unusable (warned). */
export function parseBounceTemplate(proto: BounceTemplate, origin: string, buffer: string): BounceTemplate | null {
  const lines = buffer.split('\n');
  let i = 0;
  let charset = proto.charset;
  let from = proto.from;
  let subject = proto.subject;
  let postmasterSubject = proto.postmasterSubject;
  const reject = (why: string): null => {
    msgWarn(`${origin}: ${why} in ${proto.class} template -- ignoring this template`);
    return null;
  };
  for (; i < lines.length; i++) {
    const line = lines[i]!;
    const hlen = isHeader(line);
    if (hlen <= 0) break;
    const label = line.slice(0, hlen);
    const value = line.slice(hlen).replace(/^[:\s]+/, '');
    if (value === '') return reject(`empty "${label}" header value`);
    if (!isAscii(value)) return reject(`non-ASCII "${label}" header value`);
    const key = label.toLowerCase();
    if (key === 'charset') charset = value;
    else if (key === 'from') from = value;
    else if (key === 'subject') subject = value;
    else if (key === 'postmaster-subject') {
      if (proto.postmasterSubject === null) return reject(`inapplicable "${label}" header label`);
      postmasterSubject = value;
    } else return reject(`unknown "${label}" header label`);
  }
  while (i < lines.length && /^\s*$/.test(lines[i]!)) i++;
  if (i >= lines.length) {
    msgWarn(`${origin}: missing message text in ${proto.class} template -- ignoring this template`);
    return null;
  }
  const text = lines.slice(i);
  let encoding: '7bit' | '8bit' = proto.encoding;
  if (!text.every(isAscii)) {
    if (charset.toLowerCase() === 'us-ascii') {
      msgWarn(`${origin}: 8-bit message text in ${proto.class} template`);
      msgWarn('please specify a charset value other than us-ascii');
      msgWarn('-- ignoring this template for now');
      return null;
    }
    encoding = '8bit';
  }
  return Object.freeze({ class: proto.class, origin, charset, encoding, from, subject, postmasterSubject, text: Object.freeze(text) });
}

/** Loads a bounce_template_file over the built-in templates (Postfix bounce_templates_load). */
export function loadBounceTemplates(path: string, text?: string): BounceTemplates {
  const out: BounceTemplates = { ...BUILTIN_BOUNCE_TEMPLATES };
  let body: string;
  try {
    body = text ?? readFileSync(path, 'utf8');
  } catch (err) {
    return msgFatal(`open ${path}: ${(err as Error).message}`);
  }
  if (body.length > BOUNCE_TEMPLATE_FILE_MAX) msgFatal(`${path}: file too large (more than ${BOUNCE_TEMPLATE_FILE_MAX} bytes)`);
  const lines = body.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const lineno = i + 1;
    const line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    const m = /^\s*([^\s=]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) msgFatal(`${path}, line ${lineno}: missing '=' after attribute name: "${line}"`);
    const name = m[1]!;
    let value = m[2]!;
    if (value.startsWith('<<')) {
      const marker = value.slice(2).trim();
      if (marker === '') msgFatal(`${path}, line ${lineno}: missing end marker after <<`);
      if (!/^[A-Za-z0-9]/.test(marker)) msgFatal(`${path}, line ${lineno}: malformed end marker after <<`);
      const collected: string[] = [];
      let found = false;
      while (++i < lines.length) {
        if (lines[i] === marker) {
          found = true;
          break;
        }
        collected.push(lines[i]!);
      }
      if (!found) msgWarn(`${path}, line ${i + 1}: missing "${marker}" end marker`);
      value = collected.join('\n');
    }
    const cls = CLASSES.find((c) => name === `${c}_template`);
    if (!cls) {
      msgWarn(`${path}, line ${lineno}: unknown template name: ${name} -- ignoring this template`);
      continue;
    }
    out[cls] = parseBounceTemplate(BUILTIN_BOUNCE_TEMPLATES[cls], path, value) ?? BUILTIN_BOUNCE_TEMPLATES[cls];
  }
  return out;
}

/** The templates a daemon uses: bounce_template_file when set, else the built-in ones. */
export function bounceTemplatesFromConfig(config: MailConfig): BounceTemplates {
  const file = config.get('bounce_template_file').trim();
  return file === '' ? { ...BUILTIN_BOUNCE_TEMPLATES } : loadBounceTemplates(file);
}

const TIME_DIVISORS: ReadonlyArray<[string, number]> = [
  ['seconds', 1],
  ['minutes', 60],
  ['hours', 3600],
  ['days', 86400],
  ['weeks', 7 * 86400],
];
const TIME_PARAMETERS = ['delay_warning_time', 'maximal_queue_lifetime'] as const;
/** Characters kept in expanded values; others become '_' (Postfix's filter). */
const EXPAND_KEEP = /[\t !"#$%&'()*+,\-./0-9:;<=>?@A-Z[\\\]^_`a-z{|}~]/;

function lookupFor(tp: BounceTemplate, config: MailConfig): (name: string) => string | undefined {
  return (key: string) => {
    for (const p of TIME_PARAMETERS) {
      if (key.startsWith(p + '_')) {
        const suffix = key.slice(p.length + 1);
        const d = TIME_DIVISORS.find(([s]) => s === suffix);
        if (!d) return msgFatal(`${tp.origin}: unrecognized suffix "${suffix}" in parameter "${key}"`);
        const seconds = config.getTime(p);
        const result = Math.trunc(seconds / d[1]);
        if (result > 999 && d[1] < 86400) {
          msgWarn(`${tp.origin}: excessive result "${result}" in ${tp.class} template conversion of parameter "${key}"`);
          msgWarn(`please increase time unit "${suffix}" of "${key}" in ${tp.class} template`);
          msgWarn('for instructions see the bounce(5) manual');
        } else if (result === 0 && seconds !== 0 && d[1] > 1) {
          msgWarn(`${tp.origin}: zero result in ${tp.class} template conversion of parameter "${key}"`);
          msgWarn(`please reduce time unit "${suffix}" of "${key}" in ${tp.class} template`);
          msgWarn('for instructions see the bounce(5) manual');
        }
        return String(result);
      }
    }
    if (config.unexpanded(key) === undefined) return undefined;
    return [...config.get(key)].map((c) => (EXPAND_KEEP.test(c) ? c : '_')).join('');
  };
}

/** The template's message text with $name expanded (Postfix bounce_template_expand). */
export function expandBounceTemplate(tp: BounceTemplate, config: MailConfig): string[] {
  const lookup = lookupFor(tp, config);
  return tp.text.map((line) => {
    const r = expandMacros(line, (n) => lookup(n), { recurse: false });
    if (r.error) msgFatal(`${tp.origin}: bad $name syntax in ${tp.class} template: ${line}`);
    if (r.undefined) msgFatal(`${tp.origin}: undefined $name in ${tp.class} template: ${line}`);
    return r.value;
  });
}

/** `postconf -t` output for these templates. */
export function dumpBounceTemplates(ts: BounceTemplates): string {
  return CLASSES.map((c) => {
    const tp = ts[c];
    const head = [`Charset: ${tp.charset}`, `From: ${tp.from}`, `Subject: ${tp.subject}`];
    if (tp.postmasterSubject !== null) head.push(`Postmaster-Subject: ${tp.postmasterSubject}`);
    return `${c}_template = <<EOF\n${head.join('\n')}\n\n${tp.text.map((l) => l + '\n').join('')}EOF\n`;
  }).join('\n');
}

/** `postconf -b` output for these templates. */
export function expandBounceTemplates(ts: BounceTemplates, config: MailConfig): string {
  return CLASSES.map((c) => `expanded_${c}_text = <<EOF\n${expandBounceTemplate(ts[c], config).map((l) => l + '\n').join('')}EOF\n`).join('\n');
}
