/*
 * postconf_print - one postconf output line, as Postfix's pcf_print_line() makes it
 *
 * What it does: formatLine() joins the words of a text with single spaces
 * (any run of blanks, tabs, CR or LF between words becomes one space) and,
 * with -f, folds before a word that would make the line reach
 * PCF_LINE_LIMIT, continuing with a PCF_INDENT_LEN indent. Both the
 * main.cf modes (postconf_show.ts) and the master.cf modes
 * (postconf_master_print.ts) print through it.
 *
 * What it does not do: the column layout of master.cf entries
 * (postconf_master_print.ts), or write anything.
 *
 * DIAGNOSTICS
 * None.
 */

/** Postfix's PCF_LINE_LIMIT: -f folds before a word that would reach it. */
export const PCF_LINE_LIMIT = 80;
/** Continuation indent with -f (PCF_INDENT_LEN / PCF_INDENT_TEXT). */
export const PCF_INDENT_LEN = 4;
export const PCF_INDENT_TEXT = ' '.repeat(PCF_INDENT_LEN);
/** Word separators of pcf_print_line() (MASTER_BLANKS as a pattern). */
const PCF_SEPARATORS = /[ \t\r\n]+/;

/** One output line (with its newline), white space normalised, optionally folded. */
export function formatLine(text: string, fold: boolean): string {
  let out = '';
  let len = 0;
  for (const word of text.split(PCF_SEPARATORS)) {
    if (word === '') continue;
    if (len > 0) {
      if (!fold || len + word.length < PCF_LINE_LIMIT) {
        out += ' ';
        len += 1;
      } else {
        out += `\n${PCF_INDENT_TEXT}`;
        len = PCF_INDENT_LEN;
      }
    }
    out += word;
    len += word.length;
  }
  return `${out}\n`;
}
