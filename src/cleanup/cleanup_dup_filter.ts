/*
 * cleanup_dup_filter - the recipient duplicate filter of one message (Postfix been_here)
 *
 * What it does: DupFilter remembers the keys it has been shown and says
 * whether a key was seen before, as Postfix's been_here_fixed() with
 * BH_FLAG_FOLD: keys are compared case-insensitively (ASCII letters
 * only, as Postfix's lowercase()), and once the filter holds `limit`
 * keys it stops remembering new ones, so later duplicates get through
 * (duplicate_filter_limit; 0 or less means no limit). recipientKey()
 * builds the key cleanup_out_recipient uses: DSN original recipient,
 * DSN notify bits, original recipient and recipient, newline-separated
 * (only the recipient when enable_original_recipient is off).
 * cleanup(8) makes one DupFilter per message; cleanup_map1n uses a
 * private one to remember addresses that expanded into themselves.
 *
 * What it does not do: write records or decide which records are
 * duplicates beyond the key (cleanup_addr.ts does).
 *
 * DIAGNOSTICS
 * None.
 */

/** Postfix's lowercase(): ASCII letters only, other bytes unchanged. */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** The key under which cleanup_out_recipient filters duplicates. */
export function recipientKey(enableOrcpt: boolean, dsnOrcpt: string, dsnNotify: number, orcpt: string, recipient: string): string {
  return enableOrcpt ? `${dsnOrcpt}\n${dsnNotify}\n${orcpt}\n${recipient}` : recipient;
}

export class DupFilter {
  readonly #seen = new Set<string>();

  /** `limit` is duplicate_filter_limit: how many keys are remembered; <= 0 means all. */
  constructor(readonly limit: number) {}

  /** How many keys are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /** True when the key was seen before; otherwise remember it (room permitting) and return false. */
  seen(key: string): boolean {
    const k = asciiLower(key);
    if (this.#seen.has(k)) return true;
    if (this.limit <= 0 || this.limit > this.#seen.size) this.#seen.add(k);
    return false;
  }

  /** True when the key was seen before; never remembers it (been_here_check_fixed). */
  check(key: string): boolean {
    return this.#seen.has(asciiLower(key));
  }
}
