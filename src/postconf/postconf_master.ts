/*
 * postconf_master - postconf's master.cf modes (-M, -F, -P and their edits)
 *
 * (stub: being filled in by engineer B)
 */
import type { PostconfOptions } from './postconf_options.js';

export function runMasterModes(_opts: PostconfOptions, _out: (s: string) => void): number {
  return 0;
}
