import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';
import { check, entityForm, field, select, str, type Checked } from './forms.ts';
import { StudentRecordsScreen } from './student-records.ts';
import { amountExample, formatDate, formatMoney, schoolCurrency, t, tOr } from './i18n/index.ts';

const paymentSchema = entityPayloadSchemas.PAYMENT.pick({
  amountCents: true,
  currency: true,
  method: true,
  paidAt: true,
}).refine((p) => p.amountCents > 0, { path: ['amountCents'], message: t('payments.above0') });

export const PAYMENT_METHODS = ['Cash', 'Bank transfer', 'Mobile money', 'Cheque', 'Card'];

export interface PaymentValues {
  amountCents: number;
  currency: string;
  method: string;
  paidAt: string;
}

/** "12,50", "12.50" or "15 000" → whole cents (1250, 1500000); anything else is not an amount. */
export function toCents(text: string): number | undefined {
  // Spaces group thousands as people type them ("15 000", also the no-break ones Intl writes).
  const clean = text.replace(/[\s\u00a0\u202f]/g, '').replace(',', '.');
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return undefined;
  return Math.round(Number(clean) * 100);
}

/** The form's amount in currency units becomes whole cents; the day paid becomes noon that day, local time. */
export function validatePayment(raw: Record<string, string>): Checked<PaymentValues> {
  const day = raw.paidOn ?? '';
  const paidAt = /^\d{4}-\d{2}-\d{2}$/.test(day) ? new Date(`${day}T12:00:00`).toISOString() : '';
  const checked = check(
    paymentSchema,
    {
      amountCents: toCents(raw.amount ?? ''),
      currency: (raw.currency ?? '').trim().toUpperCase(),
      method: raw.method ?? '',
      paidAt,
    },
    {
      amountCents: t('payments.pleaseAmount', { example: amountExample(schoolCurrency) }),
      currency: t('payments.pleaseCurrency'),
      method: t('payments.pleaseMethod'),
      paidAt: t('payments.pleaseDay'),
    },
  );
  if ('values' in checked) return checked;
  // The form's fields are named for what the secretary types.
  const names: Record<string, string> = { amountCents: 'amount', paidAt: 'paidOn' };
  return { issues: checked.issues.map((i) => ({ ...i, field: names[i.field] ?? i.field })) };
}

function money(p: EntityRecord): string {
  return formatMoney(Number(p.amountCents), str(p.currency));
}

/** Payments of one student, newest first, and a form to record a payment. */
export function paymentsScreen(bridge: DeskBridge, fail: (err: unknown) => void): StudentRecordsScreen {
  const today = (): string => new Date().toLocaleDateString('en-CA');
  const methodLabel = (method: string): string => tOr(`method.${method}`, method);
  return new StudentRecordsScreen(bridge, fail, 'payments', t('payments.title'), [
    {
      type: 'PAYMENT',
      test: 'payment',
      title: t('payments.title'),
      headers: [t('payments.paidOn'), t('payments.amount'), t('payments.how')],
      query: (studentId) => ({ name: 'paymentsOfStudent', studentId }),
      cells: (p) => [formatDate(str(p.paidAt)), money(p), methodLabel(str(p.method))],
      describe: (p) => t('payments.describe', { amount: money(p) }),
      empty: t('payments.none'),
      form: (add) =>
        entityForm({
          test: 'payment-form',
          title: t('payments.record'),
          saveLabel: t('payments.add'),
          fields: [
            field(
              'amount',
              t('payments.amountLabel', { example: amountExample(schoolCurrency) }),
              h('input', { name: 'amount', inputmode: 'decimal' }),
            ),
            field(
              'currency',
              t('payments.currency'),
              h('input', { name: 'currency', value: schoolCurrency, maxlength: '3' }),
            ),
            field(
              'method',
              t('payments.paidBy'),
              select(
                'method',
                PAYMENT_METHODS.map((m) => ({ value: m, label: methodLabel(m) })),
                'Cash',
              ),
            ),
            field(
              'paidOn',
              t('payments.paidOn'),
              h('input', { name: 'paidOn', type: 'date', value: today() }),
            ),
          ],
          validate: validatePayment,
          onSave: (values) => add({ ...values }),
        }),
    },
  ]);
}
