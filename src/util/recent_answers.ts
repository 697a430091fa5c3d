/*
 * recent_answers - remember a bounded number of answers for a while
 *
 * What it does: RecentAnswers<V> maps a key to a value that is good for
 * ttlMs after set(); at most `size` keys are kept, and setting one more
 * forgets the one set longest ago. get() returns null for an unknown or
 * expired key. The clock is injectable (tests with virtual time).
 *
 * What it does not do: decide what may be remembered (callers keep
 * failures out), or refresh an entry on get().
 *
 * DIAGNOSTICS
 * None.
 */
export class RecentAnswers<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();

  constructor(
    readonly ttlMs: number,
    readonly size: number,
    readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | null {
    const e = this.#entries.get(key);
    if (!e) return null;
    if (this.now() >= e.expires) {
      this.#entries.delete(key);
      return null;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.size) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, expires: this.now() + this.ttlMs });
  }

  clear(): void {
    this.#entries.clear();
  }
}
