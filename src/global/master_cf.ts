/*
 * master_cf - read and check master.cf, the table of Postfix services
 *
 * (stub: being filled in by engineer B)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type MasterServiceType = 'inet' | 'unix' | 'unix-dgram' | 'fifo' | 'pass';

export interface MasterEntry {
  service: string;
  type: MasterServiceType;
  private: string;
  unpriv: string;
  chroot: string;
  wakeup: string;
  maxproc: string;
  command: string;
  args: string[];
  overrides: Array<{ name: string; value: string }>;
  file: string;
  line: number;
  disabled?: boolean;
}

export class MasterCfError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(message);
    this.name = 'MasterCfError';
  }
}

export interface ResolvedMasterEntry {
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  wakeupSeconds: number;
  wakeupOnlyWhenUsed: boolean;
  maxproc: number;
}

export function parseMasterCf(_text: string, _file: string): MasterEntry[] {
  return [];
}

export function readMasterCf(configDir: string): MasterEntry[] {
  const file = join(configDir, 'master.cf');
  return parseMasterCf(readFileSync(file, 'utf8'), file);
}

export function resolveMasterEntry(e: MasterEntry, defaults: { processLimit: number }): ResolvedMasterEntry {
  return {
    private: e.private !== 'n',
    unpriv: e.unpriv !== 'n',
    chroot: e.chroot === 'y',
    wakeupSeconds: e.wakeup === '-' ? 0 : parseInt(e.wakeup, 10),
    wakeupOnlyWhenUsed: e.wakeup.endsWith('?'),
    maxproc: e.maxproc === '-' ? defaults.processLimit : parseInt(e.maxproc, 10),
  };
}
