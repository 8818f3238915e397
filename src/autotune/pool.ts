import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Sizes } from '../ir/bind.js';
import { DeviceError } from '../ir/errors.js';
import type { DeviceInfo } from '../runtime/device.js';
import { type CandidateOutcome, type FromWorker, type MeasureRequest, type SentPlan, type ToWorker, sentPlan } from './protocol.js';

export interface WorkerOptions {
  readonly backend: 'webgpu' | 'cuda';
  /** serializeProgram() text. */
  readonly program: string;
  readonly sizes: Sizes;
  readonly seed: number;
  /** Longest a candidate may take (compile, check and measure) before its worker is killed, unless a call says otherwise. */
  readonly candidateTimeoutMs: number;
  /** Longest the worker may take to start: open the device and compute the reference. */
  readonly startTimeoutMs: number;
  /** The worker module to run (default: tilecraft's own); another speaks the same protocol. */
  readonly workerScript?: string;
}

/** How to measure one candidate. */
export type { CandidateOutcome, MeasureRequest } from './protocol.js';

/**
 * A measuring worker process, restarted whenever it dies. A candidate that crashes the driver
 * or hangs costs that candidate (status `crash` or `timeout`), never the tuning run.
 */
export class MeasuringWorker {
  private child: ChildProcess | undefined;
  private ready: Promise<DeviceInfo> | undefined;
  private pending: { id: number; resolve: (o: CandidateOutcome) => void } | undefined;
  private nextId = 1;
  private stderr: string[] = [];
  /** Worker processes started so far (1 + restarts). */
  starts = 0;

  constructor(private readonly opts: WorkerOptions) {}

  /** Starts the worker if needed and returns the device it measures on. */
  start(): Promise<DeviceInfo> {
    if (this.ready) return this.ready;
    const here = fileURLToPath(import.meta.url);
    const script = this.opts.workerScript ?? here.replace(/pool\.(ts|js)$/, `worker.${here.endsWith('.ts') ? 'ts' : 'js'}`);
    const isTs = script.endsWith('.ts');
    const child = fork(script, [], {
      execArgv: isTs ? ['--import', 'tsx'] : [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.starts++;
    this.child = child;
    this.stderr = [];
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr.push(...d.toString().split('\n').filter((l) => l && !l.startsWith('Warning: maxDynamic')));
      if (this.stderr.length > 20) this.stderr.splice(0, this.stderr.length - 20);
    });
    this.ready = new Promise<DeviceInfo>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill();
        reject(new DeviceError(`the measuring worker did not start within ${this.opts.startTimeoutMs} ms`));
      }, this.opts.startTimeoutMs);
      child.on('message', (raw) => {
        const m = raw as FromWorker;
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve(m.info);
        } else if (m.type === 'init-failed') {
          clearTimeout(timer);
          this.kill();
          reject(new DeviceError(`the measuring worker could not start: ${m.error}`));
        } else if (m.type === 'result' && this.pending?.id === m.id) {
          const p = this.pending;
          this.pending = undefined;
          p.resolve({ status: m.status, ...(m.measurement ? { measurement: m.measurement } : {}), ...(m.detail ? { detail: m.detail } : {}) });
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        const why = `worker exited (${signal ?? `code ${code}`})${this.stderr.length ? `: ${this.stderr.slice(-3).join(' | ')}` : ''}`;
        if (this.child === child) {
          this.child = undefined;
          this.ready = undefined;
        }
        reject(new DeviceError(why));
        const p = this.pending;
        this.pending = undefined;
        p?.resolve({ status: 'crash', detail: why });
      });
    });
    this.ready.catch(() => undefined);
    const init: ToWorker = { type: 'init', backend: this.opts.backend, program: this.opts.program, sizes: this.opts.sizes, seed: this.opts.seed };
    child.send(init);
    return this.ready;
  }

  /**
   * Compiles, checks and times one lowered plan in the worker (its kernels as they are), killing
   * it after `timeoutMs`; stops repeating after a run slower than `cutoffMs`.
   */
  async measure(plan: SentPlan, request: MeasureRequest): Promise<CandidateOutcome> {
    const { warmup, repeat, cutoffMs } = request;
    const timeoutMs = request.timeoutMs ?? this.opts.candidateTimeoutMs;
    const t0 = performance.now();
    // the time-out covers restarting a worker that died or was killed for the last candidate:
    // a restart (opening the device, computing the reference) can take seconds
    if (!(await this.startWithin(timeoutMs))) {
      this.kill();
      return { status: 'timeout', detail: `no result within ${Math.round(timeoutMs)} ms (the worker was still starting); worker restarted` };
    }
    const child = this.child;
    if (!child) return { status: 'crash', detail: 'worker is not running' };
    const id = this.nextId++;
    return new Promise<CandidateOutcome>((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.id !== id) return;
        this.pending = undefined;
        this.kill();
        resolve({ status: 'timeout', detail: `no result within ${Math.round(timeoutMs)} ms; worker restarted` });
      }, Math.max(0, timeoutMs - (performance.now() - t0)));
      this.pending = {
        id,
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      };
      const msg: ToWorker = { type: 'measure', id, plan: sentPlan(plan), warmup, repeat, cutoffMs };
      child.send(msg);
    });
  }

  /** Starts the worker if needed; false when it is not ready within `ms` (a start that fails throws). */
  private async startWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.start().then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private kill(): void {
    const c = this.child;
    this.child = undefined;
    this.ready = undefined;
    c?.kill('SIGKILL');
  }

  close(): void {
    this.pending = undefined;
    this.kill();
  }
}
