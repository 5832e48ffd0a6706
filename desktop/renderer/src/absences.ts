import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge } from '../../bridge.ts';
import { display, h } from './dom.ts';
import { check, entityForm, field, select, str } from './forms.ts';
import { StudentRecordsScreen } from './student-records.ts';

const absenceSchema = entityPayloadSchemas.ABSENCE.pick({ date: true, reason: true, justified: true });
const incidentSchema = entityPayloadSchemas.DISCIPLINARY_INCIDENT.pick({
  date: true,
  description: true,
  severity: true,
});
const SEVERITIES = [
  { value: 'LOW', label: 'Minor' },
  { value: 'MEDIUM', label: 'Serious' },
  { value: 'HIGH', label: 'Very serious' },
];
const severityLabel = (value: unknown): string =>
  SEVERITIES.find((s) => s.value === value)?.label ?? display(value);
const today = (): string => new Date().toLocaleDateString('en-CA');
const dateField = (): HTMLElement =>
  field('date', 'Day', h('input', { name: 'date', type: 'date', value: today() }));

/** A student's absences and incidents, newest first, each with a form to add one. */
export function absencesScreen(bridge: DeskBridge, fail: (err: unknown) => void): StudentRecordsScreen {
  return new StudentRecordsScreen(bridge, fail, 'absences', 'Absences and incidents', [
    {
      type: 'ABSENCE',
      test: 'absence',
      title: 'Absences',
      headers: ['Day', 'Reason', 'Excused'],
      query: (studentId) => ({ name: 'absencesOfStudent', studentId }),
      cells: (a) => [display(a.date), display(a.reason), display(a.justified)],
      describe: (a) => `the absence of ${display(a.date)}`,
      empty: 'No absences.',
      form: (add) =>
        entityForm({
          test: 'absence-form',
          title: 'Record an absence',
          saveLabel: 'Add absence',
          fields: [
            dateField(),
            field('reason', 'Reason', h('textarea', { name: 'reason', rows: '2' })),
            h(
              'label',
              { class: 'check' },
              h('input', { type: 'checkbox', name: 'justified' }),
              ' Excused (a note or a good reason was given)',
            ),
          ],
          validate: (raw) =>
            check(
              absenceSchema.refine((a) => a.reason.trim() !== '', {
                path: ['reason'],
                message: 'Please say why, even briefly.',
              }),
              { date: raw.date ?? '', reason: raw.reason ?? '', justified: raw.justified === 'on' },
            ),
          onSave: (values) => add({ ...values }),
        }),
    },
    {
      type: 'DISCIPLINARY_INCIDENT',
      test: 'incident',
      title: 'Incidents',
      headers: ['Day', 'What happened', 'How serious'],
      query: (studentId) => ({ name: 'incidentsOfStudent', studentId }),
      cells: (i) => [display(i.date), display(i.description), severityLabel(i.severity)],
      describe: (i) => `the incident of ${display(i.date)}`,
      empty: 'No incidents.',
      form: (add) =>
        entityForm({
          test: 'incident-form',
          title: 'Record an incident',
          saveLabel: 'Add incident',
          fields: [
            dateField(),
            field('description', 'What happened', h('textarea', { name: 'description', rows: '3' })),
            field('severity', 'How serious', select('severity', SEVERITIES, 'LOW')),
          ],
          validate: (raw) =>
            check(
              incidentSchema.refine((i) => i.description.trim() !== '', {
                path: ['description'],
                message: 'Please describe what happened.',
              }),
              { date: raw.date ?? '', description: raw.description ?? '', severity: str(raw.severity) },
            ),
          onSave: (values) => add({ ...values }),
        }),
    },
  ]);
}
