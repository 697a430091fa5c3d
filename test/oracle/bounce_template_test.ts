/*
 * bounce_template_test - bounce(5) templates: built-in texts, template files and $name expansion, against the real postconf -t / -b
 *
 * What it does: the real `postconf -t` prints the built-in templates and
 * `postconf -b` their expansion for a main.cf; Postern's
 * dumpBounceTemplates()/expandBounceTemplates() must print the same bytes,
 * for the built-in templates and for a bounce_template_file with a
 * custom charset, 8-bit text, $name and time-unit expansion, a
 * multi-line heredoc, comments, and a broken template that both ignore.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BUILTIN_BOUNCE_TEMPLATES, bounceTemplatesFromConfig, dumpBounceTemplates, expandBounceTemplates, loadBounceTemplates } from '../../src/global/bounce_template.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { makeOracleConfig, writeMainCf } from '../lib/postfix_oracle.js';

const MAIN = { myhostname: 'host.example', delay_warning_time: '4h', maximal_queue_lifetime: '5d', mail_name: 'Mailer' };
const cfg = makeOracleConfig({ prefix: 'postern-bounce-tmpl-', main: MAIN });
after(() => cfg.cleanup());

const TEMPLATE_FILE = [
  '# comment line',
  'failure_template = <<EOF',
  'Charset: utf-8',
  'From: Postmaster <postmaster@host.example>',
  'Subject: Zurueck an den Absender',
  'Postmaster-Subject: Kopie',
  '',
  'Hier ist $mail_name auf $myhostname.',
  'Nach $delay_warning_time_minutes Minuten und $maximal_queue_lifetime_weeks Wochen: Größe zählt.',
  'EOF',
  '',
  'delay_template = <<EOF',
  'Bogus-Label: x',
  '',
  'text',
  'EOF',
  '',
  '   # indented comment',
  'success_template = <<END',
  'Subject: It worked',
  '',
  'Delivered by $myhostname.',
  'END',
  '',
].join('\n');

test('built-in templates: postconf -t and -b output', async () => {
  const t = await cfg.postconf(['-t']);
  assert.equal(t.status, 0, t.stderr);
  assert.equal(dumpBounceTemplates(BUILTIN_BOUNCE_TEMPLATES), t.stdout);
  const b = await cfg.postconf(['-b']);
  assert.equal(b.status, 0, b.stderr);
  const config = loadMailConfig({ configDir: cfg.confDir });
  assert.equal(expandBounceTemplates(bounceTemplatesFromConfig(config), config), b.stdout);
  assert.ok(b.stdout.includes('for more than 4 hour(s).'));
});

test('bounce_template_file: the same templates, expansions and rejections as Postfix', async () => {
  const file = join(cfg.root, 'bounce.cf');
  writeFileSync(file, TEMPLATE_FILE);
  const t = await cfg.postconf(['-t', file]);
  assert.equal(t.status, 0, t.stderr);
  const warnings: string[] = [];
  msgSetSinks([{ write: (sev: string, text: string) => void warnings.push(`${sev}: ${text}`) }]);
  try {
    assert.equal(dumpBounceTemplates(loadBounceTemplates(file)), t.stdout);
    writeMainCf(cfg.confDir, { queue_directory: cfg.queueDir, ...MAIN, bounce_template_file: file });
    const b = await cfg.postconf(['-b']);
    assert.equal(b.status, 0, b.stderr);
    const config = loadMailConfig({ configDir: cfg.confDir });
    assert.equal(expandBounceTemplates(bounceTemplatesFromConfig(config), config), b.stdout);
    assert.ok(b.stdout.includes('Nach 240 Minuten und 0 Wochen: Größe zählt.'));
    assert.ok(b.stderr.includes('unknown "Bogus-Label" header label in delay template -- ignoring this template'), b.stderr);
    assert.ok(warnings.includes(`warning: ${file}: unknown "Bogus-Label" header label in delay template -- ignoring this template`), warnings.join('\n'));
  } finally {
    msgSetSinks([]);
  }
});
