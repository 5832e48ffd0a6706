export * from './entities.ts';
export * from './protocol.ts';
export * from './errors.ts';
