/*
 * getopt - POSIX getopt(3) option scanning, as Postfix commands see it
 *
 * What it does: getopt() walks argv with an optstring such as "bc:dv"
 * the way glibc getopt does in POSIX ("+") mode: options cluster ("-ov"),
 * an option's argument is the rest of the word ("-c/dir") or the next word
 * ("-c /dir"), scanning stops at the first word that is not an option
 * ("-" alone is not one) or after "--". Each option is handed to
 * onOption in order; it returns the index of the first operand.
 *
 * What it does not do: print anything or exit. An unknown letter or a
 * missing argument goes to onError, which reports it in the caller's
 * words (Postfix commands print getopt's "invalid option -- 'x'" or
 * "option requires an argument -- 'x'" and then a fatal usage line); if
 * onError returns, scanning goes on with the next letter.
 *
 * DIAGNOSTICS
 * None of its own.
 */

export type GetoptError = 'invalid' | 'missing-argument';

/** Scans argv; returns the index of the first operand. */
export function getopt(
  argv: readonly string[],
  optstring: string,
  onOption: (ch: string, optarg: string | undefined) => void,
  onError: (kind: GetoptError, ch: string) => void,
): number {
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return i + 1;
    if (arg.length < 2 || arg[0] !== '-') break;
    for (let j = 1; j < arg.length; j++) {
      const ch = arg[j]!;
      const at = optstring.indexOf(ch);
      if (at < 0 || ch === ':' || ch === '+') {
        onError('invalid', ch);
        continue;
      }
      if (optstring[at + 1] !== ':') {
        onOption(ch, undefined);
        continue;
      }
      let optarg: string | undefined;
      if (j + 1 < arg.length) optarg = arg.slice(j + 1);
      else if (i + 1 < argv.length) optarg = argv[++i];
      if (optarg === undefined) onError('missing-argument', ch);
      else onOption(ch, optarg);
      break;
    }
  }
  return i;
}

/** getopt's own words for an error, without the program name. */
export function getoptMessage(kind: GetoptError, ch: string): string {
  return kind === 'invalid' ? `invalid option -- '${ch}'` : `option requires an argument -- '${ch}'`;
}
