/**
 * How results are printed: a table for people, JSON for scripts (`--json`). Commands build plain records
 * and pick columns; nothing here knows a command.
 */

export interface Column<Row> {
  header: string;
  value(row: Row): string;
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. Control characters become spaces. */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = [
    columns.map((c) => c.header),
    ...rows.map((row) => columns.map((c) => c.value(row).replace(/\p{Cc}/gu, ' '))),
  ];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => width(line[i] ?? ''))));
  return cells
    .map((line) =>
      line
        .map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - width(cell)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Rows as JSON when `json`, else as a table. */
export function formatRows<Row>(
  rows: readonly Row[],
  columns: readonly Column<Row>[],
  json: boolean,
): string {
  return json ? formatJson(rows) : formatTable(rows, columns);
}

/** Width in code points, so an accented name does not shift its column. */
function width(text: string): number {
  return [...text.normalize('NFC')].length;
}
