import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleCases } from '../../scripts/gpu-bundle.js';
import { findNvcc } from '../../src/codegen-cuda/nvcc.js';
import { writeCheckBundle } from '../../src/export/check-bundle.js';

/**
 * The printed CUDA text, executed here: the CUDA check bundle's program (every case's kernels and
 * launch functions, as nvcc would get them) built with g++ against a CPU emulation of the CUDA
 * built-ins (test/helpers/cuda-emu) and run on the bundle's inputs, each output compared with the
 * CPU reference. Mutations of the printed text that a GPU would expose (a wmma fragment's layout,
 * a shuffle's source lane) must make it fail.
 */
const EMU = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cuda-emu');
const cases = bundleCases().filter((c) => !c.name.startsWith('time_'));
let dir: string;

function run(only?: string): { status: number | null; stdout: string } {
  const r = spawnSync(join(dir, 'tilecraft-check'), [join(dir, 'data'), ...(only ? [only] : [])], { encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout };
}

/** Rebuilds the program from its source with `mutate` applied to the printed text, then runs one case. */
function mutated(mutate: (source: string) => string, only: string): { status: number | null; stdout: string } {
  const source = readFileSync(join(dir, 'tilecraft-check.cu'), 'utf8');
  const changed = mutate(source);
  expect(changed).not.toBe(source);
  const file = join(dir, 'mutated.cu');
  writeFileSync(file, changed);
  execFileSync('g++', ['-std=c++20', '-O1', '-pthread', '-w', '-I', EMU, '-x', 'c++', '-o', join(dir, 'tilecraft-check'), file]);
  return run(only);
}

describe('printed CUDA run on the CPU emulation', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tilecraft-cuda-emu-'));
    await writeCheckBundle(dir, cases, findNvcc(process.env), { hostEmulation: EMU, repeat: 1 });
  }, 300_000);

  it(`every bundle case (${cases.length}: each example and dtype, tensor cores, shuffles, split-K, split-KV, staged attention, the GEMVs) matches the reference`, { timeout: 300_000 }, () => {
    const r = run();
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{"case"'));
    expect(lines).toHaveLength(cases.length);
    expect(lines.filter((l) => !l.includes('"ok": true'))).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('catches wmma fragments read with the other layout', { timeout: 300_000 }, () => {
    const swap = (s: string) =>
      s.replace(/(nvcuda::wmma::matrix_[ab], 16, 16, 16, [^,]+, nvcuda::wmma::)(row|col)_major/g, (_, head: string, l: string) => `${head}${l === 'row' ? 'col' : 'row'}_major`);
    const r = mutated(swap, 'matmul_f16_tensor_cores');
    expect(r.stdout).toMatch(/"case": "matmul_f16_tensor_cores", "ok": false/);
    expect(r.status).toBe(3);
  });

  it('catches a shuffle that takes the mirrored lane', { timeout: 300_000 }, () => {
    const mirror = (s: string) => s.replace(/__shfl_sync\(([^,()]+), ([^,()]+), ([^()]+?)\)/g, '__shfl_sync($1, $2, 31 - ($3))');
    const r = mutated(mirror, 'matmul_f32_shuffleA');
    expect(r.stdout).toMatch(/"case": "matmul_f32_shuffleA", "ok": false/);
    expect(r.status).toBe(3);
  });
});
