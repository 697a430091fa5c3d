/*
 * pipe_attr - the master.cf command attributes of a pipe(8) service (Postfix pipe.c get_service_attr)
 *
 * What it does: parsePipeAttr() reads the arguments after the command
 * name in master.cf (flags=BDFORXhqu.>, user=name[:group], size=,
 * eol=, directory=, null_sender=, argv=... which must come last) into a
 * PipeAttr: the mail_copy() flags plus pipe's own option bits, the
 * uid/gid the command runs with, the output record delimiter (C escapes
 * \a \b \f \n \r \t \v \ddd \\ as Postfix's unescape()), the null sender
 * replacement (default MAILER-DAEMON) and the size limit. It refuses,
 * as Postfix does, a missing user= or argv=, root, group 0, and the
 * mail system owner's uid/gid or the setgid_group's gid.
 * pipeTimeLimit() is Postfix's get_mail_conf_time2(service, _time_limit,
 * command_time_limit).
 *
 * What it does not do: expand macros in argv (pipe_expand.ts), run the
 * command (pipe_command.ts), or chroot (Node cannot: chroot= is refused).
 *
 * DIAGNOSTICS
 * Throws PipeAttrError with Postfix's fatal texts ("missing user=
 * command-line attribute", "user= command-line attribute specifies root
 * privileges", "unknown attribute name: X", ...); the daemon turns it
 * into msg_fatal, as Postfix.
 */
import { getgrnam, getpwnam } from '../util/pwd_lookup.js';
import { MAIL_COPY } from '../global/mail_copy.js';
import type { MailConfig } from '../global/mail_conf.js';

/** Pipe's own option bits, above the mail_copy() flags (Postfix PIPE_OPT_*). */
export const PIPE_OPT = {
  FOLD_USER: 1 << 16,
  FOLD_HOST: 1 << 17,
  QUOTE_LOCAL: 1 << 18,
  FINAL_DELIVERY: 1 << 19,
} as const;
export const PIPE_OPT_FOLD_ALL = PIPE_OPT.FOLD_USER | PIPE_OPT.FOLD_HOST;

/** Postfix MAIL_ADDR_MAIL_DAEMON. */
export const MAIL_ADDR_MAIL_DAEMON = 'MAILER-DAEMON';

/** The flags= letters and their bits. */
const FLAG_LETTERS: Readonly<Record<string, number>> = {
  B: MAIL_COPY.BLANK,
  D: MAIL_COPY.DELIVERED,
  F: MAIL_COPY.FROM,
  O: MAIL_COPY.ORIG_RCPT,
  R: MAIL_COPY.RETURN_PATH,
  X: PIPE_OPT.FINAL_DELIVERY,
  '.': MAIL_COPY.DOT,
  '>': MAIL_COPY.QUOTE,
  h: PIPE_OPT.FOLD_HOST,
  q: PIPE_OPT.QUOTE_LOCAL,
  u: PIPE_OPT.FOLD_USER,
};

export interface PipeAttr {
  /** argv= and everything after it, "argv=" removed from the first word. */
  command: string[];
  uid: number;
  gid: number;
  /** MAIL_COPY flags | PIPE_OPT bits. */
  flags: number;
  /** directory=, or null for $queue_directory. */
  execDir: string | null;
  eol: string;
  nullSender: string;
  /** Bytes; 0 = no limit. */
  sizeLimit: number;
}

export class PipeAttrError extends Error {}

export interface PipeAttrOptions {
  /** mail_owner's uid/gid and setgid_group's gid (refused as user=). */
  ownerUid: number | null;
  ownerGid: number | null;
  ownerName: string;
  sgidGid: number | null;
  sgidGroup: string;
  /** For tests: passwd/group lookups. */
  getpwnam?: typeof getpwnam;
  getgrnam?: typeof getgrnam;
}

/** The privilege checks' inputs from main.cf (mail_owner, setgid_group). */
export function pipeAttrOptionsFromConfig(config: MailConfig): PipeAttrOptions {
  const ownerName = config.get('mail_owner');
  const sgidGroup = config.get('setgid_group');
  const pw = getpwnam(ownerName);
  const gr = getgrnam(sgidGroup);
  return { ownerUid: pw?.uid ?? null, ownerGid: pw?.gid ?? null, ownerName, sgidGid: gr?.gid ?? null, sgidGroup };
}

/** Postfix unescape(): C-style backslash escapes. */
export function unescape(text: string): string {
  const simple: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\' || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const n = text[++i]!;
    if (simple[n] !== undefined) {
      out += simple[n];
    } else if (n >= '0' && n <= '7') {
      let v = 0;
      let k = 0;
      while (k < 3 && i < text.length && text[i]! >= '0' && text[i]! <= '7') {
        v = v * 8 + (text.charCodeAt(i) - 48);
        i++;
        k++;
      }
      i--;
      out += String.fromCharCode(v & 0xff);
    } else {
      out += '\\' + n;
    }
  }
  return out;
}

