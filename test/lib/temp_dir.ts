/*
 * temp_dir - per-test temporary directories and bounded waits
 *
 * What it does: tempDir(t, prefix) makes a fresh directory under
 * os.tmpdir() and registers its removal with the test's after() hook
 * (an optional cleanup runs first); waitUntil(cond, ms) polls a condition
 * every WAIT_POLL_MS until it holds or ms have passed.
 *
 * What it does not do: fail a test: waitUntil only returns whether the
 * condition came true, and the caller's assertion says what was missing.
 *
 * DIAGNOSTICS
 * None.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** How often waitUntil() looks. */
export const WAIT_POLL_MS = 5;
/** waitUntil()'s bound when the caller gives none. */
export const WAIT_DEFAULT_MS = 5000;

/** A fresh temporary directory, removed (after `cleanup`, if given) when the test ends. */
export function tempDir(t: { after(fn: () => void): void }, prefix: string, cleanup?: () => void): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Polls cond until it holds or ms pass; returns its last answer. */
export async function waitUntil(cond: () => boolean, ms = WAIT_DEFAULT_MS): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
  return true;
}
