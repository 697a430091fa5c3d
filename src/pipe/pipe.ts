/*
 * pipe - the pipe(8) delivery agent: delivery to external commands (Postfix pipe.c)
 *
 * What it does: runs under master as a pipe-based transport (master.cf
 * `name unix - n n - - pipe flags=... user=... argv=...`), a single
 * server through delivery_agent.ts. Per request it checks, in Postfix's
 * order: the D and O flags need a single recipient (else 4.3.5 "mail
 * system configuration error" and the warning "pipe flag `D' requires
 * NAME_destination_recipient_limit = 1"); size= (5.2.3 "message too
 * large"); trace-only requests ("delivers to command: ARGV0"); the D
 * flag's loop check (5.4.6 "mail forwarding loop for ADDR"). Then it
 * expands the argv= macros (pipe_expand.ts: one argument per recipient
 * for the recipient macros, values never re-parsed) and runs the command
 * once with the whole recipient list (pipe_command.ts: no shell, as
 * user=, NAME_time_limit or command_time_limit). The outcome goes to
 * every recipient: exit 0 → sent "delivered via NAME service" (plus the
 * command output in parentheses, at most 100 bytes), action "delivered"
 * with the X flag, else "relayed"; a 4.x.x status → deferred; otherwise
 * bounced; each final recipient is crossed off. createPipeDeliver()
 * builds the deliver function for a service (tests use it in-process).
 *
 * What it does not do: chroot= (refused: Node cannot chroot), or
 * transport-specific address rewriting (neither does Postfix's pipe).
 *
 * DIAGNOSTICS
 * Bad master.cf attributes are fatal with Postfix's texts (pipe_attr.ts);
 * an unknown macro is a warning and the mail is deferred; "empty nexthop
 * hostname" defers the request with a warning. Not running as root, the
 * command runs with our own uid (Postern started unprivileged), once
 * warned: "not running as root: commands run with uid N instead of user=
 * uid M".
 */
