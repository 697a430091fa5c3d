/*
 * local_testlib - a throwaway local(8) environment for tests
 *
 * What it does: makeLocalHarness() builds, under a fresh temporary
 * directory (readable by the unprivileged test account), a main.cf, a
 * queue directory, a passwd file whose users map to an existing account
 * (nobody) with home directories in the temp tree, and a mail spool.
 * submit() writes a real queue file (queue_file_write.ts) in the active
 * queue and returns the DeliverRequest qmgr would send; run() calls
 * localDeliver() in-process with trivial-rewrite answered in-process and
 * recording reporters, so a test sees each sent/bounce/defer/trace call
 * with its DSN, then checks the files that were written.
 *
 * What it does not do: start master, qmgr or the bounce service.
 *
 * DIAGNOSTICS
 * Throws when the test account does not exist (tests must fail loudly).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { encodeAttr0 } from '../util/attr0.js';
import { CLEANUP_PROTOCOL } from '../global/cleanup_clnt.js';
import { REC_TYPE } from '../global/rec_type.js';
import { RecordStreamDecoder } from '../global/record.js';
import { join } from 'node:path';
import { loadMailConfig } from '../global/mail_conf.js';
import { writeQueueFile } from '../global/queue_file_write.js';
import { readQueueFile } from '../global/queue_file_read.js';
import { emptyDeliverRequest, DEL_REQ_FLAG_DEFLT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { makeDeliveryContext } from '../global/delivery_agent.js';
import { localResolveClient } from '../global/resolve_clnt.js';
import { localRewriteClient } from '../global/rewrite_clnt.js';
import type { Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import { getpwnam, type PasswdEntry } from '../util/pwd_lookup.js';
import { localDeliver, type LocalDeps } from './local.js';
import type { Reporters } from './local_state.js';

export const TEST_ACCOUNT = 'nobody';

export interface Event {
  kind: 'sent' | 'bounce' | 'defer' | 'trace' | 'bounceOne';
  rcpt: string;
  origRcpt: string;
  relay: string;
  dsn: Dsn;
  sender?: string;
}

export interface ForwardedMessage {
  queueId: string;
  records: Array<[string, string]>;
}

export interface LocalHarness {
  /** Starts a scripted cleanup service on queue_directory/public/cleanup that accepts every message. */
  startCleanup(): Promise<ForwardedMessage[]>;
  root: string;
  home(user: string): string;
  spool: string;
  account: PasswdEntry;
  users: PasswdEntry[];
  writeConf(extra: Record<string, string>): void;
  submit(opts: { sender?: string; rcpts: Array<string | { address: string; orig?: string; notify?: number }>; lines: string[] }): Promise<DeliverRequest>;
  run(req: DeliverRequest, deps?: LocalDeps): Promise<{ reply: DeliverReply; events: Event[] }>;
}

