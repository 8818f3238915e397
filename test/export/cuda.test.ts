import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findExample } from '../../examples/index.js';
import { findNvcc } from '../../src/codegen-cuda/nvcc.js';
import { cudaExport } from '../../src/export/cuda.js';
import { lower } from '../../src/passes/pipeline.js';

/**
 * The exported C header and CUDA source, included by a small host program that nvcc compiles and
 * links for sm_80 and sm_90 (it runs where a GPU is: scripts/gpu-check.sh).
 */
describe('the CUDA export', () => {
  const nvcc = findNvcc(process.env);
  const cases = [
    { name: 'decode-attention, split across blocks (a workspace for the parts)', example: 'decode-attention', sizes: { B: 1, H: 2, M: 64, D: 16 }, knobs: { rows: { splitSteps: 4, threadsPerRow: 16, workgroupSize: 16 } } },
    { name: 'int4 GEMM with f16 activations (void* tensors)', example: 'int4-gemm', sizes: { M: 16, N: 64, K: 128, G: 32 }, dtype: 'f16' as const },
  ];
  for (const c of cases) {
    it(`${c.name}: a host program that includes the header compiles and links for sm_80 and sm_90`, { timeout: 300_000 }, () => {
      const program = findExample(c.example)!.build(c.dtype ?? 'f32');
      const plan = lower(program, c.sizes, c.knobs ? { defaults: c.knobs } : {});
      const { header, source, headerName } = cudaExport(plan, 80);
      const prefix = headerName.replace(/\.h$/, '');
      const dir = mkdtempSync(join(tmpdir(), 'tilecraft-cuda-export-'));
      writeFileSync(join(dir, headerName), header);
      writeFileSync(join(dir, `${prefix}.cu`), source);
      const dynamic = Object.keys(plan.program.dynamic).map(() => '5, ').join('');
      writeFileSync(
        join(dir, 'main.cpp'),
        `#include "${headerName}"
#include <stdio.h>
int main(void) {
  ${prefix}_tensors tensors = {};
  size_t workspace = ${prefix}_workspace_bytes();
  cudaError_t err = ${prefix}_launch(&tensors, ${dynamic}NULL, 0);
  printf("workspace %zu bytes, launch: %d\\n", workspace, (int)err);
  return 0;
}
`,
      );
      expect(header).toContain(`cudaError_t ${prefix}_launch(`);
      for (const sm of [80, 90]) {
        execFileSync(nvcc.path, ['-gencode', `arch=compute_${sm},code=sm_${sm}`, '-Werror', 'all-warnings', '-o', join(dir, `prog_${sm}`), join(dir, 'main.cpp'), join(dir, `${prefix}.cu`)], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
      }
      if (plan.tensors.some((t) => t.role === 'temp')) expect(source).toMatch(/workspace_bytes\(void\) \{ return [1-9]\d*; \}/);
    });
  }
});
