/*
 * logwriter_test - appends from several processes never interleave or get
 * lost; a missing directory gives Postfix's error text; a rotated or
 * removed file is recreated; a full pipe holds records in a bounded queue
 * and reports what it had to drop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, constants as FS, linkSync, mkdtempSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogWriter, LogWriterError } from './logwriter.js';
import { tempDir } from '../../test/lib/temp_dir.js';



const WRITERS = 4;
const RECORDS = 300;
const fillerLength = (w: number, n: number): number => (n * 37 + w * 101) % 1900;

test('concurrent writers in separate processes: no interleaving, nothing lost', async (t) => {
  const dir = tempDir(t, 'logwriter-');
  const file = join(dir, 'maillog');
  const moduleUrl = new URL('./logwriter.js', import.meta.url).href;
  const script = `
    import { LogWriter } from ${JSON.stringify(moduleUrl)};
    const w = Number(process.argv[1]);
    const lw = new LogWriter({ path: ${JSON.stringify(file)} });
    for (let n = 0; n < ${RECORDS}; n++) {
      lw.write('w' + w + ' n' + n + ' ' + 'x'.repeat((n * 37 + w * 101) % 1900));
    }
    lw.close();
  `;
  const children = Array.from({ length: WRITERS }, (_, w) =>
    new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, String(w)], { stdio: 'inherit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    }),
  );
  assert.deepEqual(await Promise.all(children), Array(WRITERS).fill(0));

  const lines = readFileSync(file, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'file ends with a newline');
  assert.equal(lines.length, WRITERS * RECORDS);
  const next = Array<number>(WRITERS).fill(0);
  for (const line of lines) {
    const m = /^w(\d+) n(\d+) (x*)$/.exec(line);
    assert.ok(m, `malformed (interleaved?) line: ${line.slice(0, 60)}`);
    const w = Number(m[1]);
    const n = Number(m[2]);
    assert.equal(n, next[w], `writer ${w} out of order or duplicated`);
    assert.equal(m[3]!.length, fillerLength(w, n));
    next[w]!++;
  }
  assert.deepEqual(next, Array(WRITERS).fill(RECORDS));
});

test('missing directory: Postfix error text, thrown not crashed', (t) => {
  const dir = tempDir(t, 'logwriter-');
  const path = join(dir, 'nothere', 'x.log');
  const lw = new LogWriter({ path });
  assert.throws(
    () => lw.write('x'),
    (err: unknown) =>
      err instanceof LogWriterError &&
      err.message === `open logfile '${path}': cannot create file exclusively: No such file or directory`,
  );
  assert.throws(() => lw.open(), LogWriterError);
});

test('a directory is refused with "cannot open file: Is a directory"', (t) => {
  const dir = tempDir(t, 'logwriter-');
  const lw = new LogWriter({ path: dir });
  assert.throws(() => lw.open(), { message: `open logfile '${dir}': cannot open file: Is a directory` });
});

test('a hard-linked file is refused', (t) => {
  const dir = tempDir(t, 'logwriter-');
  const path = join(dir, 'log');
  writeFileSync(path, '');
  linkSync(path, join(dir, 'other'));
  assert.throws(() => new LogWriter({ path }).open(), { message: `open logfile '${path}': file has 2 hard links` });
});

test('new file mode: given mode, before umask', (t) => {
  const dir = tempDir(t, 'logwriter-');
  const path = join(dir, 'log');
  const lw = new LogWriter({ path, mode: 0o600 });
  lw.write('x');
  lw.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('rotation: renamed away or removed, the next record creates a new file', (t) => {
  const dir = tempDir(t, 'logwriter-');
  const path = join(dir, 'maillog');
  const lw = new LogWriter({ path, rotationCheckMs: 0 });
  lw.write('one');
  renameSync(path, `${path}.1`);
  lw.write('two');
  assert.equal(readFileSync(`${path}.1`, 'utf8'), 'one\n');
  assert.equal(readFileSync(path, 'utf8'), 'two\n');
  unlinkSync(path);
  lw.write('three');
  assert.equal(readFileSync(path, 'utf8'), 'three\n');
  lw.close();
});

test('a pipe that will not take more: records are held, then delivered in order', async (t) => {
  const dir = tempDir(t, 'logwriter-');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, FS.O_RDONLY | FS.O_NONBLOCK);
  t.after(() => closeSync(reader));
  const lw = new LogWriter({ path: fifo });
  const record = 'r'.repeat(999);
  const total = 200; // 200 KB, more than a pipe holds
  for (let i = 0; i < total; i++) lw.write(`${String(i).padStart(4, '0')} ${record}`);
  assert.ok(lw.pendingCount > 0, 'the pipe filled up and records were held');

  const got: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  const deadline = Date.now() + 10_000;
  let text = '';
  while (Date.now() < deadline) {
    let n = 0;
    try {
      n = readSync(reader, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (n > 0) got.push(Buffer.from(buf.subarray(0, n)));
    text = Buffer.concat(got).toString();
    if (text.split('\n').length - 1 >= total) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const lines = text.split('\n').slice(0, -1);
  assert.equal(lines.length, total);
  lines.forEach((line, i) => assert.equal(line, `${String(i).padStart(4, '0')} ${record}`));
  assert.equal(lw.pendingCount, 0);
  lw.close();
});

test('past the bound, records are dropped and the count is reported', (t) => {
  const dir = tempDir(t, 'logwriter-');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, FS.O_RDONLY | FS.O_NONBLOCK);
  t.after(() => closeSync(reader));
  const warnings: string[] = [];
  const lw = new LogWriter({ path: fifo, maxPendingBytes: 10_000, onWarning: (w) => warnings.push(w) });
  for (let i = 0; i < 200; i++) lw.write('d'.repeat(999));
  // Nobody reads: close() gives up after its bounded wait and reports.
  lw.close();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^logfile '.*fifo': discarded \d+ record\(s\) because the file would not accept them$/);
  const n = Number(/discarded (\d+)/.exec(warnings[0]!)![1]);
  assert.ok(n > 100 && n < 200, `dropped ${n}`);
});
