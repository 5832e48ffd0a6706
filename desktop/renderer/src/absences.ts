import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge } from '../../bridge.ts';
import { display, h } from './dom.ts';
import { check, entityForm, field, select, str } from './forms.ts';
import { StudentRecordsScreen } from './student-records.ts';
import { t } from './i18n/index.ts';

const absenceSchema = entityPayloadSchemas.ABSENCE.pick({ date: true, reason: true, justified: true });
const incidentSchema = entityPayloadSchemas.DISCIPLINARY_INCIDENT.pick({
  date: true,
  description: true,
  severity: true,
});
const SEVERITIES = [
  { value: 'LOW', label: t('severity.LOW') },
  { value: 'MEDIUM', label: t('severity.MEDIUM') },
  { value: 'HIGH', label: t('severity.HIGH') },
];
const severityLabel = (value: unknown): string =>
  SEVERITIES.find((s) => s.value === value)?.label ?? display(value);
const today = (): string => new Date().toLocaleDateString('en-CA');
const dateField = (): HTMLElement =>
  field('date', t('absences.day'), h('input', { name: 'date', type: 'date', value: today() }));

/** A student's absences and incidents, newest first, each with a form to add one. */
export function absencesScreen(bridge: DeskBridge, fail: (err: unknown) => void): StudentRecordsScreen {
  return new StudentRecordsScreen(bridge, fail, 'absences', t('absences.title'), [
    {
      type: 'ABSENCE',
      test: 'absence',
      title: t('absences.absences'),
      headers: [t('absences.day'), t('absences.reason'), t('absences.excused')],
      query: (studentId) => ({ name: 'absencesOfStudent', studentId }),
      cells: (a) => [display(a.date), display(a.reason), display(a.justified)],
      describe: (a) => t('absences.describe', { date: display(a.date) }),
      empty: t('absences.none'),
      form: (add) =>
        entityForm({
          test: 'absence-form',
          title: t('absences.record'),
          saveLabel: t('absences.add'),
          fields: [
            dateField(),
            field('reason', t('absences.reason'), h('textarea', { name: 'reason', rows: '2' })),
            h(
              'label',
              { class: 'check' },
              h('input', { type: 'checkbox', name: 'justified' }),
              ` ${t('absences.excusedLabel')}`,
            ),
          ],
          validate: (raw) =>
            check(
              absenceSchema.refine((a) => a.reason.trim() !== '', {
                path: ['reason'],
                message: t('absences.sayWhy'),
              }),
              { date: raw.date ?? '', reason: raw.reason ?? '', justified: raw.justified === 'on' },
            ),
          onSave: (values) => add({ ...values }),
        }),
    },
    {
      type: 'DISCIPLINARY_INCIDENT',
      test: 'incident',
      title: t('incidents.title'),
      headers: [t('absences.day'), t('incidents.what'), t('incidents.how')],
      query: (studentId) => ({ name: 'incidentsOfStudent', studentId }),
      cells: (i) => [display(i.date), display(i.description), severityLabel(i.severity)],
      describe: (i) => t('incidents.describe', { date: display(i.date) }),
      empty: t('incidents.none'),
      form: (add) =>
        entityForm({
          test: 'incident-form',
          title: t('incidents.record'),
          saveLabel: t('incidents.add'),
          fields: [
            dateField(),
            field('description', t('incidents.what'), h('textarea', { name: 'description', rows: '3' })),
            field('severity', t('incidents.how'), select('severity', SEVERITIES, 'LOW')),
          ],
          validate: (raw) =>
            check(
              incidentSchema.refine((i) => i.description.trim() !== '', {
                path: ['description'],
                message: t('incidents.describeWhat'),
              }),
              { date: raw.date ?? '', description: raw.description ?? '', severity: str(raw.severity) },
            ),
          onSave: (values) => add({ ...values }),
        }),
    },
  ]);
}
