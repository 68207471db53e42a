/**
 * CSV for files a spreadsheet will open: RFC 4180 quoting, and every cell that a spreadsheet would
 * read as a formula (starting with =, +, -, @, a tab or a carriage return) prefixed with a single
 * quote, as OWASP's CSV-injection guidance says, so a predicted or user-written text cannot run.
 */

const FORMULA_START = /^[=+\-@\t\r]/
const NEEDS_QUOTES = /[",\r\n]/

/** One cell, neutralised and quoted as needed. */
export function csvCell(value: string | number | boolean | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value)
  if (FORMULA_START.test(text)) text = `'${text}`
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** Rows of cells as CSV text, CRLF line ends (RFC 4180), a final line end included. */
export function toCsv(rows: readonly (readonly (string | number | boolean | null | undefined)[])[]): string {
  return rows.map((row) => row.map(csvCell).join(',')).join('\r\n') + (rows.length > 0 ? '\r\n' : '')
}
