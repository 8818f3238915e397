import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layers: the runtime runs programs and knows nothing of tuning (tuned schedules reach it
 * through an interface it defines); the tuning worker knows nothing of the CLI; the CLI stays
 * inside src/ and finds the examples, which are data, at run time. The reference evaluator, the
 * oracle every compiled kernel is checked against, shares no code with the compiler it checks.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}

/** Every relative module a file imports (static, re-exports and dynamic), as paths from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => relative(root, resolve(dirname(file), s)).split(sep).join('/'));
}

const files = sourceFiles(join(root, 'src')).map((f) => ({ path: relative(root, f).split(sep).join('/'), imports: importsOf(f) }));

function violations(from: (path: string) => boolean, to: (target: string) => boolean): string[] {
  return files.filter((f) => from(f.path)).flatMap((f) => f.imports.filter(to).map((t) => `${f.path} -> ${t}`));
}

describe('layering of src/', () => {
  it('finds the imports it checks', () => {
    const cli = files.find((f) => f.path === 'src/cli/run.ts');
    expect(cli?.imports).toContain('src/runtime/executable.js');
  });

  it('the runtime does not import the autotuner', () => {
    expect(violations((p) => p.startsWith('src/runtime/'), (t) => t.startsWith('src/autotune/'))).toEqual([]);
  });

  it('the tuning worker does not import the CLI', () => {
    expect(violations((p) => p === 'src/autotune/worker.ts', (t) => t.startsWith('src/cli/'))).toEqual([]);
  });

  it('the autotuner does not import the CLI', () => {
    expect(violations((p) => p.startsWith('src/autotune/'), (t) => t.startsWith('src/cli/'))).toEqual([]);
  });

  it('the reference evaluator imports nothing from the compiler', () => {
    const compiler = ['src/passes/', 'src/codegen-common/', 'src/codegen-wgsl/', 'src/codegen-cuda/', 'src/runtime/', 'src/autotune/'];
    expect(files.some((f) => f.path.startsWith('src/reference/'))).toBe(true);
    expect(violations((p) => p.startsWith('src/reference/'), (t) => compiler.some((c) => t.startsWith(c)))).toEqual([]);
  });

  it('the CLI does not reach outside src/', () => {
    expect(violations((p) => p.startsWith('src/cli/'), (t) => !t.startsWith('src/'))).toEqual([]);
  });
});
