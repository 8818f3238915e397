import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { findNvcc } from '../../src/codegen-cuda/nvcc.js';
import { writeCheckBundle } from '../../src/export/check-bundle.js';

/**
 * The CUDA check bundle is built here (nvcc, no GPU) and its program run here: with no device it
 * must say so and exit 4, having been built for sm_80 and sm_90 with its data beside it.
 */
describe('the CUDA check bundle', () => {
  it('holds one program with every case, their inputs and expected outputs, and says plainly when there is no GPU', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-bundle-'));
    const bytes = await writeCheckBundle(
      dir,
      [
        { name: 'matmul_f32', program: findExample('matmul')!.build('f32'), sizes: { M: 37, N: 45, K: 29 } },
        { name: 'decode_split', program: findExample('decode-attention')!.build('f16'), sizes: { B: 1, H: 2, M: 64, D: 16 }, values: { M: 50 }, options: { defaults: { rows: { splitSteps: 4, threadsPerRow: 16, workgroupSize: 16 } } } },
        { name: 'int4_gemv', program: findExample('int4-zp-gemm')!.build('f32'), sizes: { M: 1, N: 37, K: 64, G: 32 }, options: { defaults: { rows: { threadsPerRow: 1, workgroupSize: 32, rowsPerLane: 4 } } } },
      ],
      findNvcc(process.env),
      { repeat: 3 },
    );
    for (const f of ['tilecraft-check', 'tilecraft-check.cu', 'run.sh', 'data/matmul_f32/A.bin', 'data/matmul_f32/C.expected.bin', 'data/decode_split/K.bin', 'data/int4_gemv/W.bin']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(bytes).toBeLessThan(40 * 1024 * 1024);
    const source = readFileSync(join(dir, 'tilecraft-check.cu'), 'utf8');
    expect(source).toContain('tc_decode_split_launch(&tensors, 50, workspace, 0)');
    const r = spawnSync('bash', [join(dir, 'run.sh')], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 4) expect(r.stdout).toMatch(/"error": "no usable CUDA device/);
    else expect(r.stdout, 'a GPU is present: every case must match').toMatch(/3 checked, 0 failed/);
  });
});
