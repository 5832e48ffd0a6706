import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import type { FieldIssue } from '../../store/index.ts';
import { CrudScreen } from './crud-screen.ts';
import { display, h } from './dom.ts';
import { check, entityForm, field, select, str, type Choice } from './forms.ts';
import { byText, row, table } from './lists.ts';
import { t } from './i18n/index.ts';

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
  message: t('classes.yearEndsAfter'),
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
  const yearFilter = h('select', {
    'data-test': 'class-year-filter',
    'aria-label': t('field.academicYearId'),
  });
  const setup = h('div', { class: 'setup', 'data-test': 'years-levels' });
  const nameOf = (list: EntityRecord[], id: unknown, key: string): string =>
    display(list.find((e) => e.id === id)?.[key]);

  const drawFilter = (): void => {
    const chosen = yearFilter.value;
    yearFilter.replaceChildren(
      h('option', { value: '' }, t('classes.allYears')),
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
    title: t('classes.addYear'),
    saveLabel: t('classes.addYearButton'),
    fields: [
      field('label', t('classes.yearName'), h('input', { name: 'label' })),
      field('startDate', t('field.startDate'), h('input', { name: 'startDate', type: 'date' })),
      field('endDate', t('field.endDate'), h('input', { name: 'endDate', type: 'date' })),
    ],
    validate: (raw) => check(yearSchema, raw),
    onSave: adder('ACADEMIC_YEAR', () => addYear),
  });
  const addLevel: HTMLFormElement = entityForm({
    test: 'level-form',
    title: t('classes.addLevel'),
    saveLabel: t('classes.addLevelButton'),
    fields: [
      field('name', t('classes.levelName'), h('input', { name: 'name' })),
      field('rank', t('classes.levelOrder'), h('input', { name: 'rank', inputmode: 'numeric' })),
    ],
    validate: (raw) =>
      check(
        levelSchema,
        { name: raw.name ?? '', rank: raw.rank?.trim() === '' ? undefined : Number(raw.rank) },
        { rank: t('check.INTEGER') },
      ),
    onSave: adder('SCHOOL_LEVEL', () => addLevel),
  });
  const yearList = h('div', {});
  const levelList = h('div', {});
  setup.append(
    h('h2', {}, t('classes.yearsAndLevels')),
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
      table(
        [t('field.academicYearId'), t('field.startDate'), t('field.endDate')],
        yearRows,
        t('classes.noYears'),
      ),
    );
    levelList.replaceChildren(
      table([t('field.schoolLevelId'), t('field.rank')], levelRows, t('classes.noLevels')),
    );
  };

  const screen = new CrudScreen(
    bridge,
    fail,
    {
      type: 'CLASS',
      test: 'class',
      title: t('classes.title'),
      newLabel: t('classes.new'),
      headers: [t('field.classId'), t('field.schoolLevelId'), t('field.academicYearId')],
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
      describe: (c) => t('classes.describe', { name: display(c.name) }),
      empty: () =>
        years.length === 0 || levels.length === 0 ? t('classes.noneSetup') : t('classes.noneInYear'),
      form: (c, save, cancel) =>
        Promise.resolve(
          entityForm({
            test: 'class-form',
            title: c === null ? t('classes.new') : t('classes.edit'),
            fields: [
              field('name', t('classes.className'), h('input', { name: 'name', value: str(c?.name) })),
              field(
                'schoolLevelId',
                t('field.schoolLevelId'),
                select('schoolLevelId', levelChoices(levels), c?.schoolLevelId, t('classes.chooseLevel')),
              ),
              field(
                'academicYearId',
                t('field.academicYearId'),
                select(
                  'academicYearId',
                  yearChoices(years),
                  c?.academicYearId ?? (yearFilter.value || undefined),
                  t('classes.chooseYear'),
                ),
              ),
            ],
            validate: (raw) =>
              check(classSchema, raw, {
                schoolLevelId: t('classes.pleaseLevel'),
                academicYearId: t('classes.pleaseYear'),
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
