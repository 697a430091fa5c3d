/*
 * dict_test_lib - helpers for the dict unit tests
 *
 * What it does: captureWarnings() collects what msg* logs while a
 * function runs; tableFile() writes a table source into a temporary
 * directory removed after the test.
 *
 * What it does not do: run anything real.
 *
 * DIAGNOSTICS
 * None.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msgSetSinks } from '../util/msg.js';

/** Run fn with msg output captured; returns fn's result and the lines ("warning: ..."). */
export async function captureWarnings<T>(fn: () => T | Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  msgSetSinks([{ write: (severity, text) => lines.push(`${severity}: ${text}`) }]);
  try {
    return { result: await fn(), lines };
  } finally {
    msgSetSinks([]);
  }
}

/** Write a table file (latin1 bytes) in a fresh temporary directory removed after the test. */
export function tableFile(t: { after(fn: () => void): void }, name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-dict-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, name);
  writeFileSync(file, Buffer.from(content, 'latin1'));
  return file;
}
