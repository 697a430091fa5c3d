/*
 * smtp_session_cache - idle SMTP/LMTP connections kept for the next delivery (Postfix scache(8) and smtp_reuse.c)
 *
 * What it does: SessionCache holds connections that finished a mail
 * transaction and may carry the next one, the way Postfix's smtp(8)
 * passes them to scache(8). One smtp(8)/lmtp(8) process of Postern
 * serves every concurrent delivery of its service, so the cache lives in
 * that process and needs no descriptor passing. Two kinds of entries, as
 * in scache: an endpoint entry (server address and port, or a UNIX
 * socket path) holds idle sessions, most recently saved first; a
 * destination entry (the next-hop as the delivery request named it)
 * points at the endpoint of the first good session for that next-hop, so
 * a later request reaches it without looking at the servers it skipped.
 * Every entry lives for smtp_connection_cache_time_limit; an idle
 * session whose server closes the connection or sends anything (a 421
 * before disconnecting) is dropped at once.
 *
 * What it does not do: decide which sessions may be cached or when a
 * session has been used too long (smtp_connect.ts), or speak SMTP. A
 * session found here is taken out; the caller saves it again after use.
 *
 * DIAGNOSTICS
 * None: a session that cannot be used is closed and forgotten.
 */
import type { SmtpChat } from './smtp_chat.js';

/** Most idle sessions one process keeps; more are closed instead of cached. */
export const SESSION_CACHE_MAX_IDLE = 1000;

/** What the cache needs of a session: its connection (the rest travels along for the next use). */
export interface CachedSession {
  chat: SmtpChat;
}

interface IdleEntry<T extends CachedSession> {
  session: T;
  timer: NodeJS.Timeout;
}

export class SessionCache<T extends CachedSession = CachedSession> {
  readonly #endp = new Map<string, Array<IdleEntry<T>>>();
  readonly #dest = new Map<string, { endp: string; timer: NodeJS.Timeout }>();
  #idle = 0;

  /** Number of idle sessions held. */
  get size(): number {
    return this.#idle;
  }

  /** Keeps `session` idle under endpoint `endp` for ttlMs; false when it cannot be kept (the caller closes it). */
  saveEndp(endp: string, session: T, ttlMs: number): boolean {
    if (ttlMs <= 0 || this.#idle >= SESSION_CACHE_MAX_IDLE || session.chat.broken || session.chat.hasUnreadInput) return false;
    const entry: IdleEntry<T> = { session, timer: setTimeout(() => this.#drop(endp, entry), ttlMs) };
    entry.timer.unref();
    session.chat.whileIdle(() => this.#drop(endp, entry));
    const list = this.#endp.get(endp) ?? [];
    list.unshift(entry);
    this.#endp.set(endp, list);
    this.#idle++;
    return true;
  }

  /** Binds next-hop label `dest` to endpoint `endp` for ttlMs (Postfix scache_save_dest). */
  saveDest(dest: string, endp: string, ttlMs: number): void {
    if (ttlMs <= 0) return;
    const old = this.#dest.get(dest);
    if (old) clearTimeout(old.timer);
    const timer = setTimeout(() => this.#dest.delete(dest), ttlMs);
    timer.unref();
    this.#dest.set(dest, { endp, timer });
  }

  /** Takes an idle session for endpoint `endp`, or null. */
  findEndp(endp: string): T | null {
    const list = this.#endp.get(endp);
    for (let e = list?.shift(); e; e = list?.shift()) {
      this.#forget(e);
      if (list?.length === 0) this.#endp.delete(endp);
      if (!e.session.chat.broken) return e.session;
      e.session.chat.close();
    }
    return null;
  }

  /** Takes an idle session for next-hop label `dest` (through its endpoint binding), or null. */
  findDest(dest: string): { endp: string; session: T } | null {
    const d = this.#dest.get(dest);
    if (!d) return null;
    const session = this.findEndp(d.endp);
    return session ? { endp: d.endp, session } : null;
  }

  /** Closes every idle session (process exit, tests). */
  closeAll(): void {
    for (const [endp, list] of this.#endp) for (const e of [...list]) this.#drop(endp, e);
    for (const d of this.#dest.values()) clearTimeout(d.timer);
    this.#dest.clear();
  }

  #forget(e: IdleEntry<T>): void {
    clearTimeout(e.timer);
    e.session.chat.whileIdle(null);
    this.#idle--;
  }

  /** Closes an idle session that expired or whose server spoke or hung up. */
  #drop(endp: string, e: IdleEntry<T>): void {
    const list = this.#endp.get(endp);
    const i = list ? list.indexOf(e) : -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.#endp.delete(endp);
    this.#forget(e);
    e.session.chat.close();
  }
}
