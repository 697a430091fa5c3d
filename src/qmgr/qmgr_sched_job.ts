/*
 * qmgr_sched_job - jobs, peers, entries and the preemptive job selection (Postfix qmgr_job.c, qmgr_peer.c, qmgr_entry.c)
 *
 * What it does: a job is one message on one transport; a peer is one job
 * at one destination queue; an entry is one delivery request's worth of
 * recipients. jobEntrySelect() is qmgr_job_entry_select(): starting at
 * the transport's current job it lets a smaller job preempt it when the
 * current job has earned enough delivery slots (each selected entry earns
 * one; a candidate needing N entries costs N * delivery_slot_cost, with
 * delivery_slot_loan slots lent and delivery_slot_discount percent off,
 * and only jobs with at least minimum_delivery_slots * slot_cost entries
 * can be preempted), picks the preempting candidate by the best
 * time-since-queued / total-entries score, then walks the job list past
 * "blocker" jobs (whose destinations are all at their window) and takes
 * the first entry from the job's next peer in round-robin order. Jobs
 * whose entries are all selected are retired from the list; preempting
 * jobs sit on a stack above the job they preempted and pay back the slots
 * they used when they are popped.
 *
 * What it does not do: track recipient slot pools for messages read in
 * pieces (the daemon hands whole messages; MAX_ENTRIES == read entries),
 * the candidate cache (a pure optimisation), or any I/O.
 *
 * DIAGNOSTICS
 * Inconsistencies throw an Error (Postfix panics).
 */
import type { Recipient } from '../global/recipient_list.js';
import type { SchedDelivery, SchedMessage } from './qmgr_sched.js';
import type { SchedQueue } from './qmgr_sched_queue.js';
import type { SchedTransport } from './qmgr_sched_transport.js';

/** A message in the scheduler (Postfix QMGR_MESSAGE, the parts the scheduler uses). */
export interface SchedMsgState {
  readonly msg: SchedMessage;
  /** Entries (todo + busy) that refer to the message. */
  refcount: number;
  rcptCount: number;
  /** messageReady() was called: its jobs are on the job lists. */
  ready: boolean;
  /** Set once reported finished. */
  done: boolean;
  readonly jobs: Map<string, SchedJob>;
  /** Seconds, for the job score (Postfix queued_time). */
  readonly queuedSec: number;
}

export interface SchedEntry {
  readonly message: SchedMsgState;
  readonly queue: SchedQueue;
  readonly peer: SchedPeer;
  readonly recipients: Recipient[];
  delivery: SchedDelivery | null;
}

export interface SchedPeer {
  readonly job: SchedJob;
  readonly queue: SchedQueue;
  /** Entries not yet selected, in order. */
  entries: SchedEntry[];
  /** Entries (todo + busy) of this peer. */
  refcount: number;
}

export interface SchedJob {
  readonly message: SchedMsgState;
  readonly transport: SchedTransport;
  /** Round-robin peer list: the order starts at peerCursor and wraps (a rotated circular list). */
  peers: SchedPeer[];
  peerCursor: number;
  /** Neighbours on the transport's job list. */
  prev: SchedJob | null;
  next: SchedJob | null;
  readonly peerByQueue: Map<SchedQueue, SchedPeer>;
  stackParent: SchedJob | null;
  stackChildren: SchedJob[];
  /** -1 = not on the job list, 0 = on it, > 0 = preempting at that depth. */
  stackLevel: number;
  blockerTag: number;
  slotsUsed: number;
  slotsAvailable: number;
  selectedEntries: number;
  readEntries: number;
  rcptCount: number;
}

export function jobCreate(message: SchedMsgState, transport: SchedTransport): SchedJob {
  const job: SchedJob = {
    message,
    transport,
    peers: [],
    peerCursor: 0,
    prev: null,
    next: null,
    peerByQueue: new Map(),
    stackParent: null,
    stackChildren: [],
    stackLevel: -1,
    blockerTag: 0,
    slotsUsed: 0,
    slotsAvailable: 0,
    selectedEntries: 0,
    readEntries: 0,
    rcptCount: 0,
  };
  message.jobs.set(transport.name, job);
  return job;
}

const hasEntries = (job: SchedJob): boolean => job.selectedEntries < job.readEntries;
/** MIN_ENTRIES and MAX_ENTRIES coincide: every recipient is in core. */
const maxEntries = (job: SchedJob): number => job.readEntries;
const minEntries = (job: SchedJob): number => job.readEntries;
const isBlocker = (job: SchedJob, t: SchedTransport): boolean => job.blockerTag === t.blockerTag;