export function makeLocalHarness(t: { after(fn: () => void): void }, userNames: string[] = ['alice', 'bob', 'carol']): LocalHarness {
  const account = getpwnam(TEST_ACCOUNT);
  if (!account) throw new Error(`test account ${TEST_ACCOUNT} does not exist`);
  const root = mkdtempSync(join(tmpdir(), 'postern-local-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const dirs = ['etc', 'queue', 'queue/active', 'queue/private', 'queue/public', 'home'];
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  const spool = join(root, 'spool');
  mkdirSync(spool, { mode: 0o755 });
  chmodSync(spool, 0o1777);
  const users: PasswdEntry[] = userNames.map((name) => ({ name, uid: account.uid, gid: account.gid, home: join(root, 'home', name), shell: '/bin/sh' }));
  for (const u of users) {
    mkdirSync(u.home, { mode: 0o755 });
    if (process.getuid?.() === 0) chownSync(u.home, u.uid, u.gid);
  }
  const passwdFile = join(root, 'etc', 'passwd');
  const pwLines = [`root:x:0:0:root:/root:/bin/sh`, `${account.name}:x:${account.uid}:${account.gid}::${account.home}:${account.shell}`];
  for (const u of users) pwLines.push(`${u.name}:x:${u.uid}:${u.gid}::${u.home}:${u.shell}`);
  writeFileSync(passwdFile, pwLines.join('\n') + '\n');
  const findName = (name: string): PasswdEntry | null => (name === 'root' ? getpwnam('root') : name === account.name ? account : (users.find((u) => u.name === name) ?? null));
  const findUid = (uid: number): PasswdEntry | null => (uid === 0 ? getpwnam('root') : uid === account.uid ? account : null);
  const base: Record<string, string> = {
    queue_directory: join(root, 'queue'),
    myhostname: 'host.example.test',
    mydomain: 'example.test',
    myorigin: '$myhostname',
    mydestination: '$myhostname, localhost',
    mail_spool_directory: spool,
    mailbox_delivery_lock: 'dotlock',
    recipient_delimiter: '+',
    alias_maps: '',
    default_privs: TEST_ACCOUNT,
    deliver_lock_delay: '1s',
    command_time_limit: '1000s',
    maillog_file: '',
  };
  let conf: Record<string, string> = { ...base };
  const writeConf = (extra: Record<string, string>): void => {
    conf = { ...base, ...extra };
    writeFileSync(join(root, 'etc', 'main.cf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  };
  writeConf({});
  const servers: Server[] = [];
  t.after(() => {
    for (const srv of servers) srv.close();
  });
  return {
    async startCleanup() {
      const got: ForwardedMessage[] = [];
      let n = 0;
      const server = createServer((sock) => {
        const queueId = `F${String(++n).padStart(5, '0')}`;
        sock.on('error', () => undefined);
        sock.write(encodeAttr0([{ name: 'protocol', value: 'cleanup_protocol' }, { name: 'queue_id', value: queueId }]));
        let buf = Buffer.alloc(0);
        let skipped = false;
        const dec = new RecordStreamDecoder();
        const records: Array<[string, string]> = [];
        sock.on('data', (b: Buffer) => {
          if (!skipped) {
            buf = Buffer.concat([buf, b]);
            // The request list: "flags\0VALUE\0\0".
            const end = buf.indexOf(Buffer.from([0, 0]), 6);
            if (end < 0) return;
            skipped = true;
            dec.push(buf.subarray(end + 2));
          } else {
            dec.push(b);
          }
          for (let r = dec.next(); r.kind === 'record'; r = dec.next()) {
            records.push([String.fromCharCode(r.type), r.data.toString('latin1')]);
            if (r.type === REC_TYPE.END) {
              got.push({ queueId, records });
              sock.end(CLEANUP_PROTOCOL.encodeReply({ status: 0, reason: '' }));
            }
          }
        });
      });
      servers.push(server);
      await new Promise<void>((r) => server.listen(join(root, 'queue', 'public', 'cleanup'), r));
      return got;
    },
    root,
    spool,
    account,
    users,
    home: (u) => join(root, 'home', u),
    writeConf,
    async submit(opts) {
      const config = loadMailConfig({ configDir: join(root, 'etc') });
      const rcpts = opts.rcpts.map((r) => (typeof r === 'string' ? { address: r } : r));
      const w = await writeQueueFile(
        { queueDir: join(root, 'queue'), queueName: 'active', longQueueIds: false, hashDepth: 1, hashQueues: [] },
        { sender: opts.sender ?? 'sender@remote.test', recipients: rcpts.map((r) => ({ address: r.address, original: r.orig ?? r.address, ...(r.notify ? { dsnNotify: r.notify } : {}) })), lines: opts.lines },
      );
      void config;
      const qf = readQueueFile(w.path);
      if (!qf.ok) throw new Error(qf.error.message);
      const recipients: Recipient[] = qf.file.recipients.map((r) => ({ origAddress: r.original ?? '', address: r.address, offset: r.offset, dsnOrcpt: r.dsnOrcpt ?? '', dsnNotify: r.dsnNotify ?? 0 }));
      return emptyDeliverRequest({
        flags: DEL_REQ_FLAG_DEFLT,
        queueName: 'active',
        queueId: w.queueId,
        dataOffset: qf.file.size!.dataOffset,
        dataSize: qf.file.size!.contentSize,
        nexthop: 'host.example.test',
        sender: qf.file.sender ?? '',
        recipients,
      });
    },
    async run(req, deps = {}) {
      const config = loadMailConfig({ configDir: join(root, 'etc') });
      const ctx = makeDeliveryContext({ config, serviceName: 'local', serviceType: 'unix', programName: 'local', args: [], signal: new AbortController().signal });
      const events: Event[] = [];
      const rec = (kind: Event['kind'], ret: number) => async (_req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn) => {
        events.push({ kind, rcpt: rcpt.address, origRcpt: rcpt.origAddress, relay, dsn });
        return ret;
      };
      const reporters: Reporters = {
        sent: rec('sent', 0),
        bounce: rec('bounce', 0),
        defer: rec('defer', 0),
        trace: rec('trace', 0),
        bounceOne: async (_req, sender, rcpt, relay, dsn) => {
          events.push({ kind: 'bounceOne', rcpt: rcpt.address, origRcpt: rcpt.origAddress, relay, dsn, sender });
          return 0;
        },
      };
      const reply = await localDeliver(req, ctx, {
        getpwnam: findName,
        getpwuid: findUid,
        resolver: localResolveClient(config),
        rewriter: localRewriteClient(config),
        reporters,
        ...deps,
      });
      return { reply, events };
    },
  };
}
