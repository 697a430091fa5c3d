/*
 * local_expand - $name expansion for local(8) parameters (Postfix local_expand.c)
 *
 * What it does: localExpand() expands forward_path, luser_relay and
 * command_execution_directory with the recipient attributes $user,
 * $home, $shell, $recipient, $extension, $domain, $local, $mailbox and
 * $recipient_delimiter, including the ${name?value} / ${name:value}
 * forms. Characters of looked-up values that are not in `filter` are
 * replaced with "_" (forward_expansion_filter and friends). It reports
 * whether $extension was used with a value (Postfix
 * LOCAL_EXP_EXTENSION_MATCHED) and whether an undefined name was used.
 *
 * What it does not do: expand main.cf $parameters (values come from the
 * recipient only, as Postfix's local_expand).
 *
 * DIAGNOSTICS
 * A syntax error sets error (callers log Postfix's warning and defer).
 */
import { expandMacros } from '../global/mail_conf_expand.js';
import type { LocalState, UserAttr } from './local_state.js';

export interface LocalExpandResult {
  value: string;
  error: boolean;
  undefined: boolean;
  extensionMatched: boolean;
}

/** Replaces every character not in `filter` with "_" (no filter: unchanged). */
export function censor(value: string, filter: string | null): string {
  if (filter === null) return value;
  let out = '';
  for (const ch of value) out += filter.includes(ch) ? ch : '_';
  return out;
}

export function localExpand(template: string, state: LocalState, usr: UserAttr, recipientDelimiter: string, filter: string | null): LocalExpandResult {
  const m = state.msg;
  let extensionMatched = false;
  const attrs: Record<string, string | null> = {
    user: m.user,
    home: usr.home,
    shell: usr.shell,
    recipient: m.rcpt.address,
    extension: m.extension,
    domain: m.domain,
    local: m.local,
    mailbox: m.local,
    recipient_delimiter: recipientDelimiter === '' ? null : recipientDelimiter,
  };
  const r = expandMacros(template, (name, mode) => {
    const v = Object.prototype.hasOwnProperty.call(attrs, name) ? attrs[name] : null;
    if (v === null || v === undefined || v === '') return undefined;
    if (name === 'extension' && mode === 'use') extensionMatched = true;
    return censor(v, filter);
  });
  return { value: r.value, error: r.error, undefined: r.undefined, extensionMatched };
}
