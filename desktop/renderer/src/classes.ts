import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import type { FieldIssue } from '../../store/index.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { check, entityForm, field, select, str, type Choice } from './forms.ts';
import { byText, row, table } from './lists.ts';

const classSchema = entityPayloadSchemas.CLASS.pick({
  name: true,
  schoolLevelId: true,
  academicYearId: true,
});
const yearSchema = entityPayloadSchemas.ACADEMIC_YEAR.pick({
  label: true,
  startDate: true,
  endDate: true,
}).refine((y) => y.endDate > y.startDate, {
  path: ['endDate'],
  message: 'The year must end after it starts.',
});
const levelSchema = entityPayloadSchemas.SCHOOL_LEVEL.pick({ name: true, rank: true });

const yearChoices = (years: EntityRecord[]): Choice[] =>
  years
    .slice()
    .sort(byText('startDate'))
    .reverse()
    .map((y) => ({ value: y.id, label: str(y.label) }));
const levelChoices = (levels: EntityRecord[]): Choice[] =>
  levels
    .slice()
    .sort((a, b) => Number(a.rank) - Number(b.rank) || a.id.localeCompare(b.id))
    .map((l) => ({ value: l.id, label: str(l.name) }));

/**
 * Classes of a school year (or of all years), with create, edit and delete; below them the school years
 * and levels a class needs, each with a small form to add one.
 */
export function classesScreen(bridge: DeskBridge, fail: (err: unknown) => void): CrudScreen {
  let years: EntityRecord[] = [];
  let levels: EntityRecord[] = [];
  const yearFilter = h('select', { 'data-test': 'class-year-filter', 'aria-label': 'School year' });
  const setup = h('div', { class: 'setup', 'data-test': 'years-levels' });
  const nameOf = (list: EntityRecord[], id: unknown, key: string): string =>
    display(list.find((e) => e.id === id)?.[key]);

  const drawFilter = (): void => {
    const chosen = yearFilter.value;
    yearFilter.replaceChildren(
      h('option', { value: '' }, 'All school years'),
      ...yearChoices(years).map((c) =>
        h('option', { value: c.value, ...(c.value === chosen ? { selected: true } : {}) }, c.label),
      ),
    );
  };

  /** Saves a new year or level, then empties its form and redraws. */
  const adder =
    (type: 'ACADEMIC_YEAR' | 'SCHOOL_LEVEL', form: () => HTMLFormElement) =>
    async (values: Record<string, unknown>): Promise<FieldIssue[]> => {
      const result = await bridge.create(type, values);
      if (!result.ok) return result.issues;
      form().reset();
      screen.refresh();
      return [];
    };
  const addYear: HTMLFormElement = entityForm({
    test: 'year-form',
    title: 'Add a school year',
    saveLabel: 'Add year',
    fields: [
      field('label', 'Name (e.g. 2025-2026)', h('input', { name: 'label' })),
      field('startDate', 'First day', h('input', { name: 'startDate', type: 'date' })),
      field('endDate', 'Last day', h('input', { name: 'endDate', type: 'date' })),
    ],
    validate: (raw) => check(yearSchema, raw),
    onSave: adder('ACADEMIC_YEAR', () => addYear),
  });
  const addLevel: HTMLFormElement = entityForm({
    test: 'level-form',
    title: 'Add a level',
    saveLabel: 'Add level',
    fields: [
      field('name', 'Name (e.g. Grade 3)', h('input', { name: 'name' })),
      field('rank', 'Order (1 for the youngest pupils)', h('input', { name: 'rank', inputmode: 'numeric' })),
    ],
    validate: (raw) =>
      check(
        levelSchema,
        { name: raw.name ?? '', rank: raw.rank?.trim() === '' ? undefined : Number(raw.rank) },
        { rank: 'Please enter a whole number.' },
      ),
    onSave: adder('SCHOOL_LEVEL', () => addLevel),
  });
  const yearList = h('div', {});
  const levelList = h('div', {});
  setup.append(
    h('h2', {}, 'School years and levels'),
    h(
      'div',
      { class: 'columns' },
      h('div', { class: 'list' }, yearList, addYear),
      h('div', { class: 'list' }, levelList, addLevel),
    ),
  );

  /** Redraws the lists only: a half-filled form keeps what was typed. */
  const drawSetup = (): void => {
    const yearRows = years
      .slice()
      .sort(byText('startDate'))
      .map((y) => row('year-row', y, display(y.label), display(y.startDate), display(y.endDate)));
    const levelRows = levelChoices(levels).map((c) => {
      const level = levels.find((l) => l.id === c.value);
      return level === undefined ? h('tr', {}) : row('level-row', level, c.label, display(level.rank));
    });
    yearList.replaceChildren(
      table(['School year', 'First day', 'Last day'], yearRows, 'No school years yet.'),
    );
    levelList.replaceChildren(table(['Level', 'Order'], levelRows, 'No levels yet.'));
  };

  const screen = new CrudScreen(
    bridge,
    fail,
    {
      type: 'CLASS',
      test: 'class',
      title: 'Classes',
      newLabel: 'New class',
      headers: ['Class', 'Level', 'School year'],
      load: async () => {
        [years, levels] = await Promise.all([
          bridge.list({ type: 'ACADEMIC_YEAR' }),
          bridge.list({ type: 'SCHOOL_LEVEL' }),
        ]);
        drawFilter();
        drawSetup();
        const year = yearFilter.value;
        const classes =
          year === ''
            ? await bridge.list({ type: 'CLASS', limit: 5_000 })
            : await bridge.query({ name: 'classesOfYear', academicYearId: year });
        return classes.sort(byText('name'));
      },
      cells: (c) => [
        display(c.name),
        nameOf(levels, c.schoolLevelId, 'name'),
        nameOf(years, c.academicYearId, 'label'),
      ],
      describe: (c) => `the class ${display(c.name)}`,
      empty: () =>
        years.length === 0 || levels.length === 0
          ? 'No classes yet. Add a school year and a level below first.'
          : 'No classes in this school year yet.',
      form: (c, save, cancel) =>
        Promise.resolve(
          entityForm({
            test: 'class-form',
            title: c === null ? 'New class' : 'Edit class',
            fields: [
              field('name', 'Name (e.g. 3B)', h('input', { name: 'name', value: str(c?.name) })),
              field(
                'schoolLevelId',
                'Level',
                select('schoolLevelId', levelChoices(levels), c?.schoolLevelId, 'Choose a level'),
              ),
              field(
                'academicYearId',
                'School year',
                select(
                  'academicYearId',
                  yearChoices(years),
                  c?.academicYearId ?? (yearFilter.value || undefined),
                  'Choose a school year',
                ),
              ),
            ],
            validate: (raw) =>
              check(classSchema, raw, {
                schoolLevelId: 'Please choose a level.',
                academicYearId: 'Please choose a school year.',
              }),
            onSave: save,
            onCancel: cancel,
          }),
        ),
    },
    [yearFilter],
  );
  yearFilter.addEventListener('change', () => screen.refresh());
  screen.below.append(setup);
  return screen;
}
