import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExamplesNotFoundError, examplesModule, loadExamples } from '../../src/cli/examples.js';

/** A package laid out as npm installs it: package.json, dist/src/cli, dist/examples. */
function installedPackage(name = 'tilecraft'): string {
  const root = mkdtempSync(join(tmpdir(), 'tilecraft-pkg-'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name }));
  mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
  mkdirSync(join(root, 'dist', 'examples'), { recursive: true });
  writeFileSync(
    join(root, 'dist', 'examples', 'index.js'),
    "export const EXAMPLES = [{ name: 'tiny', description: 'd', dtypes: ['f32'], sizes: { N: 4 }, build: () => ({}) }];\n",
  );
  return root;
}

describe('built-in examples', () => {
  it('are found from the package root when running from source', async () => {
    const examples = await loadExamples();
    expect(examples.map((e) => e.name)).toContain('matmul');
  });

  it('are found in dist/examples of an installed package', async () => {
    const root = installedPackage();
    const cli = pathToFileURL(join(root, 'dist', 'src', 'cli', 'examples.js')).href;
    expect(examplesModule(cli)).toBe(join(root, 'dist', 'examples', 'index.js'));
    expect((await loadExamples(cli)).map((e) => e.name)).toEqual(['tiny']);
  });

  it('say what to do when there is no tilecraft package above the code', async () => {
    const root = installedPackage('something-else');
    const e: unknown = await loadExamples(pathToFileURL(join(root, 'dist', 'src', 'cli', 'examples.js')).href).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExamplesNotFoundError);
    expect((e as Error).message).toMatch(/pass a program file/);
  });
});
