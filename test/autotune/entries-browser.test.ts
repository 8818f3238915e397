import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The tuning database's entries, keys and lookup are for the browser entry too (a page looks up a
 * database it fetched): bundled for the browser, nothing they pull in may import a Node module.
 */
describe('src/autotune/entries.ts', () => {
  it('bundles for the browser without any node: import', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../../src/autotune/entries.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(Object.keys(result.metafile.inputs).some((p) => p.endsWith('autotune/db.ts'))).toBe(false);
  });
});
