/*
 * sys_exits - sysexits(3) codes as delivery status (Postfix sys_exits.c)
 *
 * What it does: the table from a command's sysexits.h exit status to
 * Postfix's enhanced status code and text, which local(8) and pipe(8)
 * use to judge command deliveries (4.x.x defers, 5.x.x bounces), and
 * sysExitsDetail() with Postfix's answer for codes outside the table.
 *
 * What it does not do: run commands or decide what an exit status
 * outside sysexits.h means for a particular agent.
 *
 * DIAGNOSTICS
 * None: a table and a lookup.
 */

export const SYS_EXITS: Readonly<Record<number, { dsn: string; text: string }>> = {
  64: { dsn: '5.3.0', text: 'command line usage error' },
  65: { dsn: '5.6.0', text: 'data format error' },
  66: { dsn: '5.3.0', text: 'cannot open input' },
  67: { dsn: '5.1.1', text: 'user unknown' },
  68: { dsn: '5.1.2', text: 'host name unknown' },
  69: { dsn: '5.3.0', text: 'service unavailable' },
  70: { dsn: '5.3.0', text: 'internal software error' },
  71: { dsn: '4.3.0', text: 'system resource problem' },
  72: { dsn: '5.3.0', text: 'critical OS file missing' },
  73: { dsn: '5.2.0', text: "can't create user output file" },
  74: { dsn: '5.3.0', text: 'input/output error' },
  75: { dsn: '4.3.0', text: 'temporary failure' },
  76: { dsn: '5.5.0', text: 'remote error in protocol' },
  77: { dsn: '5.7.0', text: 'permission denied' },
  78: { dsn: '5.3.5', text: 'local configuration error' },
};
export const EX_SOFTWARE = 70;
export const EX_TEMPFAIL = 75;

/** Postfix sys_exits_detail(): unknown codes are 5.3.0 "unknown mail system error N". */
export function sysExitsDetail(code: number): { dsn: string; text: string } {
  return SYS_EXITS[code] ?? { dsn: '5.3.0', text: `unknown mail system error ${code}` };
}
