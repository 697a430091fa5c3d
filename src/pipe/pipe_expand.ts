/*
 * pipe_expand - expand $name macros in a pipe(8) command vector (Postfix pipe.c expand_argv, mac_parse)
 *
 * What it does: parseMacros() splits one argv= word into literal text and
 * macro references with Postfix's mac_parse() syntax ($name, ${name},
 * $(name), $$ for a dollar). expandPipeArgv() turns the argv= words into
 * the command's argument vector: a word that references a recipient
 * macro (recipient, original_recipient, user, extension, mailbox,
 * domain) becomes one argument per recipient; a recipient whose $user
 * is empty is skipped for that word; every other word becomes exactly
 * one argument. Values are inserted as data and never parsed again, so
 * an address such as "$(id)@x" or "-x@y" or "a b@c" arrives verbatim as
 * (part of) one argument. The h, q and u flags fold and quote addresses
 * as Postfix's morph_recipient() does (q quotes with quote_822_local;
 * u lowercases the local part, h the domain, nexthop and $domain).
 *
 * What it does not do: run anything or touch a shell (there is none).
 *
 * DIAGNOSTICS
 * An unknown macro name or a malformed macro gives a PipeExpandError
 * whose text is Postfix's warning ("file DIR/master.cf: service NAME:
 * unknown macro name: \"x\""); the caller logs it and defers with 4.3.5.
 */
import { quote822Local } from '../global/quote_822_local.js';
import { splitAddrIndex } from '../global/mail_addr_find.js';
import { PIPE_OPT } from './pipe_attr.js';

/** Macro names that take a per-recipient value (Postfix PIPE_FLAG_*). */
const RCPT_MACROS: ReadonlySet<string> = new Set(['recipient', 'original_recipient', 'user', 'extension', 'mailbox', 'domain']);
/** Macro names that take one value per request. */
const MSG_MACROS: ReadonlySet<string> = new Set([
  'nexthop', 'sender', 'size', 'queue_id',
  'client_address', 'client_hostname', 'client_port', 'client_protocol', 'client_helo',
  'sasl_method', 'sasl_username', 'sasl_sender',
]);

export type MacroPart = { kind: 'text'; text: string } | { kind: 'macro'; name: string };

export class PipeExpandError extends Error {}

/** Postfix mac_parse(): literal text and macro names. Throws PipeExpandError on syntax errors. */
export function parseMacros(word: string): MacroPart[] {
  const parts: MacroPart[] = [];
  let text = '';
  let i = 0;
  while (i < word.length) {
    const c = word[i]!;
    if (c !== '$') {
      text += c;
      i++;
      continue;
    }
    if (word[i + 1] === '$') {
      text += '$';
      i += 2;
      continue;
    }
    let name: string;
    const open = word[i + 1];
    if (open === '{' || open === '(') {
      const close = open === '{' ? '}' : ')';
      const end = word.indexOf(close, i + 2);
      if (end < 0) throw new PipeExpandError(`unmatched "${open}" in "${word}"`);
      name = word.slice(i + 2, end);
      i = end + 1;
    } else {
      let j = i + 1;
      while (j < word.length && /[A-Za-z0-9_]/.test(word[j]!)) j++;
      name = word.slice(i + 1, j);
      i = j;
    }
    if (name === '') throw new PipeExpandError(`empty macro name: "${word}"`);
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
    parts.push({ kind: 'macro', name });
  }
  if (text !== '') parts.push({ kind: 'text', text });
  return parts;
}

export interface ExpandRecipient {
  address: string;
  origAddress: string;
}

export interface ExpandInput {
  /** master.cf service name, for the warning text. */
  service: string;
  /** Where master.cf is, for the warning text. */
  configDir: string;
  flags: number;
  recipientDelimiter: string;
  recipients: readonly ExpandRecipient[];
  /** sender (null sender already replaced), nexthop, size, queue_id, client_*, sasl_*. */
  values: Readonly<Record<string, string>>;
}

/** Postfix fold_addr(): u lowercases the local part, h the domain (after the rightmost @). */
function foldAddr(addr: string, flags: number): string {
  const at = addr.lastIndexOf('@');
  let local = at < 0 ? addr : addr.slice(0, at);
  let domain = at < 0 ? '' : addr.slice(at);
  if (flags & PIPE_OPT.FOLD_USER) local = local.toLowerCase();
  if (flags & PIPE_OPT.FOLD_HOST) domain = domain.toLowerCase();
  return local + domain;
}