/** Puts job on the transport's job list before `before` (null: at the end). */
function listInsert(t: SchedTransport, job: SchedJob, before: SchedJob | null): void {
  const after = before ? before.prev : t.jobTail;
  job.prev = after;
  job.next = before;
  if (after) after.next = job;
  else t.jobHead = job;
  if (before) before.prev = job;
  else t.jobTail = job;
}

function listRemove(t: SchedTransport, job: SchedJob): void {
  if (job.prev) job.prev.next = job.next;
  else t.jobHead = job.next;
  if (job.next) job.next.prev = job.prev;
  else t.jobTail = job.prev;
  job.prev = job.next = null;
}

/** Postfix qmgr_job_link(): into the job list by queue time, after older and equal ones. */
function jobLink(job: SchedJob): void {
  const t = job.transport;
  if (job.stackLevel >= 0) throw new Error(`qmgr_job_link: already on the job lists (${job.stackLevel})`);
  let current = t.jobCurrent;
  let prev = t.jobTail;
  let next: SchedJob | null = null;
  while (prev) {
    if (prev.stackParent === null && job.message.msg.arrival - prev.message.msg.arrival >= 0) break;
    if (current === prev) current = null;
    next = prev;
    prev = prev.prev;
  }
  job.stackLevel = 0;
  listInsert(t, job, next);
  if (current === null) t.jobCurrent = job;
}

/** Postfix qmgr_job_obtain() for a job that has (new) entries. */
export function jobObtain(job: SchedJob): void {
  const t = job.transport;
  if (job.stackLevel < 0) jobLink(job);
  if (isBlocker(job, t)) {
    job.blockerTag = 0;
    t.jobCurrent = t.jobHead;
  }
}

function parentGone(job: SchedJob, parent: SchedJob | null): void {
  for (const child of job.stackChildren) {
    if (parent) parent.stackChildren.push(child);
    child.stackParent = parent;
  }
  job.stackChildren = [];
}

function jobUnlink(job: SchedJob): void {
  const t = job.transport;
  if (job.stackLevel !== 0) throw new Error(`qmgr_job_unlink: non-zero stack level (${job.stackLevel})`);
  if (job.stackParent) throw new Error('qmgr_job_unlink: parent present');
  parentGone(job, null);
  if (t.jobCurrent === job) t.jobCurrent = job.next;
  listRemove(t, job);
  job.stackLevel = -1;
}

/** Postfix qmgr_job_pop(): off the preemption stack, paying back the parent's slots. */
function jobPop(job: SchedJob): void {
  const t = job.transport;
  if (job.stackLevel <= 0) throw new Error(`qmgr_job_pop: not on the job stack (${job.stackLevel})`);
  const parent = job.stackParent;
  if (parent && job.stackLevel === parent.stackLevel + 1) parent.slotsAvailable -= job.slotsUsed * t.slotCost;
  if (parent) {
    parent.stackChildren.splice(parent.stackChildren.indexOf(job), 1);
    job.stackParent = null;
  }
  parentGone(job, parent);
  job.stackLevel = 0;
}

/** Postfix qmgr_job_retire(): all entries selected; leave the job list. */
export function jobRetire(job: SchedJob): void {
  if (job.stackLevel > 0) jobPop(job);
  jobUnlink(job);
}

/** Postfix qmgr_job_free(). */
export function jobFree(job: SchedJob): void {
  if (job.stackLevel > 0) jobPop(job);
  if (job.stackLevel >= 0) jobUnlink(job);
  job.message.jobs.delete(job.transport.name);
}

/** Postfix qmgr_job_candidate(): the best job to preempt `current` with, or null. */
function jobCandidate(current: SchedJob, nowSec: number): SchedJob | null {
  const t = current.transport;
  const maxSlots = Math.trunc((minEntries(current) - current.selectedEntries + current.slotsAvailable) / t.slotCost);
  let best: SchedJob | null = null;
  let bestScore = 0;
  if (maxSlots > 0) {
    for (let job = current.next; job; job = job.next) {
      if (job.stackChildren.length > 0 || isBlocker(job, t)) continue;
      const maxTotal = maxEntries(job);
      const maxNeeded = maxTotal - job.selectedEntries;
      const delay = nowSec - job.message.queuedSec + 1;
      if (maxNeeded > 0 && maxNeeded <= maxSlots) {
        const score = delay / maxTotal;
        if (score > bestScore) {
          bestScore = score;
          best = job;
        }
      }
      if (delay <= bestScore && job.stackLevel === 0) break;
    }
  }
  return best;
}

