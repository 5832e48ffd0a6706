import { describe, expect, it } from 'vitest';
import { formatRows, formatTable, type Column } from '../server/admin/output.ts';

interface Row {
  id: string;
  name: string;
}
const COLUMNS: Column<Row>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'NAME', value: (r) => r.name },
];

describe('sync-admin output', () => {
  it('a table aligns its columns, has no trailing blanks and keeps one row per line', () => {
    const rows = [
      { id: '1', name: 'Lycée' },
      { id: '22222', name: 'two\nlines\tand tab' },
    ];
    expect(formatTable(rows, COLUMNS).split('\n')).toEqual([
      'ID     NAME',
      '1      Lycée',
      '22222  two lines and tab',
    ]);
    expect(formatTable([], COLUMNS)).toBe('ID  NAME');
  });

  it('--json prints the records themselves', () => {
    const rows = [{ id: '1', name: 'A' }];
    expect(JSON.parse(formatRows(rows, COLUMNS, true))).toEqual(rows);
    expect(formatRows(rows, COLUMNS, false)).toBe('ID  NAME\n1   A');
  });
});
