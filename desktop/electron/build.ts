import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildRenderer } from '../renderer/build.ts';

const here = dirname(fileURLToPath(import.meta.url));
/** Everything `electron` loads (ignored by git); packaged by electron-builder. */
export const ELECTRON_OUT = join(here, 'dist');

/** Builds the main process (ESM, node_modules left external), the sandboxed preload (one CJS file) and the renderer. */
export async function buildDesktop(outDir: string = ELECTRON_OUT): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(here, 'main.ts')],
    outfile: join(outDir, 'main.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  await build({
    entryPoints: [join(here, 'preload.ts')],
    outfile: join(outDir, 'preload.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['electron'],
    logLevel: 'warning',
  });
  await copyFile(join(here, 'setup.html'), join(outDir, 'setup.html'));
  await buildRenderer(join(outDir, 'renderer'));
}

await buildDesktop();
