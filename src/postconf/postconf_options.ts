/*
 * postconf_options - postconf(1) command-line parsing and option checks
 *
 * What it does: parsePostconfArgs() turns argv into PostconfOptions the
 * way Postfix's postconf does: POSIX getopt order (options stop at the
 * first non-option or "--"), the implicit main.cf mode (-p), the implicit
 * -e when the first argument has a '=', and the two compatibility checks
 * (mutually exclusive modifiers, then per-mode allowed modifiers) with
 * Postfix's own wording ("specify one of -d -n", "with option -M, do not
 * specify -n").
 *
 * What it does not do: read any file, or run a mode. Modes Postern does not
 * implement (-a -A -b -C -l -m -t -T) are recognised so that the
 * compatibility checks and usage text stay identical, then rejected.
 *
 * DIAGNOSTICS
 * Usage errors are fatal (exit 1) with Postfix's text: getopt's
 * "invalid option -- 'Q'" / "option requires an argument -- 'o'" line,
 * then "fatal: usage: ...".
 */
import { splitNameval } from '../global/mail_conf.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { msgFatal, msgProgName } from '../util/msg.js';

export interface PostconfOptions {
  configDir: string;
  defaults: boolean /* -d */;
  nonDefault: boolean /* -n */;
  hideNames: boolean /* -h */;
  expand: boolean /* -x */;
  fold: boolean /* -f */;
  edit: boolean /* -e */;
  remove: boolean /* -X */;
  comment: boolean /* -# */;
  master: boolean /* -M */;
  masterFields: boolean /* -F */;
  masterParams: boolean /* -P */;
  overrides: Record<string, string> /* -o */;
  verbose: number;
  args: string[];
  /** -H: names only. */
  hideValues: boolean;
  /**
   * No "unused parameter" warnings after the output. Postfix 3.7's
   * postconf has no option for this (it rejects -q as an invalid option),
   * so parsePostconfArgs() always sets false; Postern code that runs the
   * postconf modes for its own use sets it.
   */
  quiet: boolean;
}

/** Mode and modifier bits, one per option letter (Postfix's PCF_* flags). */
const OPT = {
  a: 1 << 0,
  A: 1 << 1,
  b: 1 << 2,
  C: 1 << 3,
  d: 1 << 4,
  e: 1 << 5,
  f: 1 << 6,
  F: 1 << 7,
  h: 1 << 8,
  H: 1 << 9,
  l: 1 << 10,
  m: 1 << 11,
  M: 1 << 12,
  n: 1 << 13,
  o: 1 << 14,
  p: 1 << 15,
  P: 1 << 16,
  t: 1 << 17,
  T: 1 << 18,
  x: 1 << 19,
  X: 1 << 20,
  '#': 1 << 21,
} as const;

/** Letters in the order Postfix names them in diagnostics. */
const OPT_ORDER = ['a', 'A', 'b', 'C', 'd', 'e', 'f', 'F', 'h', 'H', 'l', 'm', 'M', 'n', 'o', 'p', 'P', 't', 'T', 'x', 'X', '#'] as const;

/** Every option letter postconf 3.7 accepts, for getopt; c, C, o and T take an argument. */
const POSTCONF_OPTSTRING = 'aAbc:C:deEfFhHlmMno:pPtT:vxX#';

const MAJOR_MODES = OPT.a | OPT.A | OPT.b | OPT.l | OPT.m | OPT.t | OPT.p | OPT.M | OPT.F | OPT.P | OPT.T;
const EDITS = OPT.e | OPT['#'] | OPT.X;

/** Groups of which at most one may be given (the first is the major modes). */
const INCOMPATIBLE: readonly number[] = [
  MAJOR_MODES,
  OPT.d | OPT.e | OPT.n | OPT['#'] | OPT.X,
  OPT.f | EDITS,
  OPT.x | EDITS,
  OPT.o | OPT.d | EDITS,
  OPT.h | EDITS | OPT.H,
];

/** Each mode, and the only modifiers it may be combined with. */
const COMPATIBLE: ReadonlyArray<readonly [number, number]> = [
  [OPT.a, 0],
  [OPT.A, 0],
  [OPT.b, 0],
  [OPT.l, 0],
  [OPT.m, 0],
  [OPT.T, 0],
  [OPT.t, 0],
  [OPT.p, EDITS | OPT.f | OPT.h | OPT.C | OPT.x | OPT.d | OPT.n | OPT.o | OPT.H],
  [OPT.M, EDITS | OPT.f | OPT.o | OPT.x],
  [OPT.F, OPT.e | OPT.f | OPT.h | OPT.o | OPT.x | OPT.H],
  [OPT.P, OPT.e | OPT.X | OPT.f | OPT.h | OPT.o | OPT.x | OPT.H],
  [OPT.C, OPT.p | OPT.d | OPT.n],
];