/** Postfix morph_recipient(). */
function morph(addr: string, flags: number): string {
  const quoted = flags & PIPE_OPT.QUOTE_LOCAL ? quote822Local(addr) : addr;
  return foldAddr(quoted, flags);
}

function localPart(addr: string): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? addr : addr.slice(0, at);
}

/** The per-recipient values for one recipient, or null when $user is referenced and empty. */
function recipientValues(r: ExpandRecipient, input: ExpandInput, used: ReadonlySet<string>): Record<string, string> | null {
  const flags = input.flags;
  const foldOnly = flags & (PIPE_OPT.FOLD_USER | PIPE_OPT.FOLD_HOST);
  const v: Record<string, string> = {};
  if (used.has('recipient')) v.recipient = morph(r.address, flags);
  if (used.has('original_recipient')) v.original_recipient = morph(r.origAddress, flags);
  const folded = foldAddr(r.address, foldOnly);
  const mailbox = localPart(folded);
  const splitAt = input.recipientDelimiter === '' ? -1 : splitAddrIndex(mailbox, input.recipientDelimiter);
  if (used.has('user')) {
    const user = splitAt < 0 ? mailbox : mailbox.slice(0, splitAt);
    if (user === '') return null;
    v.user = user;
  }
  if (used.has('extension')) v.extension = splitAt < 0 ? '' : mailbox.slice(splitAt + 1);
  if (used.has('mailbox')) v.mailbox = mailbox;
  if (used.has('domain')) {
    const at = folded.lastIndexOf('@');
    v.domain = at < 0 ? '' : folded.slice(at + 1);
  }
  return v;
}

function evalParts(parts: readonly MacroPart[], values: Readonly<Record<string, string>>): string {
  let out = '';
  for (const p of parts) out += p.kind === 'text' ? p.text : values[p.name] ?? '';
  return out;
}

/** The expanded argument vector. Throws PipeExpandError for an unknown or malformed macro. */
export function expandPipeArgv(command: readonly string[], input: ExpandInput): string[] {
  const result: string[] = [];
  for (const word of command) {
    let parts: MacroPart[];
    try {
      parts = parseMacros(word);
    } catch (e) {
      throw new PipeExpandError(`file ${input.configDir}/master.cf: service ${input.service}: ${(e as Error).message}`);
    }
    const used = new Set<string>();
    for (const p of parts) {
      if (p.kind !== 'macro') continue;
      if (!RCPT_MACROS.has(p.name) && !MSG_MACROS.has(p.name)) {
        throw new PipeExpandError(`file ${input.configDir}/master.cf: service ${input.service}: unknown macro name: "${p.name}"`);
      }
      if (RCPT_MACROS.has(p.name)) used.add(p.name);
    }
    if (used.size === 0) {
      result.push(evalParts(parts, input.values));
      continue;
    }
    for (const r of input.recipients) {
      const rv = recipientValues(r, input, used);
      if (rv === null) continue;
      result.push(evalParts(parts, { ...input.values, ...rv }));
    }
  }
  return result;
}

/** The per-request macro values (Postfix's dict_update calls in deliver_message). */
export function messageMacroValues(req: {
  sender: string; nexthop: string; dataSize: number; queueId: string;
  clientAddr: string; clientName: string; clientPort: string; clientProto: string; clientHelo: string;
  saslMethod: string; saslUsername: string; saslSender: string;
}, flags: number, nullSender: string): Record<string, string> {
  const sender = req.sender !== '' ? req.sender : nullSender;
  return {
    sender: sender !== '' && flags & PIPE_OPT.QUOTE_LOCAL ? quote822Local(sender) : sender,
    nexthop: flags & PIPE_OPT.FOLD_HOST ? req.nexthop.toLowerCase() : req.nexthop,
    size: String(req.dataSize),
    queue_id: req.queueId,
    client_address: req.clientAddr,
    client_hostname: req.clientName,
    client_port: req.clientPort,
    client_protocol: req.clientProto,
    client_helo: req.clientHelo,
    sasl_method: req.saslMethod,
    sasl_username: req.saslUsername,
    sasl_sender: req.saslSender,
  };
}
