import type { Sizes } from '../ir/bind.js';
import type { Plan } from '../passes/pipeline.js';
import type { DeviceInfo } from '../runtime/device.js';
import type { Measurement } from './measure.js';

/** Messages between a tuning run and its measuring worker process. */
export type ToWorker =
  | {
      readonly type: 'init';
      readonly backend: 'webgpu' | 'cuda';
      /** serializeProgram() text. */
      readonly program: string;
      readonly sizes: Sizes;
      /** Seed of the random inputs every candidate runs on. */
      readonly seed: number;
    }
  | {
      readonly type: 'measure';
      readonly id: number;
      /** The candidate as the tuning run lowered, checked and deduplicated it; the worker compiles exactly this. */
      readonly plan: SentPlan;
      readonly warmup: number;
      readonly repeat: number;
      /** Stop repeating after a run slower than this (ms). */
      readonly cutoffMs?: number | undefined;
    };

/**
 * A lowered plan as it travels to the worker: its kernels (kernel IR is plain data, and the
 * structured clone of the IPC channel keeps infinities and NaN) and the tensors they bind, with
 * the schedule and groups that name it. Not the program (the worker has it from `init`), nor the
 * tile IR and pass trace (for explaining, not running).
 */
export type SentPlan = Pick<Plan, 'kernels' | 'kernelGroups' | 'tensors' | 'schedule' | 'groups'>;

/** The part of a plan the worker needs. */
export function sentPlan(plan: SentPlan): SentPlan {
  return { kernels: plan.kernels, kernelGroups: plan.kernelGroups, tensors: plan.tensors, schedule: plan.schedule, groups: plan.groups };
}

export type CandidateStatus = 'ok' | 'mismatch' | 'invalid' | 'error' | 'crash' | 'timeout';

export type FromWorker =
  | { readonly type: 'ready'; readonly info: DeviceInfo }
  | { readonly type: 'init-failed'; readonly error: string }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly status: CandidateStatus;
      readonly measurement?: Measurement;
      readonly detail?: string;
    };

export interface MeasureRequest {
  readonly warmup: number;
  readonly repeat: number;
  readonly timeoutMs?: number;
  readonly cutoffMs?: number | undefined;
}

export interface CandidateOutcome {
  readonly status: CandidateStatus;
  readonly measurement?: Measurement;
  readonly detail?: string;
}
