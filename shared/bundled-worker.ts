import { isBuiltin } from 'node:module';
import { build, type Plugin } from 'esbuild';

/**
 * A worker thread's TypeScript module and what it imports from the project, as one JavaScript module
 * (a data: URL) to start a Worker from. Loaded through tsx (worker-entry.mjs), a worker registers the
 * loader again, on a thread of its own, and compiles module by module: ~420 ms before its first line
 * runs, against ~100 ms for the same code bundled here, once per process and entry (~25 ms). Capture
 * starts a replication worker for every session, so each start and each restart after a failure waited
 * for it (issue 12).
 *
 * Packages are not bundled: they stay imports, by absolute URL as Node resolves them from here, since a
 * data: module resolves no bare name. Names are kept, so the worker's stack traces name its functions.
 */
export function bundledWorker(entry: URL): Promise<URL> {
  let bundle = bundles.get(entry.href);
  if (bundle === undefined) {
    bundle = bundleOf(entry);
    bundles.set(entry.href, bundle);
    // A failed bundle is not kept: the next session tries again.
    bundle.catch(() => bundles.delete(entry.href));
  }
  return bundle;
}

const bundles = new Map<string, Promise<URL>>();

async function bundleOf(entry: URL): Promise<URL> {
  const result = await build({
    entryPoints: [decodeURIComponent(entry.pathname)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    keepNames: true,
    write: false,
    logLevel: 'silent',
    plugins: [packagesByUrl],
  });
  const code = result.outputFiles[0]?.text;
  if (code === undefined) throw new Error(`bundling ${entry.href} gave no output`);
  return new URL(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

/** Every import of a package or built-in module stays an import, of the URL Node resolves it to. */
const packagesByUrl: Plugin = {
  name: 'packages-by-url',
  setup(plugin) {
    plugin.onResolve({ filter: /^[^./]/ }, (args) => {
      if (isBuiltin(args.path)) return { path: args.path, external: true };
      return { path: import.meta.resolve(args.path), external: true };
    });
  },
};
