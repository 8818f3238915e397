import type { Sizes } from '../ir/bind.js';
import type { Schedule } from '../passes/schedule.js';
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
      readonly schedule: Schedule;
      readonly warmup: number;
      readonly repeat: number;
      /** Stop repeating after a run slower than this (ms). */
      readonly cutoffMs?: number | undefined;
    };

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
