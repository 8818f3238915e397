import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomInputs } from '../autotune/inputs.js';
import { toleranceFor } from '../autotune/check.js';
import { actualShape } from '../ir/bind.js';
import { type Program, tensorOf } from '../ir/tensor.js';
import { type Nvcc } from '../codegen-cuda/nvcc.js';
import { type LowerOptions, type TargetLimits, WEBGPU_BASELINE_LIMITS, lower } from '../passes/pipeline.js';
import { evaluate } from '../reference/evaluate.js';
import { padToBound } from '../runtime/padded.js';
import { type CheckCase, checkProgram } from './check-program.js';

/** A case to bundle: a program at sizes, a schedule, and the dynamic sizes' values to run at. */
export interface BundleCase {
  readonly name: string;
  readonly program: Program;
  readonly sizes: Readonly<Record<string, number>>;
  readonly options?: LowerOptions;
  readonly values?: Readonly<Record<string, number>>;
  readonly flops?: number;
}

/** CUDA's limits for lowering: a 1024-thread block, 48 KiB of static shared memory, tensor cores, warps of 32. */
export const CUDA_BUNDLE_LIMITS: TargetLimits = { ...WEBGPU_BASELINE_LIMITS, maxWorkgroupInvocations: 1024, maxWorkgroupStorageBytes: 48 * 1024, tensorCores: true, subgroupSize: 32 };

/**
 * Writes a self-contained CUDA check into `dir`: every case lowered for CUDA, its inputs and the
 * CPU reference's outputs (laid out at the bound, in the tensors' dtypes) in `data/<case>/`, one
 * host program with every case compiled by nvcc for sm_80 and sm_90 (the CUDA runtime linked
 * statically: the GPU machine needs only the driver), and `run.sh` to run it. Returns the bundle's
 * bytes.
 */
export async function writeCheckBundle(
  dir: string,
  cases: readonly BundleCase[],
  nvcc: Nvcc,
  options: {
    archs?: readonly number[];
    repeat?: number;
    /**
     * Build the program for this machine instead, with g++ and a CPU emulation of the CUDA
     * built-ins whose headers are in this folder (the tests' stand-in for a GPU: it runs the
     * printed CUDA text).
     */
    hostEmulation?: string;
  } = {},
): Promise<number> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const checks: CheckCase[] = [];
  for (const c of cases) {
    const plan = lower(c.program, c.sizes, c.options ?? {}, CUDA_BUNDLE_LIMITS);
    const p = plan.program;
    const values = c.values ?? {};
    const at = { ...c.sizes, ...values };
    const shapeAt = (name: string, fallback: readonly number[]) => (Object.hasOwn(p.dynamicAxes, name) ? actualShape(p, tensorOf(p, name), values) : fallback);
    const io = plan.tensors.filter((t) => t.role !== 'temp');
    const inputs = randomInputs(io.filter((t) => t.role === 'input').map((t) => ({ ...t, shape: shapeAt(t.name, t.shape) })), 3);
    const expected = evaluate(c.program, at, inputs).outputs;
    const caseDir = join(dir, 'data', c.name);
    mkdirSync(caseDir, { recursive: true });
    let tol = { rtol: 0, atol: 0 };
    for (const t of io) {
      // inputs, and the reference's outputs in their own dtypes, laid out at the bound
      const h = t.role === 'input' ? inputs[t.name]! : expected[t.name]!;
      const bytes = padToBound(t.dtype, h.data, h.shape, t.shape);
      writeFileSync(join(caseDir, t.role === 'input' ? `${t.name}.bin` : `${t.name}.expected.bin`), bytes);
      if (t.role === 'output') {
        const own = toleranceFor(t.dtype);
        tol = { rtol: Math.max(tol.rtol, own.rtol), atol: Math.max(tol.atol, own.atol) };
      }
    }
    checks.push({ name: c.name, plan, values, rtol: tol.rtol, atol: tol.atol, flops: c.flops ?? 0, repeat: options.repeat ?? 20 });
  }
  const source = checkProgram(checks, 80);
  writeFileSync(join(dir, 'tilecraft-check.cu'), source);
  const archs = options.archs ?? [80, 90];
  const [compiler, args] = options.hostEmulation
    ? ['g++', ['-std=c++20', '-O1', '-pthread', '-w', '-I', options.hostEmulation, '-x', 'c++', '-o', join(dir, 'tilecraft-check'), join(dir, 'tilecraft-check.cu')]]
    : [nvcc.path, [...archs.flatMap((a) => ['-gencode', `arch=compute_${a},code=sm_${a}`]), '-O2', '-o', join(dir, 'tilecraft-check'), join(dir, 'tilecraft-check.cu')]];
  await new Promise<void>((resolve, reject) =>
    execFile(
      compiler,
      args,
      { maxBuffer: 64 * 1024 * 1024 },
      (err, _out, stderr) => (err ? reject(new Error(`${compiler} failed on the check program: ${stderr.split('\n').filter((l) => /error/.test(l)).slice(0, 5).join('\n') || stderr.slice(0, 2000)}`)) : resolve()),
    ),
  );
  writeFileSync(
    join(dir, 'run.sh'),
    `#!/usr/bin/env bash
# Runs tilecraft's CUDA check: needs only the NVIDIA driver. Prints one JSON line per case and a
# summary; report.jsonl keeps the lines. Exit 0: every case matched its reference; 3: some did
# not; 4: no usable CUDA device.
cd "$(dirname "$0")"
timeout "\${TILECRAFT_CHECK_TIMEOUT:-300}" ./tilecraft-check data "$@" | tee report.jsonl
status=\${PIPESTATUS[0]}
echo "cases: $(grep -c '"case"' report.jsonl) checked, $(grep -c '"ok": false' report.jsonl) failed; exit $status"
exit $status
`,
    { mode: 0o755 },
  );
  return sizeOf(dir);
}

function sizeOf(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? sizeOf(p) : statSync(p).size;
  }
  return total;
}