import { msgFatal, msgWarn } from '../util/msg.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { singleServerMain } from '../master/mail_server.js';
import { deliveryAgentMain, type AgentServiceContext, type DeliveryContext } from '../global/delivery_agent.js';
import { DEL_REQ_FLAG, DEL_STAT, delReqTraceOnly, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { dsnMake, type Dsn } from '../global/dsn.js';
import { MAIL_COPY } from '../global/mail_copy.js';
import { sent } from '../global/sent.js';
import { bounceAppend } from '../global/bounce.js';
import { deferAppend } from '../global/defer.js';
import { PIPE_OPT, PipeAttrError, parsePipeAttr, pipeAttrOptionsFromConfig, pipeTimeLimit, type PipeAttr } from './pipe_attr.js';
import { PipeExpandError, expandPipeArgv, messageMacroValues } from './pipe_expand.js';
import { pipeCommand, type PipeStat } from './pipe_command.js';
import { deliveredHdrFind } from './pipe_delivered.js';

export const PIPE_PROGRAM = 'pipe';
/** Command output kept in the success reason (Postfix " (%.100s)"). */
export const PIPE_SUCCESS_OUTPUT_MAX = 100;

export interface PipeService {
  attr: PipeAttr;
  /** Seconds. */
  timeLimit: number;
}

/** Reads the service's attributes and time limit; throws PipeAttrError. */
export function pipeService(ctx: AgentServiceContext): PipeService {
  return { attr: parsePipeAttr(ctx.args, pipeAttrOptionsFromConfig(ctx.config)), timeLimit: pipeTimeLimit(ctx.config, ctx.serviceName) };
}

/** Postfix eval_command_status(): report every recipient; DEL_STAT for the reply. */
async function evalStatus(stat: PipeStat, dsn: Dsn, req: DeliverRequest, ctx: DeliveryContext, attr: PipeAttr): Promise<number> {
  const relay = ctx.serviceName;
  let result = 0;
  if (stat === 'corrupt') return 1;
  if (stat === 'ok') {
    const out = dsn.reason.trim();
    const reason = `delivered via ${ctx.serviceName} service${out ? ` (${out.slice(0, PIPE_SUCCESS_OUTPUT_MAX)})` : ''}`;
    const ok = dsnMake('2.0.0', reason, { action: attr.flags & PIPE_OPT.FINAL_DELIVERY ? 'delivered' : 'relayed' });
    for (const rcpt of req.recipients) {
      const st = await sent(ctx.status, req, rcpt, relay, ok);
      if (st === 0 && req.flags & DEL_REQ_FLAG.SUCCESS) result |= (await ctx.completed(req, rcpt)) === 0 ? 0 : 1;
      result |= st === 0 ? 0 : 1;
    }
    return result;
  }
  for (const rcpt of req.recipients) {
    if (dsn.status.charAt(0) !== '4') {
      const st = await bounceAppend(ctx.status, req, rcpt, relay, dsn);
      if (st === 0) result |= (await ctx.completed(req, rcpt)) === 0 ? 0 : 1;
      result |= st === 0 ? 0 : 1;
    } else {
      await deferAppend(ctx.status, req, rcpt, relay, dsn);
      result |= 1;
    }
  }
  return result;
}

function reply(status: number): DeliverReply {
  return { status: status === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: null };
}

let unprivilegedWarned = false;

/** Not root (an unprivileged Postern, or master.cf's unprivileged column): the command runs as we do. */
function warnUnprivileged(attr: PipeAttr): void {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (uid === 0 || uid === attr.uid || unprivilegedWarned) return;
  unprivilegedWarned = true;
  msgWarn(`not running as root: commands run with uid ${uid} instead of user= uid ${attr.uid} (set the master.cf unprivileged column to n)`);
}

/** Postfix deliver_message(). */
export function createPipeDeliver(svc: PipeService): (req: DeliverRequest, ctx: DeliveryContext) => Promise<DeliverReply> {
  const { attr } = svc;
  return async (req, ctx) => {
    const service = ctx.serviceName;
    if (req.nexthop === '') {
      msgWarn(`${req.queueId}: empty nexthop hostname`);
      return reply(1);
    }
    const configError = dsnMake('4.3.5', 'mail system configuration error');
    if (attr.flags & MAIL_COPY.DELIVERED && req.recipients.length > 1) {
      const st = await evalStatus('defer', configError, req, ctx, attr);
      msgWarn(`pipe flag \`D' requires ${service}_destination_recipient_limit = 1`);
      return reply(st);
    }
    if (attr.flags & MAIL_COPY.ORIG_RCPT && req.recipients.length > 1) {
      const st = await evalStatus('defer', configError, req, ctx, attr);
      msgWarn(`pipe flag \`O' requires ${service}_destination_recipient_limit = 1`);
      return reply(st);
    }
    if (attr.sizeLimit !== 0 && req.dataSize > attr.sizeLimit) {
      return reply(await evalStatus('bounce', dsnMake('5.2.3', 'message too large'), req, ctx, attr));
    }
    if (delReqTraceOnly(req.flags)) {
      const dsn = dsnMake('2.0.0', `delivers to command: ${attr.command[0] ?? ''}`);
      let st = 0;
      for (const rcpt of req.recipients) {
        const s = await sent(ctx.status, req, rcpt, service, dsn);
        if (s === 0 && req.flags & DEL_REQ_FLAG.SUCCESS) st |= (await ctx.completed(req, rcpt)) === 0 ? 0 : 1;
        st |= s === 0 ? 0 : 1;
      }
      return reply(st);
    }
    const queueFilePath = ctx.queueFilePath(req);
    if (attr.flags & MAIL_COPY.DELIVERED) {
      const rcpt = req.recipients[0]!;
      if (await deliveredHdrFind(queueFilePath, req.dataOffset, rcpt.address)) {
        return reply(await evalStatus('bounce', dsnMake('5.4.6', `mail forwarding loop for ${rcpt.address}`), req, ctx, attr));
      }
    }
    const values = messageMacroValues(req, attr.flags, attr.nullSender);
    let argv: string[];
    try {
      argv = expandPipeArgv(attr.command, {
        service,
        configDir: ctx.config.configDir,
        flags: attr.flags,
        recipientDelimiter: ctx.config.get('recipient_delimiter'),
        recipients: req.recipients,
        values,
      });
    } catch (e) {
      if (!(e instanceof PipeExpandError)) throw e;
      msgWarn(e.message);
      return reply(await evalStatus('defer', configError, req, ctx, attr));
    }
    const first = req.recipients[0]!;
    warnUnprivileged(attr);
    const result = await pipeCommand({
      argv,
      uid: attr.uid,
      gid: attr.gid,
      cwd: attr.execDir ?? ctx.queueDir,
      timeLimitMs: svc.timeLimit * 1000,
      exportEnv: ctx.config.getList('export_environment'),
      queueFilePath,
      dataOffset: req.dataOffset,
      sender: req.sender !== '' ? req.sender : attr.nullSender,
      flags: attr.flags & 0xffff,
      eol: attr.eol,
      deliveredTo: first.address.toLowerCase(),
      origRcpt: first.origAddress,
      procName: PIPE_PROGRAM,
    });
    if (result.stat === 'corrupt') msgWarn(`${req.queueId}: ${result.dsn.reason}`);
    return reply(await evalStatus(result.stat, result.dsn, req, ctx, attr));
  };
}

export async function main(argv: string[]): Promise<number> {
  let deliver: ((req: DeliverRequest, ctx: DeliveryContext) => Promise<DeliverReply>) | null = null;
  return deliveryAgentMain(argv, {
    skeleton: singleServerMain,
    programName: PIPE_PROGRAM,
    preInit(ctx: AgentServiceContext) {
      try {
        deliver = createPipeDeliver(pipeService(ctx));
      } catch (e) {
        if (e instanceof PipeAttrError) msgFatal(e.message);
        throw e;
      }
    },
    deliver(req, ctx) {
      if (deliver === null) deliver = createPipeDeliver(pipeService(ctx));
      return deliver(req, ctx);
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
