/*
 * local_command - delivery to |command destinations and mailbox_command (Postfix local/command.c)
 *
 * What it does: deliverCommand() runs a command with the message on its
 * standard input: duplicate elimination per user and command, the rights
 * of the user (default_privs instead of root), Postfix's environment
 * (HOME, LOGNAME, USER, SENDER, RECIPIENT, LOCAL, SHELL, DOMAIN,
 * EXTENSION, ORIGINAL_RECIPIENT, CLIENT_*, SASL_*; every value censored
 * with command_expansion_filter, so an address can never carry shell
 * syntax), command_execution_directory (expanded, else the queue
 * directory), command_time_limit, and the From_/Return-Path:/X-Original-To:
 * headers plus Delivered-To: when prepend_delivered_header has "command".
 *
 * What it does not do: check allow_mail_to_commands (local_token.ts does,
 * as Postfix's token.c) or start the process (local_command_run.ts).
 *
 * DIAGNOSTICS
 * Postfix's texts: "delivered to command: CMD"; failures carry the
 * command's reason (sysexits text, command output, time limit); a bad
 * command_execution_directory defers "mail system configuration error".
 */
import { MAIL_COPY } from '../global/mail_copy.js';
import { dsnMake } from '../global/dsn.js';
import { delReqTraceOnly } from '../global/deliver_request.js';
import { msgWarn } from '../util/msg.js';
import { DELIVER_HDR } from './local_params.js';
import { beenHere, type LocalEnv, type LocalState, nextLevel, reportDefer, reportSent, type UserAttr } from './local_state.js';
import { censor, localExpand } from './local_expand.js';
import { runCommand } from './local_command_run.js';
import { bounceWorkaround } from './local_alias.js';
import { copyAttrs } from './local_mailbox.js';

export async function deliverCommand(env: LocalEnv, state: LocalState, usrIn: UserAttr, command: string): Promise<number> {
  const s = nextLevel(state);
  const usr = { ...usrIn };
  if (beenHere(env, `command ${s.msg.user}:${usr.uid} ${command}`)) return 0;
  if (delReqTraceOnly(env.req.flags)) return reportSent(env, s, '2.0.0', `delivers to command: ${command}`);
  const p = env.params;
  if (usr.uid === 0) usr.uid = p.defaultUid;
  if (usr.gid === 0) usr.gid = p.defaultGid;

  let flags: number = MAIL_COPY.FROM | MAIL_COPY.RETURN_PATH | MAIL_COPY.ORIG_RCPT;
  if (p.deliverHdrMask & DELIVER_HDR.CMD) flags |= MAIL_COPY.DELIVERED;

  const m = s.msg;
  const req = env.req;
  const vars: Array<[string, string]> = [];
  if (usr.home) vars.push(['HOME', usr.home]);
  vars.push(['LOGNAME', m.user], ['USER', m.user], ['SENDER', m.sender], ['RECIPIENT', m.rcpt.address], ['LOCAL', m.local]);
  if (usr.shell) vars.push(['SHELL', usr.shell]);
  if (m.domain) vars.push(['DOMAIN', m.domain]);
  if (m.extension) vars.push(['EXTENSION', m.extension]);
  if (m.rcpt.origAddress) vars.push(['ORIGINAL_RECIPIENT', m.rcpt.origAddress]);
  const fromReq: Array<[string, string]> = [
    ['CLIENT_HOSTNAME', req.clientName],
    ['CLIENT_ADDRESS', req.clientAddr],
    ['CLIENT_HELO', req.clientHelo],
    ['CLIENT_PROTOCOL', req.clientProto],
    ['SASL_METHOD', req.saslMethod],
    ['SASL_SENDER', req.saslSender],
    ['SASL_USERNAME', req.saslUsername],
  ];
  for (const [k, v] of fromReq) if (v) vars.push([k, v]);
  const env2 = vars.map(([k, v]): [string, string] => [k, censor(v, p.commandExpansionFilter)]);

  const dir = localExpand(p.commandExecutionDirectory, s, usr, p.recipientDelimiter, p.execDirExpansionFilter);
  if (dir.error) {
    msgWarn(`bad parameter value syntax for command_execution_directory: ${p.commandExecutionDirectory}`);
    return reportDefer(env, s, dsnMake('4.3.5', 'mail system configuration error'));
  }
  const result = await runCommand({
    command,
    ...(env.privileged ? { uid: usr.uid, gid: usr.gid } : {}),
    env: env2,
    exportNames: p.exportEnvironment,
    shell: p.localCommandShell,
    cwd: dir.value !== '' ? dir.value : p.queueDirectory,
    timeLimitMs: p.commandTimeLimitMs,
    copy: { ...copyAttrs(env, s), flags },
  });
  switch (result.status) {
    case 'ok':
      return reportSent(env, s, '2.0.0', `delivered to command: ${command}`);
    case 'bounce':
    case 'defer':
      return bounceWorkaround(env, s, result.dsn);
    default:
      return -1;
  }
}
