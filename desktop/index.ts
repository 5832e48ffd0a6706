/** The desk library hosted by the Electron app. `sync/` (upload loop, catch-up, live socket) comes next. */
export * from './store/index.ts';
