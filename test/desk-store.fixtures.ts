import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeskStore, type DeskStoreOptions } from '../desktop/store/index.ts';
import type { EntityType } from '../shared/entities.ts';
import type { Change, Operation } from '../shared/protocol.ts';

export const TENANT = '00000000-0000-4000-8000-0000000000aa';

/** A temp dir of real SQLite files, removed by `cleanup()`; stores opened through it are closed first. */
export function tempDesk(): {
  path: (name?: string) => string;
  open: (name?: string, options?: Partial<DeskStoreOptions>) => DeskStore;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'desk-store-'));
  const opened: DeskStore[] = [];
  const path = (name = 'desk.db'): string => join(dir, name);
  return {
    path,
    open(name, options) {
      const store = DeskStore.open(path(name), { tenantId: TENANT, ...options });
      opened.push(store);
      return store;
    },
    cleanup() {
      for (const store of opened) {
        try {
          store.close();
        } catch {
          // already closed by the test
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let seq = 0;

/** A server change as `/down` delivers it. */
export function change(
  entityType: EntityType,
  entityId: string,
  serverVersion: number,
  payload: Record<string, unknown>,
  operation: Operation = 'UPDATE',
): Change {
  seq += 1;
  return {
    id: String(seq),
    entityType,
    entityId,
    operation,
    payload:
      operation === 'DELETE'
        ? { id: entityId, tenantId: TENANT }
        : { ...payload, id: entityId, tenantId: TENANT, serverVersion },
    serverVersion,
    modifiedAt: '2024-09-02T08:00:00.000Z',
  };
}

export function studentChange(
  id: string,
  serverVersion: number,
  fields: Record<string, unknown> = {},
): Change {
  return change('STUDENT', id, serverVersion, { firstName: 'Jean', lastName: 'Dupont', ...fields });
}

export const uuid = (): string => randomUUID();
