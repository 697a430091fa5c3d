/*
 * qmgr_oracle_test - Postern's qmgr log lines against the real Postfix qmgr for the same queue files
 *
 * What it does: writes the same queue files (a good one for a discard:
 * destination, a second one with two recipients, and one cut off in the
 * middle of a record) into the incoming queue of a throwaway real Postfix
 * 3.7 instance and of an in-process Postern queue manager, lets both
 * work, and compares the lines each queue manager logs about them: the
 * "from=<...>, size=N, nrcpt=N (queue active)" line, "removed", and the
 * warnings for the corrupt file ending with 'saving corrupt file "ID"
 * from queue "active" to queue "corrupt"'; and that both leave the
 * corrupt files in the corrupt queue.
 *
 * What it does not do: compare delivery agent lines (the discard/error
 * agents' own tests do) or scheduling.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeQueueFile } from '../../src/global/queue_file_write.js';
import { makeQmgrHarness } from '../../src/qmgr/qmgr_test_lib.js';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE, postfixIds, type OracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';

const WAIT_MS = 20_000;
let real: OracleConfig | null = null;
let stage = '';

after(async () => {
  await real?.cleanup();
  if (stage) rmSync(stage, { recursive: true, force: true });
});

interface Staged {
  id: string;
  bytes: Buffer;
}

async function stageFiles(): Promise<Staged[]> {
  stage = mkdtempSync(join(tmpdir(), 'postern-qmgr-oracle-'));
  mkdirSync(join(stage, 'incoming'));
  const opts = { queueDir: stage, queueName: 'incoming', longQueueIds: false, hashDepth: 1, hashQueues: [] as string[], fsync: false };
  const files: Staged[] = [];
  const one = await writeQueueFile(opts, { sender: 'alice@sender.example', recipients: [{ address: 'a@ok.example' }], lines: ['Subject: one', '', 'body'] });
  const two = await writeQueueFile(opts, {
    sender: '',
    recipients: [{ address: 'b@ok.example' }, { address: 'c@ok.example', original: 'C@ok.example' }],
    lines: ['Subject: two', '', 'body', 'more'],
  });
  const bad = await writeQueueFile(opts, { sender: 'bob@sender.example', recipients: [{ address: 'd@ok.example' }], lines: ['Subject: bad', '', 'x'.repeat(200)] });
  for (const f of [one, two]) files.push({ id: f.queueId, bytes: readFileSync(f.path) });
  // Cut inside the content record: rec_get() meets EOF in the middle of its data.
  const full = readFileSync(bad.path);
  files.push({ id: bad.queueId, bytes: full.subarray(0, full.length - 120) });
  // Cut inside the sender record of the envelope.
  const env = await writeQueueFile(opts, { sender: 'carol-with-a-long-name@sender.example', recipients: [{ address: 'e@ok.example' }], lines: ['x'] });
  const envBytes = readFileSync(env.path);
  const at = envBytes.indexOf('carol-with');
  files.push({ id: env.queueId, bytes: envBytes.subarray(0, at + 5) });
  return files;
}

/** Drops a file into a queue as cleanup would: written aside, mode 0700, then renamed in. */
function drop(queueDir: string, f: Staged, owner?: { uid: number; gid: number }): void {
  const tmp = join(queueDir, 'incoming', `${f.id}.tmp`);
  writeFileSync(tmp, f.bytes);
  chmodSync(tmp, 0o700);
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, join(queueDir, 'incoming', f.id));
}

function qmgrLines(log: string, ids: string[]): string[] {
  return log
    .split('\n')
    .map((l) => /postfix\/qmgr\[\d+\]: (.*)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined && ids.some((id) => l.includes(id)))
    .sort();
}

test('qmgr logs the same lines as Postfix for the same queue files', async () => {
  const files = await stageFiles();
  const ids = files.map((f) => f.id);
  const [good1, good2, bad, bad2] = ids as [string, string, string, string];

  real = makeOracleConfig({
    prefix: 'postern-qmgr-real-',
    ownedDirs: ['data'],
    main: { ...ORACLE_MAIN_BASE, alias_maps: '', local_recipient_maps: '', transport_maps: 'inline:{ok.example=discard:test}' },
    master: [...ORACLE_MAIL_SERVICES],
  });
  await real.start();
  const owner = postfixIds();
  for (const f of files) drop(real.queueDir, f, owner);
  const kick = await real.run('/usr/sbin/postkick', ['-c', real.confDir, 'public', 'qmgr', 'I']);
  assert.equal(kick.status, 0, kick.stderr);
  const done = (): boolean => {
    const log = real!.readLog();
    return log.includes(`${good1}: removed`) && log.includes(`${good2}: removed`) && log.includes(`saving corrupt file "${bad}"`) && log.includes(`saving corrupt file "${bad2}"`);
  };
  assert.ok(await waitUntil(done, WAIT_MS), `Postfix did not finish:\n${real.readLog()}`);
  const theirs = qmgrLines(real.readLog(), ids);

  const h = await makeQmgrHarness({ mainCf: { transport_maps: 'inline:{ok.example=fake:test}' } });
  try {
    for (const f of files) drop(h.queueDir, f);
    await h.daemon.start();
    const ours = (): string[] =>
      h.logs
        .filter((l) => ids.some((id) => l.includes(id)))
        .filter((l) => !/: to=</.test(l))
        .sort();
    assert.ok(await waitUntil(() => ours().length >= theirs.length, WAIT_MS), `Postern did not finish:\n${h.logs.join("\n")}\n--- Postfix:\n${theirs.join("\n")}`);
    await waitUntil(() => false, 200);
    assert.deepEqual(ours(), theirs);
    assert.equal(existsSync(join(h.queueDir, 'corrupt', bad)), true);
    assert.equal(existsSync(join(real.queueDir, 'corrupt', bad)), true);
    assert.equal(existsSync(join(h.queueDir, 'corrupt', bad2)), true);
  } finally {
    h.close();
  }
});

