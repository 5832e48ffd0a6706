import { entityPayloadSchemas } from '../../../shared/entities.ts';
import type { DeskBridge, EntityRecord } from '../../bridge.ts';
import { h } from './dom.ts';
import { check, entityForm, field, select, str, type Checked } from './forms.ts';
import { StudentRecordsScreen } from './student-records.ts';

const paymentSchema = entityPayloadSchemas.PAYMENT.pick({
  amountCents: true,
  currency: true,
  method: true,
  paidAt: true,
}).refine((p) => p.amountCents > 0, { path: ['amountCents'], message: 'Please enter an amount above 0.' });

export const PAYMENT_METHODS = ['Cash', 'Bank transfer', 'Mobile money', 'Cheque', 'Card'];

export interface PaymentValues {
  amountCents: number;
  currency: string;
  method: string;
  paidAt: string;
}

/** "12,50" or "12.50" → 1250 (cents); anything else is not an amount. */
export function toCents(text: string): number | undefined {
  const clean = text.trim().replace(/\s/g, '').replace(',', '.');
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
      amountCents: 'Please enter an amount, like 12.50.',
      currency: 'Please enter a three-letter currency code, like EUR.',
      method: 'Please choose how it was paid.',
      paidAt: 'Please enter the day it was paid.',
    },
  );
  if ('values' in checked) return checked;
  // The form's fields are named for what the secretary types.
  const names: Record<string, string> = { amountCents: 'amount', paidAt: 'paidOn' };
  return { issues: checked.issues.map((i) => ({ ...i, field: names[i.field] ?? i.field })) };
}

function money(p: EntityRecord): string {
  return `${(Number(p.amountCents) / 100).toFixed(2)} ${str(p.currency)}`;
}

/** Payments of one student, newest first, and a form to record a payment. */
export function paymentsScreen(bridge: DeskBridge, fail: (err: unknown) => void): StudentRecordsScreen {
  const today = (): string => new Date().toLocaleDateString('en-CA');
  return new StudentRecordsScreen(bridge, fail, 'payments', 'Payments', [
    {
      type: 'PAYMENT',
      test: 'payment',
      title: 'Payments',
      headers: ['Paid on', 'Amount', 'How'],
      query: (studentId) => ({ name: 'paymentsOfStudent', studentId }),
      cells: (p) => [new Date(str(p.paidAt)).toLocaleDateString('en-CA'), money(p), str(p.method)],
      describe: (p) => `the payment of ${money(p)}`,
      empty: 'No payments yet.',
      form: (add) =>
        entityForm({
          test: 'payment-form',
          title: 'Record a payment',
          saveLabel: 'Add payment',
          fields: [
            field('amount', 'Amount (e.g. 12.50)', h('input', { name: 'amount', inputmode: 'decimal' })),
            field('currency', 'Currency', h('input', { name: 'currency', value: 'EUR', maxlength: '3' })),
            field(
              'method',
              'Paid by',
              select(
                'method',
                PAYMENT_METHODS.map((m) => ({ value: m, label: m })),
                'Cash',
              ),
            ),
            field('paidOn', 'Paid on', h('input', { name: 'paidOn', type: 'date', value: today() })),
          ],
          validate: validatePayment,
          onSave: (values) => add({ ...values }),
        }),
    },
  ]);
}
