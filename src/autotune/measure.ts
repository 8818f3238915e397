import { TilecraftError } from '../ir/errors.js';
import type { RunResult } from '../runtime/device.js';

export interface MeasureOptions {
  /** Runs before timing starts (shader JIT, caches, clocks). */
  readonly warmup: number;
  /** Timed runs. */
  readonly repeat: number;
  /** Give up on a candidate whose runs take longer than this in total. */
  readonly timeoutMs: number;
  /** Stop repeating once a run takes longer than this: the candidate is out of contention. */
  readonly cutoffMs?: number | undefined;
}

export const DEFAULT_MEASURE: MeasureOptions = { warmup: 2, repeat: 10, timeoutMs: 60_000 };

export interface Measurement {
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Half the interquartile range relative to the median: a robust ± spread. */
  readonly spread: number;
  readonly samples: readonly number[];
  /** Where the times come from: device timestamps, or host wall time around a blocking run. */
  readonly clock: 'device' | 'wall';
  /** With device timestamps: each launch's median, in launch order (what each kernel of a plan takes). */
  readonly kernelMs?: readonly number[];
}

export class MeasureTimeoutError extends TilecraftError {
  override name = 'MeasureTimeoutError';
  constructor(readonly limitMs: number) {
    super(`measurement exceeded its time-out of ${limitMs} ms`);
  }
}

export function summarize(samples: readonly number[], clock: Measurement['clock']): Measurement {
  const s = [...samples].sort((a, b) => a - b);
  const q = (f: number) => {
    const i = (s.length - 1) * f;
    const lo = Math.floor(i);
    const hi = Math.ceil(i);
    return s[lo]! + (s[hi]! - s[lo]!) * (i - lo);
  };
  const median = q(0.5);
  return {
    medianMs: median,
    minMs: s[0]!,
    maxMs: s[s.length - 1]!,
    spread: median > 0 ? (q(0.75) - q(0.25)) / 2 / median : 0,
    samples,
    clock,
  };
}

/** One thing being timed side by side: `run` executes once and returns its device time in ms. */
export interface Contender {
  readonly name: string;
  readonly run: () => Promise<number>;
}

/**
 * Times contenders side by side: warm-up, then `rounds` rounds in which every contender runs once,
 * so a change in the machine's load touches all of them alike.
 */
export async function interleaved(contenders: readonly Contender[], rounds: number, warmup = 1): Promise<Map<string, Measurement>> {
  for (const c of contenders) for (let i = 0; i < warmup; i++) await c.run();
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) for (const c of contenders) samples.get(c.name)!.push(await c.run());
  return new Map([...samples].map(([k, v]) => [k, summarize(v, 'device')]));
}

/**
 * Times `run` (one complete execution, waiting for the device): warm-up, then repeated runs. Uses
 * device timestamps (summed over the run's kernels) when the run reports them, wall time otherwise.
 */
export async function measure(run: () => Promise<RunResult>, options: Partial<MeasureOptions> = {}): Promise<Measurement> {
  const o = { ...DEFAULT_MEASURE, ...options };
  const start = performance.now();
  const check = () => {
    if (performance.now() - start > o.timeoutMs) throw new MeasureTimeoutError(o.timeoutMs);
  };
  for (let i = 0; i < o.warmup; i++) {
    await run();
    check();
  }
  const samples: number[] = [];
  const perLaunch: number[][] = [];
  let clock: Measurement['clock'] = 'device';
  for (let i = 0; i < Math.max(1, o.repeat); i++) {
    const r = await run();
    if (r.kernelMs) {
      samples.push(r.kernelMs.reduce((a, b) => a + b, 0));
      r.kernelMs.forEach((ms, k) => (perLaunch[k] ??= []).push(ms));
    } else {
      clock = 'wall';
      samples.push(r.wallMs);
    }
    check();
    if (o.cutoffMs !== undefined && samples[samples.length - 1]! > o.cutoffMs) break;
  }
  const m = summarize(samples, clock);
  return clock === 'device' && perLaunch.length ? { ...m, kernelMs: perLaunch.map((xs) => summarize(xs, clock).medianMs) } : m;
}

/**
 * Why a measurement cannot be a real timing (a missing, non-finite or negative median, minimum,
 * maximum or sample, no samples at all), or undefined when it can. A worker whose device
 * timestamps wrapped or came back out of order reports such numbers; they must never rank.
 */
export function impossibleTiming(m: Measurement | undefined): string | undefined {
  if (!m) return 'impossible timing: no measurement reported';
  const bad = (v: unknown) => typeof v !== 'number' || !Number.isFinite(v) || v < 0;
  for (const k of ['medianMs', 'minMs', 'maxMs'] as const) if (bad(m[k])) return `impossible timing: ${k} ${String(m[k])}`;
  if (!Array.isArray(m.samples) || m.samples.length === 0) return 'impossible timing: no samples';
  const s = m.samples.find(bad);
  if (s !== undefined || m.samples.some(bad)) return `impossible timing: sample ${String(s)}`;
  if (typeof m.spread !== 'number' || !Number.isFinite(m.spread) || m.spread < 0) return `impossible timing: spread ${String(m.spread)}`;
  return undefined;
}
