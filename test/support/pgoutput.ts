import type { Pgoutput } from 'pg-logical-replication';

/** A pgoutput Relation message for table `name` with these columns (name, type OID), as decoding sees it. */
export function relation(name: string, columns: [string, number][]): Pgoutput.MessageRelation {
  return {
    tag: 'relation',
    relationOid: 1,
    schema: 'public',
    name,
    replicaIdentity: 'full',
    keyColumns: [],
    columns: columns.map(([column, typeOid]) => ({
      name: column,
      flags: 0,
      typeOid,
      typeMod: -1,
      typeSchema: null,
      typeName: null,
      parser: (raw: unknown) => raw,
    })),
  };
}