/** Postfix qmgr_job_preempt(): the job to serve instead of `current`. */
function jobPreempt(current: SchedJob, nowSec: number): SchedJob {
  const t = current.transport;
  if (current.slotsAvailable <= 0 || maxEntries(current) < t.minSlots * t.slotCost) return current;
  const job = jobCandidate(current, nowSec);
  if (!job) return current;
  if (job === current) throw new Error('qmgr_job_preempt: attempt to preempt itself');
  const expected = maxEntries(job) - job.selectedEntries;
  if (Math.trunc(current.slotsAvailable / t.slotCost) + t.slotLoan < (expected * t.slotLoanFactor) / 100) return current;
  if (job.stackLevel > 0) jobPop(job);
  listRemove(t, job);
  listInsert(t, job, current);
  job.stackParent = current;
  current.stackChildren.push(job);
  job.stackLevel = current.stackLevel + 1;
  t.jobCurrent = job;
  current.slotsAvailable -= expected * t.slotCost;
  job.slotsUsed = -expected;
  return job;
}

/** Postfix qmgr_peer_select(): round robin over the job's destinations with room. */
function peerSelect(job: SchedJob): SchedPeer | null {
  const n = job.peers.length;
  for (let k = 0; k < n; k++) {
    const i = (job.peerCursor + k) % n;
    const peer = job.peers[i];
    const q = peer.queue;
    if (q.window > q.busyRefcount && peer.entries.length > 0) {
      // QMGR_LIST_ROTATE: the chosen peer goes to the end of the list.
      job.peerCursor = (i + 1) % n;
      return peer;
    }
  }
  return null;
}

/** Appends a peer at the end of the job's round-robin order. */
export function peerAdd(job: SchedJob, peer: SchedPeer): void {
  job.peers.splice(job.peerCursor, 0, peer);
  job.peerCursor = (job.peerCursor + 1) % job.peers.length;
}

/** Postfix qmgr_peer_free(). */
export function peerFree(job: SchedJob, peer: SchedPeer): void {
  job.peerByQueue.delete(peer.queue);
  const i = job.peers.indexOf(peer);
  if (i < 0) return;
  job.peers.splice(i, 1);
  if (i < job.peerCursor) job.peerCursor--;
  if (job.peerCursor >= job.peers.length) job.peerCursor = 0;
}

/** Postfix qmgr_entry_select(): todo → busy, with the session caching decision. */
function entrySelect(peer: SchedPeer, nowSec: number): SchedEntry {
  const entry = peer.entries.shift();
  if (!entry) throw new Error('qmgr_entry_select: no entry');
  const q = entry.queue;
  q.todo.delete(entry);
  q.busy.add(entry);
  peer.job.selectedEntries++;
  const backToBack = q.lastDone + 1 >= nowSec;
  if (!q.connStore) {
    if (backToBack) q.connLoad = q.connStore = true;
  } else if (!(q.busyRefcount > 1 || backToBack)) {
    q.connStore = false;
  }
  return entry;
}

/** Postfix qmgr_entry_unselect(): busy → todo, back at the head of its peer. */
export function entryUnselect(entry: SchedEntry): void {
  const q = entry.queue;
  q.busy.delete(entry);
  q.todo.add(entry);
  entry.peer.entries.unshift(entry);
  entry.peer.job.selectedEntries--;
}

/** Postfix qmgr_job_entry_select(): the next entry of this transport, or null. */
export function jobEntrySelect(t: SchedTransport, nowSec: number): SchedEntry | null {
  let job = t.jobCurrent;
  if (!job) return null;
  if (t.slotCost >= 2) job = jobPreempt(job, nowSec);
  for (let next: SchedJob | null; job; job = next) {
    next = job.next;
    if (isBlocker(job, t)) continue;
    const peer = hasEntries(job) ? peerSelect(job) : null;
    if (peer) {
      const entry = entrySelect(peer, nowSec);
      job.slotsAvailable++;
      job.slotsUsed++;
      t.jobCurrent = job;
      if (!hasEntries(job)) jobRetire(job);
      return entry;
    } else if (hasEntries(job)) {
      job.blockerTag = t.blockerTag;
      for (const p of job.peers) if (p.entries.length > 0) p.queue.blockerTag = t.blockerTag;
    } else {
      // Stalled job: retire it.
      jobRetire(job);
    }
  }
  t.jobCurrent = null;
  return null;
}

/** Postfix qmgr_job_blocker_update(): a blocking queue may have room again. */
export function jobBlockerUpdate(q: SchedQueue): void {
  const t = q.transport;
  if (q.blockerTag !== t.blockerTag) return;
  if (q.window > q.busyRefcount && q.todo.size > 0) {
    t.blockerTag += 2;
    t.jobCurrent = t.jobHead;
  }
  if (q.window > q.busyRefcount || q.throttled) q.blockerTag = 0;
}