function startsWithCi(word: string, prefix: string): boolean {
  return word.slice(0, prefix.length).toLowerCase() === prefix;
}

/** Postfix off_cvt_string(): decimal digits only. */
function sizeValue(text: string): number {
  return /^\d{1,15}$/.test(text) ? Number(text) : -1;
}

export function parsePipeAttr(args: readonly string[], opts: PipeAttrOptions): PipeAttr {
  const pwnam = opts.getpwnam ?? getpwnam;
  const grnam = opts.getgrnam ?? getgrnam;
  const myname = 'get_service_attr';
  let user: string | null = null;
  let uid = -1;
  let gid = -1;
  let command: string[] | null = null;
  const attr = { flags: 0, execDir: null as string | null, eol: '\n', nullSender: MAIL_ADDR_MAIL_DAEMON, sizeLimit: 0 };

  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (startsWithCi(word, 'flags=')) {
      for (const ch of word.slice('flags='.length)) {
        const bit = FLAG_LETTERS[ch];
        if (bit === undefined) throw new PipeAttrError(`unknown flag: ${ch} (ignored)`);
        attr.flags |= bit;
      }
    } else if (startsWithCi(word, 'user=')) {
      const value = word.slice('user='.length);
      const colon = value.indexOf(':');
      user = colon < 0 ? value : value.slice(0, colon);
      const group = colon < 0 || colon === value.length - 1 ? null : value.slice(colon + 1);
      const pw = pwnam(user);
      if (!pw) throw new PipeAttrError(`${myname}: unknown username: ${user}`);
      uid = pw.uid;
      if (group !== null) {
        const gr = grnam(group);
        if (!gr) throw new PipeAttrError(`${myname}: unknown group: ${group}`);
        gid = gr.gid;
      } else {
        gid = pw.gid;
      }
    } else if (startsWithCi(word, 'directory=')) {
      attr.execDir = word.slice('directory='.length);
    } else if (startsWithCi(word, 'chroot=')) {
      throw new PipeAttrError(`chroot= command-line attribute is not supported (Node.js cannot chroot): ${word}`);
    } else if (startsWithCi(word, 'eol=')) {
      attr.eol = unescape(word.slice('eol='.length));
    } else if (startsWithCi(word, 'null_sender=')) {
      attr.nullSender = word.slice('null_sender='.length);
    } else if (startsWithCi(word, 'size=')) {
      const size = word.slice('size='.length);
      attr.sizeLimit = sizeValue(size);
      if (attr.sizeLimit < 0) throw new PipeAttrError(`${myname}: bad size= value: ${size}`);
    } else if (startsWithCi(word, 'argv=')) {
      command = [word.slice('argv='.length), ...args.slice(i + 1)];
      break;
    } else {
      throw new PipeAttrError(`unknown attribute name: ${word}`);
    }
  }

  if (user === null) throw new PipeAttrError('missing user= command-line attribute');
  if (command === null) throw new PipeAttrError('missing argv= command-line attribute');
  if (uid === 0) throw new PipeAttrError('user= command-line attribute specifies root privileges');
  if (opts.ownerUid !== null && uid === opts.ownerUid) {
    throw new PipeAttrError(`user= command-line attribute specifies mail system owner ${opts.ownerName}`);
  }
  if (gid === 0) throw new PipeAttrError('user= command-line attribute specifies privileged group id 0');
  if (opts.ownerGid !== null && gid === opts.ownerGid) {
    throw new PipeAttrError(`user= command-line attribute specifies mail system owner ${opts.ownerName} group id ${gid}`);
  }
  if (opts.sgidGid !== null && gid === opts.sgidGid) {
    throw new PipeAttrError(`user= command-line attribute specifies mail system ${opts.sgidGroup} group id ${gid}`);
  }
  return { command, uid, gid, ...attr };
}

/** Seconds: <service>_time_limit when set, else command_time_limit (Postfix get_mail_conf_time2). */
export function pipeTimeLimit(config: MailConfig, service: string): number {
  const name = `${service}_time_limit`;
  if (config.isSet(name)) {
    const v = config.get(name).trim();
    const m = /^(\d+)([smhdw]?)$/.exec(v);
    const units: Readonly<Record<string, number>> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    if (!m || Number(m[1]) < 1) throw new PipeAttrError(`parameter ${name}: bad time value or unit: ${v}`);
    return Number(m[1]) * units[m[2]!]!;
  }
  return config.getTime('command_time_limit');
}
