// Rebuilds the lmdb package from its source in the LMDB 0.9 data format
// (LMDB_DATA_V1=true), the format Postfix's own lmdb tables use, so that
// tables built by Postfix's postmap and by Postern's open in both. The
// package's shipped binary writes LMDB 1.0's format, which Postfix cannot
// read (and whose reader crashes on a Postfix table). Runs as npm's
// postinstall; does nothing when the build is already there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'node_modules', 'lmdb', 'build', 'Release', 'lmdb.node');
if (!existsSync(join(root, 'node_modules', 'lmdb'))) process.exit(0);
if (existsSync(built)) process.exit(0);
console.log('build_lmdb: building lmdb with the LMDB 0.9 data format (LMDB_DATA_V1=true)');
const r = spawnSync('npm', ['rebuild', 'lmdb', '--build-from-source'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, LMDB_DATA_V1: 'true' },
});
if (r.status !== 0 || !existsSync(built)) {
  console.error('build_lmdb: the lmdb rebuild failed (needs python3, make and a C compiler)');
  process.exit(1);
}
