import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInputs } from '../../src/autotune/inputs.js';
import { type Manifest, manifestOf } from '../../src/export/manifest.js';
import { writeExport } from '../../src/export/write.js';
import { actualShape } from '../../src/ir/bind.js';
import type { HostTensor } from '../../src/ir/host.js';
import { type Program, tensorOf } from '../../src/ir/tensor.js';
import type { LowerOptions } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';
import type { DeviceInfo } from '../../src/runtime/device.js';
import { cropFromBound, padToBound } from '../../src/runtime/padded.js';
import { planFor } from '../../src/runtime/target.js';
import { mismatch } from './device.js';

/**
 * A program exported into a folder, with what a loader needs to run it at `values` of its dynamic
 * sizes and check it: each input's bytes laid out at the bound (a multiple of 4 long), the outputs
 * to read back, and a check of their bytes against the CPU reference. Whoever runs the loader
 * (Node on Dawn, a browser page) only moves bytes.
 */
export interface ExportCase {
  readonly manifest: Manifest;
  readonly dir: string;
  readonly inputs: Readonly<Record<string, Uint8Array>>;
  readonly outputs: readonly string[];
  /** Mismatches of the outputs read back (each buffer's bytes as written by the kernels). */
  check(read: Readonly<Record<string, Uint8Array>>): string[];
}

export async function exportCase(info: DeviceInfo, program: Program, sizes: Record<string, number>, values: Record<string, number>, lowering: LowerOptions = {}): Promise<ExportCase> {
  const plan = planFor(info, program, sizes, lowering);
  const manifest = manifestOf(plan);
  const dir = mkdtempSync(join(tmpdir(), 'tilecraft-export-'));
  await writeExport(dir, manifest);
  const p = plan.program;
  const shapeAt = (name: string) => (Object.hasOwn(p.dynamicAxes, name) ? actualShape(p, tensorOf(p, name), values) : plan.tensors.find((t) => t.name === name)!.shape);
  const io = plan.tensors.filter((t) => t.role !== 'temp');
  const host = randomInputs(io.filter((t) => t.role === 'input').map((t) => ({ ...t, shape: shapeAt(t.name) })), 11);
  const inputs: Record<string, Uint8Array> = {};
  for (const t of io.filter((x) => x.role === 'input')) {
    const h = host[t.name]!;
    const bytes = padToBound(t.dtype, h.data, h.shape, t.shape);
    inputs[t.name] = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    inputs[t.name]!.set(bytes);
  }
  const expected = evaluate(program, { ...sizes, ...values }, host).outputs;
  const outputs = io.filter((t) => t.role === 'output');
  const check = (read: Readonly<Record<string, Uint8Array>>) =>
    outputs.flatMap((t) => {
      const shape = shapeAt(t.name);
      const bytes = cropFromBound(t.dtype, read[t.name]!, shape, t.shape);
      const data = t.dtype === 'f16' ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const m = mismatch({ dtype: t.dtype, shape, data } as HostTensor, expected[t.name]!);
      return m ? [`${t.name}[${m.index}]: ${m.actual} vs ${m.expected}`] : [];
    });
  return { manifest, dir, inputs, outputs: outputs.map((t) => t.name), check };
}
