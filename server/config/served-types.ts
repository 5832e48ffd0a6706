import type { EntityType } from '../../shared/entities.ts';
import { SyncError } from '../errors.ts';
import type { SyncRules } from './rules.ts';

/**
 * The requested entity types, all of which must be served by the sync rules (else 400
 * UNKNOWN_ENTITY_TYPE); null when the request names none and the rules serve every type (no filter).
 */
export function servedTypesFilter(
  rules: SyncRules,
  requested: readonly EntityType[] | undefined,
  allTypes: readonly EntityType[],
): EntityType[] | null {
  if (requested === undefined) {
    return rules.entityTypes.length === allTypes.length ? null : [...rules.entityTypes];
  }
  checkServed(rules, requested);
  return [...new Set(requested)];
}

export function checkServed(rules: SyncRules, requested: readonly EntityType[]): void {
  const unserved = requested.filter((type) => !rules.entityTypes.includes(type));
  if (unserved.length > 0) {
    throw new SyncError(
      'UNKNOWN_ENTITY_TYPE',
      `entity types not served: ${unserved.join(', ')}`,
      unserved.map((type) => ({ field: 'entityTypes', message: `${type} is not served by this server` })),
    );
  }
}
