/*
 * postconf_unused_test - mail_params.unknownParameters() against Postfix's verdict
 *
 * What it does: for the main_modes fixture (and variants with -o style
 * overrides), the names unknownParameters() returns must be exactly the
 * names Postfix 3.7's `postconf -n` reports as "main.cf: unused parameter".
 * This is the function `postfix check` and the daemons use, so it is held
 * to the same rule as postconf itself.
 *
 * What it does not do: check warning texts (postconf_main_test.ts does).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { unknownParameters } from '../../src/global/mail_params.js';
import { parseMasterCf } from '../../src/global/master_cf.js';
import { bothPostconf, makeConfDir } from './postconf_oracle_lib.js';

const FILES = { 'main.cf': 'main.cf', 'master.cf': 'master.cf', 'ldap-aliases.cf': 'ldap-aliases.cf' };

async function compare(overrides: Record<string, string>): Promise<void> {
  const args = Object.entries(overrides).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  const { postfix } = await bothPostconf(['-n', ...args], FILES);
  const oracle = [...postfix.result.stderr.matchAll(/main\.cf: unused parameter: ([^=]+)=/g)].map((m) => m[1]).sort();
  const dir = makeConfDir(FILES);
  try {
    const config = loadMailConfig({ configDir: dir, overrides });
    const master = parseMasterCf(readFileSync(join(dir, 'master.cf'), 'utf8'), join(dir, 'master.cf'), { warn: () => {} });
    const services = master.map((e) => ({ service: e.service, command: e.command }));
    const values = master.flatMap((e) => e.overrides.map((o) => o.value));
    const ours = unknownParameters(config, services, values).map((u) => u.name).sort();
    assert.deepEqual(ours, oracle);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('unknownParameters agrees with postconf on the fixture', async () => {
  await compare({});
});

test('a name becomes used once some value references it', async () => {
  await compare({ smtpd_banner: '$unknown_setting_here', nosuch_param: 'x' });
});

test('with service names only, per-service names still count', () => {
  const dir = makeConfDir(FILES);
  try {
    const config = loadMailConfig({ configDir: dir });
    const names = unknownParameters(config, ['relay', 'slowsmtp', 'uucp']).map((u) => u.name);
    assert.ok(!names.includes('relay_destination_concurrency_limit'));
    assert.ok(names.includes('unknown_setting_here'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
