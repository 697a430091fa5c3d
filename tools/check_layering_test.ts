/*
 * check_layering_test - the tree obeys the layering, and the checker
 * really catches a violation (so this test can fail).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../test/lib/paths.js';
import { checkLayering } from './check_layering.js';

test('the source tree has no layering violations', () => {
  assert.deepEqual(checkLayering(REPO_ROOT), []);
});

test('util importing global, global importing master and one daemon importing another are reported; a daemon importing the skeleton is not', () => {
  const root = mkdtempSync(join(tmpdir(), 'layering-'));
  try {
    for (const d of ['util', 'global', 'pickup', 'cleanup', 'master']) mkdirSync(join(root, 'src', d), { recursive: true });
    writeFileSync(join(root, 'src/global/rec.ts'), 'export const x = 1;\n');
    writeFileSync(join(root, 'src/util/bad.ts'), "import { x } from '../global/rec.js';\nexport const y = x;\n");
    writeFileSync(join(root, 'src/cleanup/cleanup.ts'), "import { s } from '../master/mail_server.js';\nexport const c = s;\n");
    writeFileSync(join(root, 'src/master/mail_server.ts'), 'export const s = 1;\n');
    writeFileSync(join(root, 'src/master/master_spawn.ts'), 'export const m = 1;\n');
    writeFileSync(join(root, 'src/global/bad.ts'), "import { m } from '../master/master_spawn.js';\nexport const g = m;\n");
    writeFileSync(join(root, 'src/pickup/pickup.ts'), "import { c } from '../cleanup/cleanup.js';\nimport { x } from '../global/rec.js';\nexport const z = c + x;\n");
    const found = checkLayering(root).map((v) => `${v.file} -> ${v.target}`).sort();
    assert.deepEqual(found, [
      'src/global/bad.ts -> ../master/master_spawn.js',
      'src/pickup/pickup.ts -> ../cleanup/cleanup.js',
      'src/util/bad.ts -> ../global/rec.js',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
