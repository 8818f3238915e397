import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The files `npm pack` would put in the tarball (without running the build first). */
function packed(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`npm pack failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
}

describe('the npm package', () => {
  it('ships only what runs: compiled code and declarations, the text examples, the addon sources and its build script', { timeout: 150_000 }, () => {
    const files = packed();
    for (const must of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'scripts/build-addon.mjs', 'native/binding.gyp', 'examples/attention.tc']) expect(files).toContain(must);
    expect(files.some((f) => f.startsWith('native/src/'))).toBe(true);
    const stray = files.filter(
      (f) =>
        f.endsWith('.map') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        /^(src|test|bench|build|native\/build|native\/node_modules|native\/test)\//.test(f) ||
        (f.startsWith('scripts/') && f !== 'scripts/build-addon.mjs'),
    );
    expect(stray).toEqual([]);
    // built here (dist exists): the entry points are in
    if (files.some((f) => f.startsWith('dist/'))) {
      for (const entry of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/node.js', 'dist/src/cli/autotune.js', 'dist/examples/index.js']) expect(files).toContain(entry);
    }
  });
});
