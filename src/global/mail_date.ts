/*
 * mail_date - RFC 5322 date-time for generated headers (Postfix mail_date.c)
 *
 * What it does: mailDate(sec) formats a UNIX time in the process's local
 * time zone as Postfix 3.7 does for Date: headers:
 * "Sat,  5 Dec 2026 20:38:17 +0000 (UTC)" - weekday, the day of month
 * space-padded to two columns (strftime %e), month, year, time, the
 * numeric UTC offset and the zone abbreviation in parentheses.
 *
 * What it does not do: parse dates.
 *
 * DIAGNOSTICS
 * None. When the runtime has no abbreviation for the zone the
 * parenthesised name is the one Intl gives (e.g. "GMT+1").
 */

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function zoneName(d: Date): string {
  if (d.getTimezoneOffset() === 0 && (process.env.TZ === undefined || process.env.TZ === '' || /^(UTC|Etc\/UTC|UTC0|:?UTC)$/.test(process.env.TZ))) {
    return 'UTC';
  }
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
  return part?.value ?? 'UTC';
}

/** The Date: header value for `sec` (seconds since the epoch). */
export function mailDate(sec: number): string {
  const d = new Date(sec * 1000);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const day = d.getDate();
  return (
    `${DAYS[d.getDay()]}, ${day < 10 ? ' ' + day : day} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ` +
    `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)} (${zoneName(d)})`
  );
}