/** Modes that Postern recognises but does not implement. */
const UNSUPPORTED = OPT.a | OPT.A | OPT.b | OPT.C | OPT.l | OPT.m | OPT.t | OPT.T;

/** The default configuration directory when neither -c nor MAIL_CONFIG is given. */
export const DEFAULT_CONFIG_DIRECTORY = '/etc/postfix';

function maskNames(mask: number): string {
  return OPT_ORDER.filter((c) => (mask & OPT[c]) !== 0)
    .map((c) => `-${c}`)
    .join(' ');
}

function bitCount(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}

export function postconfUsage(): never {
  const prog = msgProgName();
  return msgFatal(
    `usage: ${prog}` +
      ' [-a (server SASL types)] [-A (client SASL types)] [-b (bounce templates)]' +
      ' [-c config_dir] [-c param_class] [-d (parameter defaults)] [-e (edit configuration)]' +
      ' [-f (fold lines)] [-F (master.cf fields)] [-h (no names)] [-H (no values)]' +
      ' [-l (lock types)] [-m (map types)] [-M (master.cf)] [-n (non-default parameters)]' +
      ' [-o name=value (override parameter value)] [-p (main.cf, default)]' +
      ' [-P (master.cf parameters)] [-t (bounce templates)]' +
      ' [-T compile-version|run-version|public-key-algorithms] [-v (verbose)]' +
      ' [-x (expand parameter values)] [-X (exclude)] [-# (comment-out)] [name...]',
  );
}

/** Applies Postfix's two option-compatibility checks; fatal on a conflict. */
export function checkPostconfModes(mode: number): void {
  for (const group of INCOMPATIBLE) {
    const given = group & mode;
    if (bitCount(given) > 1) msgFatal(`specify one of ${maskNames(given)}`);
  }
  for (const [opt, allowed] of COMPATIBLE) {
    if ((mode & opt) === 0) continue;
    const excess = mode & ~(opt | allowed);
    if (excess !== 0) msgFatal(`with option ${maskNames(opt)}, do not specify ${maskNames(excess)}`);
  }
}

/** Parses postconf's argv (without node and script names). Fatal on usage errors. */
export function parsePostconfArgs(argv: string[]): PostconfOptions {
  let mode = 0;
  let verbose = 0;
  let configDir: string | undefined;
  const overrides: Record<string, string> = {};
  const first = getopt(
    argv,
    POSTCONF_OPTSTRING,
    (c, optarg) => {
      switch (c) {
        case 'c':
          configDir = optarg;
          break;
        case 'o': {
          mode |= OPT.o;
          const text = optarg as string;
          const nv = splitNameval(text);
          if ('error' in nv) msgFatal(`invalid parameter override: ${text}: ${nv.error}`);
          overrides[nv.name] = nv.value;
          break;
        }
        case 'v':
          verbose++;
          break;
        case 'E':
          break;
        default:
          mode |= OPT[c as keyof typeof OPT];
      }
    },
    (kind, c) => {
      process.stderr.write(`${msgProgName()}: ${getoptMessage(kind, c)}\n`);
      postconfUsage();
    },
  );
  const args = argv.slice(first);
  if ((mode & MAJOR_MODES) === 0) mode |= OPT.p;
  if ((mode & (OPT.p | OPT.M | OPT.F | OPT.P)) !== 0 && args.length > 0 && args[0].includes('=')) mode |= OPT.e;
  checkPostconfModes(mode);
  if ((mode & OPT.e) !== 0 && args.length === 0) msgFatal('-e requires name=value argument');
  const unsupported = mode & UNSUPPORTED;
  if (unsupported !== 0) msgFatal(`option ${maskNames(unsupported)} is not implemented in Postern`);
  return {
    configDir: configDir ?? process.env.MAIL_CONFIG ?? DEFAULT_CONFIG_DIRECTORY,
    defaults: (mode & OPT.d) !== 0,
    nonDefault: (mode & OPT.n) !== 0,
    hideNames: (mode & OPT.h) !== 0,
    expand: (mode & OPT.x) !== 0,
    fold: (mode & OPT.f) !== 0,
    edit: (mode & OPT.e) !== 0,
    remove: (mode & OPT.X) !== 0,
    comment: (mode & OPT['#']) !== 0,
    master: (mode & OPT.M) !== 0,
    masterFields: (mode & OPT.F) !== 0,
    masterParams: (mode & OPT.P) !== 0,
    overrides,
    verbose,
    args,
    hideValues: (mode & OPT.H) !== 0,
    quiet: false,
  };
}
