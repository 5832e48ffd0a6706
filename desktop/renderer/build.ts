import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** The renderer's build output for `npm run desktop` and the harness (ignored by git). */
export const DEFAULT_RENDERER_OUT = join(here, 'dist');

/** Bundles the renderer (TypeScript → one browser script) and copies its page and styles to `outDir`. */
export async function buildRenderer(outDir: string = DEFAULT_RENDERER_OUT): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    sourcemap: true,
    logLevel: 'warning',
  });
  // The first-run form's script, with the same catalogues (desktop/electron/setup.html loads it).
  await build({
    entryPoints: [join(here, 'src', 'setup.ts')],
    outfile: join(outDir, 'setup.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'warning',
  });
  await copyFile(join(here, 'index.html'), join(outDir, 'index.html'));
  await copyFile(join(here, 'style.css'), join(outDir, 'style.css'));
  return outDir;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildRenderer(process.argv[2] ?? DEFAULT_RENDERER_OUT);
}
