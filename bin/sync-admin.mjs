#!/usr/bin/env node
// Launcher of the package's `sync-admin` command (npx sync-admin …): registers tsx, a runtime dependency,
// in this process and runs the TypeScript CLI, which sets the exit status. Paths resolve from this file,
// so it works from any working directory.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../server/admin/cli.ts', import.meta.url).href);
