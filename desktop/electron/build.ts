import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { buildRenderer } from '../renderer/build.ts';

const here = dirname(fileURLToPath(import.meta.url));
/** Everything `electron` loads (ignored by git); packaged by electron-builder. */
export const ELECTRON_OUT = join(here, 'dist');

/**
 * Builds the main process and its page worker (ESM, node_modules left external), the sandboxed preload (one CJS
 * file) and the renderer.
 */
export async function buildDesktop(outDir: string = ELECTRON_OUT): Promise<void> {
  await mkdir(outDir, { recursive: true });
  // The main process, and the worker that decodes a long download's pages (desktop/sync/page-decoder.ts),
  // which main.mjs finds beside itself.
  for (const [entry, file] of [
    [join(here, 'main.ts'), 'main.mjs'],
    [join(here, '..', 'sync', 'page-worker.ts'), 'page-worker.mjs'],
  ] as const) {
    await build({
      entryPoints: [entry],
      outfile: join(outDir, file),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      sourcemap: true,
      logLevel: 'warning',
    });
  }
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
