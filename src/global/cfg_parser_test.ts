/*
 * cfg_parser_test - table settings from .cf files and main.cf, checked against the real postmap
 *
 * What it does: reads settings files and main.cf prefixes through
 * cfgParserAlloc, and compares the fatal texts for bad settings with what
 * the real Postfix postmap prints for the same sqlite: .cf files.
 *
 * What it does not do: query any database (test/oracle/dict_sql_*_test.ts).
 *
 * DIAGNOSTICS
 * None.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { msgSetSinks, msgSinks, setFatalHandler } from '../util/msg.js';
import { cfgParserAlloc } from './cfg_parser.js';
import { DictOpenError } from './dict_base.js';
import { dictCacheClear, dictOpen } from './dict.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';
import { MailConfig, parseMainCf } from './mail_conf.js';

/** Runs fn with msgFatal turned into a thrown Error("FATAL text"). */
function fatalText(fn: () => unknown): string {
  const sinks = [...msgSinks()];
  msgSetSinks([{ write: () => {} }]);
  setFatalHandler((_sev, text) => {
    throw new Error(`FATAL ${text}`);
  });
  try {
    fn();
    return 'no fatal';
  } catch (err) {
    return (err as Error).message;
  } finally {
    setFatalHandler(null);
    msgSetSinks(sinks);
  }
}

function realPostmap(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/postmap', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString('latin1')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

test('a .cf file: main.cf syntax, values as written ($name not expanded), numbers and booleans', (t) => {
  const file = tableFile(t, 'x.cf', '# comment\nquery = SELECT a\n  FROM t\nlimit = 12\nflag = YES\nraw = $myhostname/%s\n');
  const cfg = cfgParserAlloc(file);
  assert.equal(cfg.name, file);
  assert.equal(cfg.getStr('query', 'def', 0, 0), 'SELECT a  FROM t');
  assert.equal(cfg.getStr('raw', '', 0, 0), '$myhostname/%s');
  assert.equal(cfg.getStr('missing', 'def', 0, 0), 'def');
  assert.equal(cfg.getInt('limit', 0, 0, 0), 12);
  assert.equal(cfg.getInt('missing', 5, 0, 0), 5);
  assert.equal(cfg.getBool('flag', false), true);
  assert.equal(cfg.has('limit'), true);
  assert.equal(cfg.has('missing'), false);
  assert.equal(fatalText(() => cfg.getInt('limit', 0, 20, 0)), `FATAL ${file}: invalid limit parameter value 12 < 20`);
  assert.equal(fatalText(() => cfg.getBool('query', false)), `FATAL ${file}: bad boolean configuration: query = SELECT a  FROM t`);
  assert.equal(fatalText(() => cfg.getStr('query', '', 0, 3)), `FATAL ${file}: bad string length 16 > 3: query = SELECT a  FROM t`);
});

test('a main.cf prefix: PREFIX_name parameters, $name expanded', () => {
  const parsed = parseMainCf('mydomain = example.com\nsrc_dbpath = /var/$mydomain.db\nsrc_limit = 7\n', 'main.cf');
  const cfg = cfgParserAlloc('src', new MailConfig('/nonexistent', parsed.entries));
  assert.equal(cfg.getStr('dbpath', '', 1, 0), '/var/example.com.db');
  assert.equal(cfg.getInt('limit', 0, 0, 0), 7);
  assert.equal(cfg.has('query'), false);
  assert.equal(fatalText(() => cfg.getStr('query', '', 1, 0)), 'FATAL bad string length 0 < 1: src_query = ');
});

test('a missing settings file makes the table a surrogate', async (t) => {
  const dir = tableFile(t, 'x', '');
  assert.throws(() => cfgParserAlloc(`${dir}-none.cf`), (e: unknown) => e instanceof DictOpenError && e.message === `open ${dir}-none.cf: No such file or directory`);
});

test('bad settings are fatal with the real postmap texts', async (t) => {
  const base = tableFile(t, 'db.sqlite', '');
  const dir = join(base, '..');
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'main.cf'), 'compatibility_level = 3.6\n');
  const cases: Record<string, string> = {
    notable: `dbpath = ${base}\n`,
    nodbpath: 'query = SELECT 1\n',
    syntax: `dbpath = ${base}\n  continued\nbadline\n`,
    badint: `dbpath = ${base}\nquery = SELECT '%s'\nexpansion_limit = 1x\n`,
    badtemplate: `dbpath = ${base}\nquery = SELECT '%x'\n`,
    badresult: `dbpath = ${base}\nquery = SELECT '%s'\nresult_format = %s%y\n`,
  };
  const specs = Object.keys(cases).map((name) => {
    const f = join(dir, `${name}.cf`);
    writeFileSync(f, cases[name]!);
    return `sqlite:${f}`;
  });
  // A name without '/' or '.' in front is a main.cf prefix ("rel.cf_dbpath").
  specs.push('sqlite:rel.cf', 'pgsql:pgsrc');
  const config = new MailConfig(join(dir, 'etc'), parseMainCf('compatibility_level = 3.6\n', 'main.cf').entries);
  const reals = await Promise.all(specs.map((spec) => realPostmap(['-c', join(dir, 'etc'), '-q', 'a@b', spec])));
  for (const [i, spec] of specs.entries()) {
    const want = /postmap: fatal: (.*)/.exec(reals[i]!)?.[1];
    assert.ok(want, `real postmap fails on ${spec}: ${reals[i]}`);
    dictCacheClear();
    const { result } = await captureWarnings(() => fatalText(() => dictOpen(spec, { config })));
    assert.equal(result, `FATAL ${want}`, spec);
  }
  dictCacheClear();
});
