/*
 * check_layering - enforce the import rules DESIGN.md draws
 *
 * What it does: reads every .ts file under src/ and checks each relative
 * import against the layering: src/util imports nothing above it,
 * src/global imports only util and global, and a program folder
 * (src/smtpd, src/postconf, ...) imports only util, global, itself and
 * the server skeletons in src/master (mail_server.ts and the master_proto.ts
 * it speaks), which every daemon runs in as Postfix daemons link libmaster.
 * One program may borrow another whole: lmtp(8) is smtp(8) under another
 * name (Postfix installs one binary twice), so src/lmtp may import src/smtp;
 * smtpd(8) runs the cleanup(8) service in its own process (DESIGN.md:
 * co-located services), so src/smtpd may import src/cleanup.
 * Prints one line per violation ("file: imports target") and exits 1 when
 * there is any; run as `node dist/tools/check_layering.js [root]`.
 *
 * What it does not do: follow bare package imports (node:*, npm packages)
 * or look at test/, tools/ and bench/, which may import anything.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { isMainModule, runMain } from '../src/util/main_module.js';

export interface LayerViolation {
  file: string;
  target: string;
}

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listTs(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The top folder under src/ that a path belongs to ("util", "global", "smtpd"). */
function layerOf(srcDir: string, path: string): string | null {
  const rel = relative(srcDir, path);
  if (rel.startsWith('..')) return null;
  return rel.split(sep)[0] ?? null;
}

/** The files of src/master that daemons may import: the worker skeletons. */
const MASTER_SKELETONS = new Set(['mail_server.ts', 'master_proto.ts']);

/** Programs that run another program's code: a second name (Postfix hard links) or a co-located service. */
const PROGRAM_BORROWS: ReadonlyMap<string, readonly string[]> = new Map([
  ['lmtp', ['smtp']],
  ['smtpd', ['cleanup']],
]);

function allowed(from: string, to: string | null, target: string): boolean {
  if (to === null) return false;
  if (from === 'util') return to === 'util';
  if (from === 'global') return to === 'util' || to === 'global';
  if (to === 'master' && MASTER_SKELETONS.has(basename(target).replace(/\.js$/, '.ts'))) return true;
  return to === 'util' || to === 'global' || to === from || (PROGRAM_BORROWS.get(from) ?? []).includes(to);
}

export function checkLayering(root: string): LayerViolation[] {
  const srcDir = resolve(root, 'src');
  const violations: LayerViolation[] = [];
  for (const file of listTs(srcDir)) {
    const from = layerOf(srcDir, file);
    if (from === null) continue;
    // Tests beside the code may reach test/lib helpers; that is not a layer edge.
    const isTest = file.endsWith('_test.ts');
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (!spec || !spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      const to = layerOf(srcDir, target);
      if (isTest && to === null && relative(root, target).startsWith(`test${sep}`)) continue;
      if (!allowed(from, to, target)) violations.push({ file: relative(root, file), target: spec });
    }
  }
  return violations;
}

export async function main(argv: string[]): Promise<number> {
  const root = resolve(argv[0] ?? '.');
  const violations = checkLayering(root);
  for (const v of violations) process.stdout.write(`${v.file}: imports ${v.target}\n`);
  return violations.length > 0 ? 1 : 0;
}

if (isMainModule(import.meta.url)) runMain(main);
