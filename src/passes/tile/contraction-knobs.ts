import { MATRIX_TILE } from '../../ir/kernel.js';
import { type Stmt } from '../../ir/tensor.js';
import type { Contraction } from '../contraction.js';
import { type TargetLimits } from '../limits.js';
import { type ContractionKnobs, InvalidScheduleError, requireDivides, requirePow2 } from '../schedule.js';

/*
 * A contraction group's knobs are checked against each other and the device before anything is
 * lowered: an invalid combination throws InvalidScheduleError naming the knob, which the tuner skips.
 */

export interface ContractionGroup {
  readonly stmt: Stmt;
  readonly shape: Contraction;
  /** Elementwise statements reading the contraction's result pointwise: fused into its store. */
  readonly epilogue: readonly Stmt[];
}


const WARP = 32;

/** The operand type tensor-core tiles take: both sides f16, or both bf16. */
export function matrixType(g: ContractionGroup): 'f16' | 'bf16' | undefined {
  const a = g.shape.a.dtype;
  return a === g.shape.b.dtype && (a === 'f16' || a === 'bf16') ? a : undefined;
}

/** Checks a contraction's knobs against each other and the device; throws InvalidScheduleError. */
export function validateContraction(id: string, c: ContractionKnobs, limits: TargetLimits, g?: ContractionGroup): void {
  for (const knob of ['blockM', 'blockN', 'blockK', 'threadM', 'threadN', 'splitK'] as const) requirePow2(id, knob, c[knob]);
  const fail = (knob: string, why: string): never => {
    throw new InvalidScheduleError(`group ${id}: ${why}`, id, knob);
  };
  let threads: number;
  let sharedBytes: number;
  if (c.tensorCores) {
    if (!limits.tensorCores) fail('tensorCores', 'tensorCores needs a device with tensor cores (CUDA, sm_70 or newer)');
    if (g && !matrixType(g)) fail('tensorCores', `tensorCores needs f16 or bf16 operands on both sides, not ${g.shape.a.dtype} and ${g.shape.b.dtype}`);
    if (c.staging !== 'shared') fail('staging', "tensorCores needs staging 'shared'");
    requireDivides(id, 'blockM', MATRIX_TILE * c.threadM, '16 * threadM', c.blockM, 'blockM');
    requireDivides(id, 'blockN', MATRIX_TILE * c.threadN, '16 * threadN', c.blockN, 'blockN');
    requireDivides(id, 'blockK', MATRIX_TILE, '16', c.blockK, 'blockK');
    if (c.threadM * c.threadN > 8) fail('threadN', `${c.threadM}x${c.threadN} accumulator tiles per warp is more than 8`);
    threads = (c.blockM / (MATRIX_TILE * c.threadM)) * (c.blockN / (MATRIX_TILE * c.threadN)) * WARP;
    sharedBytes = (c.blockM + c.blockN) * c.blockK * 2 * (c.doubleBuffer ? 2 : 1) + c.blockM * c.blockN * 4;
  } else {
    requireDivides(id, 'threadM', c.threadM, 'threadM', c.blockM, 'blockM');
    requireDivides(id, 'threadN', c.threadN, 'threadN', c.blockN, 'blockN');
    if (c.threadM * c.threadN > 128) fail('threadN', `a ${c.threadM}x${c.threadN} register tile is more than 64 accumulators`);
    threads = (c.blockM / c.threadM) * (c.blockN / c.threadN);
    // accumulators plus one row of each operand live in registers at once
    const live = c.threadM * c.threadN + c.threadM + c.threadN;
    if (limits.maxRegistersPerThread !== undefined && live > limits.maxRegistersPerThread - 16) {
      fail('threadN', `a ${c.threadM}x${c.threadN} register tile needs about ${live + 16} registers; the device allows ${limits.maxRegistersPerThread}`);
    }
    sharedBytes = c.staging === 'shared' ? (c.blockM + c.blockN) * c.blockK * 4 * (c.doubleBuffer ? 2 : 1) : 0;
    if (c.staging === 'direct' && c.doubleBuffer) fail('doubleBuffer', "doubleBuffer needs staging 'shared'");
    if (c.staging === 'shared' && c.vectorK !== 1) fail('vectorK', "vectorK reads operands from global memory: it needs staging 'direct'");
    if (c.shuffleA) {
      const lanes = limits.subgroupSize;
      if (lanes === undefined) fail('shuffleA', 'shuffleA needs subgroup shuffles and subgroups of one fixed size, which this device does not report');
      if (c.staging !== 'direct') fail('shuffleA', "shuffleA reads A from global memory: it needs staging 'direct'");
      if (c.vectorK !== 1) fail('vectorK', 'vectorK and shuffleA are two ways of reading A; choose one');
      if (c.blockM !== c.threadM) fail('blockM', `shuffleA needs blockM == threadM (every lane computes the same rows), not ${c.blockM} and ${c.threadM}`);
      if (threads % lanes! !== 0) fail('blockN', `shuffleA needs whole subgroups: blockN / threadN (${threads}) must be a multiple of the subgroup size ${lanes}`);
      requireDivides(id, 'blockK', lanes!, 'the subgroup size', c.blockK, 'blockK');
    }
  }
  if (threads > limits.maxWorkgroupInvocations) {
    fail('threadM', `${threads} invocations per workgroup exceed the device's ${limits.maxWorkgroupInvocations}`);
  }
  if (sharedBytes > limits.maxWorkgroupStorageBytes) {
    fail('blockK', `tiles need ${sharedBytes} bytes of workgroup memory; the device has ${limits.maxWorkgroupStorageBytes}`);
  }
}
