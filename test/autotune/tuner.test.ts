import { describe, expect, it } from 'vitest';
import { attention } from '../../examples/attention.js';
import { findExample } from '../../examples/index.js';
import { canonicalJson } from '../../src/ir/hash.js';
import { matmul } from '../../examples/matmul.js';
import { type Measurement, summarize } from '../../src/autotune/measure.js';
import { searchSpace, spaceSize } from '../../src/autotune/space.js';
import { type Candidate, type Measurer, pickWinner, tune } from '../../src/autotune/tuner.js';
import { type Plan, lower } from '../../src/passes/pipeline.js';
import { program as buildProgram } from '../../src/dsl/program.js';
import { type ContractionKnobs, type Schedule } from '../../src/passes/schedule.js';
import { syntheticDeviceInfo } from './fixtures.js';

const info = syntheticDeviceInfo;

const program = matmul.build('f32');
const sizes = { M: 256, N: 256, K: 256 };
const restrict = { blockK: [8, 16], staging: ['shared', 'direct'], doubleBuffer: [false], unrollK: [true], splitK: [1], vectorWidth: [4], vectorK: [1] };

/** A deterministic cost landscape over contraction knobs: a clear optimum, smooth around it. */
function cost(s: Schedule): number {
  const k = s['contraction:C'] as ContractionKnobs;
  const l = (v: number, best: number) => Math.abs(Math.log2(v) - Math.log2(best));
  return 10 * (1 + 0.3 * l(k.blockM, 64) + 0.3 * l(k.blockN, 32) + 0.2 * l(k.threadM, 4) + 0.25 * l(k.threadN, 8) + 0.1 * l(k.blockK, 16) + (k.staging === 'direct' ? 0 : 0.15));
}
const m = (ms: number): Measurement => ({ medianMs: ms, minMs: ms, maxMs: ms, spread: 0, samples: [ms], clock: 'device' });
function measurer(log: Schedule[] = []): Measurer {
  return async ({ schedule: s }) => {
    log.push(s);
    return { status: 'ok', measurement: m(cost(s)) };
  };
}

describe('the tuner', () => {
  const space = searchSpace(info, program, sizes, restrict);

  it('builds the space from the contraction knobs, restricted where asked', () => {
    expect(space.dims.filter((d) => d.values.length > 1).map((d) => d.knob).sort()).toEqual(['blockK', 'blockM', 'blockN', 'staging', 'threadM', 'threadN']);
    // a restriction to one value fixes the knob
    expect(space.dims.find((d) => d.knob === 'doubleBuffer')!.values).toEqual([false]);
    expect(space.dims.find((d) => d.knob === 'blockK')!.values).toEqual([8, 16]);
    expect(spaceSize(space)).toBeGreaterThan(1000);
  });

  it('exhaustive search measures every valid distinct candidate once and finds the optimum', async () => {
    const log: Schedule[] = [];
    const r = await tune(info, program, sizes, space, measurer(log), { strategy: 'exhaustive', budget: { trials: 100_000 } });
    expect(r.strategy).toBe('exhaustive');
    expect(r.stoppedBy).toBe('exhausted');
    expect(r.validCount).toBeGreaterThanOrEqual(200);
    expect(r.candidates.length).toBe(r.validCount);
    const b = r.best!.schedule['contraction:C'] as ContractionKnobs;
    expect([b.blockM, b.blockN, b.threadM, b.threadN, b.blockK, b.staging]).toEqual([64, 32, 4, 8, 16, 'direct']);
    // invalid combinations never reach the measurer
    for (const s of log) {
      const k = s['contraction:C'] as ContractionKnobs;
      expect(k.blockM % k.threadM).toBe(0);
      expect((k.blockM / k.threadM) * (k.blockN / k.threadN)).toBeLessThanOrEqual(256);
    }
  });

  it('guided search gets within 5% of the exhaustive optimum measuring at most a fifth of the candidates', async () => {
    const all = await tune(info, program, sizes, space, measurer(), { strategy: 'exhaustive', budget: { trials: 100_000 } });
    const optimum = cost(all.best!.schedule);
    for (const seed of [1, 2, 3]) {
      const budget = Math.floor(all.validCount! / 5);
      const r = await tune(info, program, sizes, space, measurer(), { strategy: 'guided', budget: { trials: budget }, seed });
      expect(r.candidates.length).toBeLessThanOrEqual(budget);
      expect(cost(r.best!.schedule) / optimum, `seed ${seed}`).toBeLessThanOrEqual(1.05);
    }
  });

  it('auto picks exhaustive when the valid space fits the budget, guided otherwise', async () => {
    const small = searchSpace(info, program, sizes, { ...restrict, blockM: [32, 64], blockN: [32], threadM: [4], threadN: [4, 8] });
    expect((await tune(info, program, sizes, small, measurer(), { strategy: 'auto', budget: { trials: 50 } })).strategy).toBe('exhaustive');
    expect((await tune(info, program, sizes, space, measurer(), { strategy: 'auto', budget: { trials: 20 } })).strategy).toBe('guided');
  });

  it('stops at its budget and always measures the default first', async () => {
    const log: Schedule[] = [];
    const r = await tune(info, program, sizes, space, measurer(log), { strategy: 'guided', budget: { trials: 7 } });
    expect(r.stoppedBy).toBe('budget');
    expect(r.candidates.length).toBe(7);
    expect(r.candidates[0]!.isDefault).toBe(true);
  });

  it('a time budget covers measuring the leaders again: screening stops early enough for it', async () => {
    // every run takes 20 ms: screening 3 runs, re-measuring 13 (check, warm-up, timed), so five
    // finalists and the default need about 1.6 s at the end; a 2 s budget leaves 0.4 s of screening
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      await sleep(20 * (req.repeat + req.warmup));
      return { status: 'ok', measurement: m(20 + cost(s) / 100) };
    }, { strategy: 'guided', budget: { seconds: 2 } });
    expect(r.stoppedBy).toBe('budget');
    expect(r.seconds).toBeLessThan(2);
    expect(r.candidates.filter((c) => c.final).length).toBeGreaterThanOrEqual(5);
  });

  it('an interrupted run keeps what it measured', async () => {
    const abort = new AbortController();
    let n = 0;
    const r = await tune(info, program, sizes, space, async ({ schedule: s }) => {
      if (++n === 5) abort.abort();
      return { status: 'ok', measurement: m(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 1000 } }, { signal: abort.signal });
    expect(r.stoppedBy).toBe('interrupted');
    expect(r.candidates.length).toBe(5);
    expect(r.best).toBeDefined();
  });

  it('on a device with one fixed subgroup size, tries A shared by subgroup shuffles right after the default', async () => {
    const fixed = { ...info, features: ['subgroups'], extra: { subgroupMinSize: 8, subgroupMaxSize: 8 } };
    const varying = { ...fixed, extra: { subgroupMinSize: 8, subgroupMaxSize: 32 } };
    const knob = (i: typeof info) => searchSpace(i, program, sizes).dims.find((d) => d.knob === 'shuffleA')?.values;
    expect(knob(fixed)).toEqual([false, true]);
    expect(knob(varying)).toBeUndefined();
    const log: Schedule[] = [];
    const r = await tune(fixed, program, sizes, searchSpace(fixed, program, sizes), measurer(log), { strategy: 'guided', budget: { trials: 2 } });
    expect(r.candidates.map((c) => (c.schedule['contraction:C'] as ContractionKnobs).shuffleA)).toEqual([false, true]);
    expect(r.candidates[1]!.schedule['contraction:C']).toMatchObject({ blockM: 8, threadM: 8, blockN: 64, threadN: 8, blockK: 8, staging: 'direct' });
    // without a fixed size there is nothing to seed
    const plain = await tune(varying, program, sizes, searchSpace(varying, program, sizes), measurer(), { strategy: 'guided', budget: { trials: 2 } });
    expect(plain.candidates.some((c) => (c.schedule['contraction:C'] as ContractionKnobs).shuffleA)).toBe(false);
  });

  it('tries a streamed attention staged (8 lanes of 8 query rows each, key tiles shared) right after the default', async () => {
    const p = attention.build('f32');
    const at = { B: 1, H: 2, N: 256, M: 256, D: 16 };
    const flat: Measurer = async () => ({ status: 'ok', measurement: m(1) });
    const r = await tune(info, p, at, searchSpace(info, p, at), flat, { strategy: 'guided', budget: { trials: 2 } });
    expect(r.candidates[1]!.schedule['rows:O']).toMatchObject({ threadsPerRow: 1, workgroupSize: 8, stageSteps: 16, rowsPerLane: 8, splitSteps: 1 });
  });

  it('measures the plan it lowered: the leaders are measured again from the very plans screened', async () => {
    const screened = new Map<string, Plan>();
    let finals = 0;
    const r = await tune(info, program, sizes, space, async (plan, req) => {
      const id = JSON.stringify(plan.schedule);
      if (req.repeat === 10) {
        finals++;
        expect(screened.get(id)).toBe(plan);
      } else {
        expect(screened.has(id)).toBe(false);
        screened.set(id, plan);
      }
      return { status: 'ok', measurement: m(cost(plan.schedule)) };
    }, { strategy: 'guided', budget: { trials: 20 }, screenRepeat: 3, finalRepeat: 10 });
    expect(finals).toBeGreaterThanOrEqual(5);
    expect(r.candidates.every((c) => screened.get(JSON.stringify(c.schedule))?.schedule === c.schedule)).toBe(true);
  });

  it('failed candidates never win', async () => {
    const r = await tune(info, program, sizes, space, async ({ schedule: s }) => {
      const k = s['contraction:C'] as ContractionKnobs;
      // the fastest candidates "crash" or disagree with the reference
      if (k.staging === 'direct') return { status: k.blockM === 64 ? 'crash' : 'mismatch', detail: 'x' };
      return { status: 'ok', measurement: m(cost(s)) };
    }, { strategy: 'exhaustive', budget: { trials: 100_000 } });
    expect((r.best!.schedule['contraction:C'] as ContractionKnobs).staging).toBe('shared');
    expect(r.candidates.some((c) => c.status === 'crash')).toBe(true);
  });
});

describe('lowering options a search holds fixed', () => {
  const attn = attention.build('f32');
  const at = { B: 1, H: 2, N: 64, M: 64, D: 16 };

  it('a space read off the plan without the online-softmax rewrite searches three-kernel plans only', async () => {
    const streamed = searchSpace(info, attn, at);
    expect(Object.keys(streamed.defaults)).toEqual(['rows:O']);
    expect(streamed.lowering).toBeUndefined();
    const lowering = { rewrites: { onlineSoftmax: false } };
    const space = searchSpace(info, attn, at, {}, lowering);
    expect(space.lowering).toEqual(lowering);
    expect(Object.keys(space.defaults)).toEqual(['contraction:O_sum', 'rows:O_max,O_sum2', 'contraction:O']);
    const plans: Plan[] = [];
    const r = await tune(info, attn, at, space, async (plan) => {
      plans.push(plan);
      return { status: 'ok', measurement: m(plans.length) };
    }, { strategy: 'guided', budget: { trials: 6 } });
    expect(r.candidates[0]!.isDefault).toBe(true);
    expect(plans.length).toBeGreaterThanOrEqual(6);
    for (const p of plans) expect(p.kernels.length).toBeGreaterThanOrEqual(3);
    expect(Object.keys(r.best!.schedule)).toEqual(Object.keys(space.defaults));
  });

  it('knob defaults given to the space are where the search starts', () => {
    const space = searchSpace(info, attn, at, {}, { defaults: { rows: { workgroupSize: 64 } } });
    expect(space.defaults['rows:O']).toMatchObject({ workgroupSize: 64 });
  });
});

describe('the winner is deterministic', () => {
  const cand = (name: string, ms: number, isDefault = false): Candidate =>
    ({ point: [], key: name, schedule: { 'serial:Y': { kind: 'serial', workgroupSize: Number(name) } }, status: 'ok', final: m(ms), isDefault }) as Candidate;

  it('within the band, the default wins if present', () => {
    expect(pickWinner([cand('64', 10), cand('128', 10.1, true), cand('256', 9.9)], 0.03)!.key).toBe('128');
  });
  it('else the lowest canonical schedule, whatever the order measured', () => {
    const a = [cand('64', 10), cand('128', 10.1), cand('32', 12)];
    expect(pickWinner(a, 0.03)!.key).toBe('128'); // "128" < "64" as canonical JSON
    expect(pickWinner([...a].reverse(), 0.03)!.key).toBe('128');
  });
  it('outside the band, the fastest wins', () => {
    expect(pickWinner([cand('64', 10), cand('128', 11)], 0.03)!.key).toBe('64');
  });
});

describe('what was measured survives', () => {
  const space = searchSpace(info, program, sizes, restrict);

  it('a measurer that fails for good (its worker cannot restart) ends the run with what it measured', async () => {
    let n = 0;
    const r = await tune(info, program, sizes, space, async ({ schedule: s }) => {
      if (++n > 3) throw new Error('the measuring worker could not start: device lost');
      return { status: 'ok', measurement: m(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 20 } });
    expect(r.stoppedBy).toBe('error');
    expect(r.error).toMatch(/device lost/);
    expect(r.candidates.filter((c) => c.status === 'ok').length).toBe(3);
    expect(r.best).toBeDefined();
  });

  it('an impossible timing fails that candidate only', async () => {
    const bad: Array<Measurement | undefined> = [
      undefined,
      m(NaN),
      m(-2),
      m(Infinity),
      { ...m(5), samples: [5, -1, 5] },
      { ...m(5), samples: [] },
      { medianMs: undefined, minMs: 1, maxMs: 1, spread: 0, samples: [1], clock: 'device' } as unknown as Measurement,
    ];
    let n = 0;
    const r = await tune(info, program, sizes, space, async ({ schedule: s }) => {
      const i = n++;
      // the second to eighth candidates report nonsense, and would otherwise look fastest
      if (i >= 1 && i <= bad.length) return bad[i - 1] ? { status: 'ok', measurement: bad[i - 1]! } : { status: 'ok' };
      return { status: 'ok', measurement: m(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 12 } });
    const failed = r.candidates.slice(1, 1 + bad.length);
    expect(failed.map((c) => c.status)).toEqual(bad.map(() => 'error'));
    for (const c of failed) expect(c.detail).toMatch(/impossible timing/);
    expect(r.candidates.filter((c) => c.status === 'ok').length).toBe(12 - bad.length);
    expect(Number.isFinite(r.best!.final!.medianMs)).toBe(true);
    expect(r.best!.final!.medianMs).toBeGreaterThan(0);
  });

  it('leaders whose second measurement is impossible leave the winner to the others screened', async () => {
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      if (req.repeat === 10) return { status: 'ok', measurement: m(NaN) };
      return { status: 'ok', measurement: m(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 10 } });
    expect(r.best).toBeDefined();
    expect(r.best!.status).toBe('ok');
  });

  it('a zero budget still measures the default', async () => {
    for (const budget of [{ trials: 0 }, { seconds: 0 }]) {
      const r = await tune(info, program, sizes, space, measurer(), { strategy: 'guided', budget });
      expect(r.candidates.length, JSON.stringify(budget)).toBe(1);
      expect(r.best?.isDefault).toBe(true);
    }
  });
});

describe('the time budget holds while a candidate runs', () => {
  const space = searchSpace(info, program, sizes, restrict);

  it('a hanging candidate is given no more than the time left', async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const timeouts: number[] = [];
    let n = 0;
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      timeouts.push(req.timeoutMs);
      // the third candidate hangs: the measurer (like the worker pool) gives up at the time-out
      if (++n === 3) {
        await sleep(Math.min(req.timeoutMs, 4000));
        return { status: 'timeout', detail: `no result within ${req.timeoutMs} ms` };
      }
      return { status: 'ok', measurement: m(1 + cost(s) / 1000) };
    }, { strategy: 'guided', budget: { trials: 8, seconds: 1.5 } });
    for (const t of timeouts) expect(t).toBeLessThanOrEqual(1500 + 1000);
    expect(r.seconds).toBeLessThan(1.5 + 1.2);
    expect(r.best).toBeDefined();
  });
});

describe('the tuner on a plan of several kernels', () => {
  // two outputs, two elementwise kernels whose knobs do not interact: the plan's time is the sum
  const two = buildProgram('two', (p) => {
    const [N] = p.sizes('N');
    const x = p.input('X', 'f32', { i: N });
    p.output('A', x.exp());
    p.output('B', x.mul(2));
  });
  const twoSizes = { N: 1 << 16 };
  const best = { 'elementwise:A': [64, 4], 'elementwise:B': [256, 1] } as Record<string, [number, number]>;
  /** Each kernel's time from its own group's knobs: an optimum per group, far from the other's. */
  const kernelCost = (id: string, s: Schedule) => {
    const k = s[id] as { workgroupSize: number; vectorWidth: number };
    const [wg, v] = best[id]!;
    return 1 + Math.abs(Math.log2(k.workgroupSize / wg)) + Math.abs(Math.log2(k.vectorWidth / v));
  };
  const perKernel = (log: Schedule[], withKernelTimes: boolean): Measurer => async (plan) => {
    log.push(plan.schedule);
    const ms = plan.kernelGroups.map((id) => kernelCost(id, plan.schedule));
    const total = ms.reduce((a, b) => a + b, 0);
    return { status: 'ok', measurement: { ...m(total), ...(withKernelTimes ? { kernelMs: ms } : {}) } };
  };

  it('every kernel of a plan is labelled with its group', () => {
    const plan = lower(two, twoSizes);
    expect(plan.kernelGroups).toEqual(['elementwise:A', 'elementwise:B']);
    // a split group launches two kernels under its one id
    const split = lower(matmul.build('f32'), { M: 64, N: 64, K: 4096 }, { defaults: { contraction: { splitK: 4 } } });
    expect(split.kernelGroups).toEqual(['contraction:C', 'contraction:C']);
  });

  it('combines each group\u2019s fastest knobs from the per-kernel times into a candidate of its own', async () => {
    const space = searchSpace(info, two, twoSizes);
    expect(space.dims.map((d) => `${d.group}.${d.knob}`)).toEqual(['elementwise:A.workgroupSize', 'elementwise:A.vectorWidth', 'elementwise:B.workgroupSize', 'elementwise:B.vectorWidth']);
    // two earlier results: each the best for one group and the worst for the other
    const seeds: Schedule[] = [
      { 'elementwise:A': { workgroupSize: 64, vectorWidth: 4 }, 'elementwise:B': { workgroupSize: 64, vectorWidth: 4 } },
      { 'elementwise:A': { workgroupSize: 256, vectorWidth: 1 }, 'elementwise:B': { workgroupSize: 256, vectorWidth: 1 } },
    ];
    const optimum = { 'elementwise:A': { workgroupSize: 64, vectorWidth: 4 }, 'elementwise:B': { workgroupSize: 256, vectorWidth: 1 } };
    const picked = (s: Schedule) => Object.fromEntries(Object.entries(s).map(([id, k]) => [id, { workgroupSize: (k as { workgroupSize: number }).workgroupSize, vectorWidth: (k as { vectorWidth: number }).vectorWidth }]));
    for (const seed of [1, 2, 3, 4]) {
      const log: Schedule[] = [];
      const r = await tune(info, two, twoSizes, space, perKernel(log, true), { strategy: 'guided', budget: { trials: 12 }, seed, seeds });
      expect(picked(r.best!.schedule), `seed ${seed}`).toEqual(optimum);
      // measured like any candidate, within the first generation
      expect(log.findIndex((s) => JSON.stringify(picked(s)) === JSON.stringify(optimum)), `seed ${seed}`).toBeLessThan(12);
    }
  });

  it('without per-kernel times (a device without timestamps) it searches as before', async () => {
    const space = searchSpace(info, two, twoSizes);
    const r = await tune(info, two, twoSizes, space, perKernel([], false), { strategy: 'guided', budget: { trials: 16 }, seed: 3 });
    expect(r.best).toBeDefined();
    expect(r.candidates.length).toBeLessThanOrEqual(16);
  });
});

describe('the tuner over chunk sizes', () => {
  // at 16 steps per chunk GLA's keys decayed per sub-chunk are read 4 times over and inlined; at
  // 32, 8 times and stored: the plans differ in a group, and the search must still lower both
  it('drops the knobs of groups a candidate plan does not have', async () => {
    const gla = findExample('gla')!.build('f32');
    const sizes = { B: 1, H: 2, L: 100, K: 16, V: 16 };
    const ids = (chunk: number) => lower(gla, sizes, { defaults: { chunk: { chunk } } }).groups.map((g) => g.id);
    expect(ids(32)).toContain('elementwise:o_keysub');
    expect(ids(16)).not.toContain('elementwise:o_keysub');
    const space = searchSpace(info, gla, sizes);
    expect(space.dims.some((d) => d.group === 'elementwise:o_keysub')).toBe(true);
    const seen = new Set<number>();
    const ok: Measurer = async (plan) => {
      seen.add((plan.schedule['chunk:o'] as { chunk: number }).chunk);
      return { status: 'ok', measurement: m((plan.schedule['chunk:o'] as { chunk: number }).chunk === 16 ? 1 : 2) };
    };
    const r = await tune(info, gla, sizes, searchSpace(info, gla, sizes, { chunk: [16] }), ok, { strategy: 'guided', budget: { trials: 4 } });
    expect(r.candidates.length).toBeGreaterThan(0);
    expect(r.best!.schedule['chunk:o']).toEqual({ kind: 'chunk', chunk: 16 });
    expect(r.best!.schedule['elementwise:o_keysub']).toBeUndefined();
    expect([...seen]).toEqual([16]);
  });
});

describe('the time budget counts everything the search does', () => {
  const space = searchSpace(info, program, sizes, restrict);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('measuring the leaders again is estimated with what compiling and checking a candidate costs', async () => {
    // each measurement costs 200 ms beyond its runs (a slow compile), each run 5 ms: re-measuring
    // six leaders takes about 1.6 s, not the 0.4 s their runs alone would
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      await sleep(200 + 5 * (1 + req.warmup + req.repeat));
      return { status: 'ok', measurement: m(5 + cost(s) / 1000) };
    }, { strategy: 'guided', budget: { seconds: 3 } });
    expect(r.seconds).toBeLessThan(3);
    expect(r.candidates.filter((c) => c.final).length).toBeGreaterThanOrEqual(3);
    expect(r.best!.final).toBeDefined();
  });

  it('counts from startedAt, and measures a leader again only where it fits in what is left', async () => {
    const startedAt = performance.now() - 1500;
    const r = await tune(info, program, sizes, space, async (_plan, req) => {
      await sleep(100 + 20 * (1 + req.warmup + req.repeat));
      return { status: 'ok', measurement: m(20) };
    }, { strategy: 'guided', budget: { seconds: 2 }, startedAt });
    // the default is measured whatever the budget; there is no time left to measure it again
    expect(r.candidates.length).toBe(1);
    expect(r.best!.final).toBeUndefined();
    expect(r.seconds).toBeGreaterThan(1.5);
    expect(r.seconds).toBeLessThan(2.5);
  });

  it('keeps back the reserve the caller asks for', async () => {
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      await sleep(10 * (1 + req.warmup + req.repeat));
      return { status: 'ok', measurement: m(10 + cost(s) / 1000) };
    }, { strategy: 'guided', budget: { seconds: 2.5 }, reserveSeconds: 1 });
    expect(r.seconds).toBeLessThan(1.5 + 0.3);
  });
});

describe('a speed-up over the default is reported only on confirmed, quiet timings', () => {
  const space = searchSpace(info, program, sizes, restrict);
  /** Samples around `ms` spread ±180% (half the interquartile range over the median). */
  const noisy = (ms: number): Measurement => summarize([ms * 0.2, ms * 0.3, ms, ms * 4, ms * 6], 'device');
  const isDefault = (s: Schedule) => canonicalJson(s) === canonicalJson(space.defaults);

  it('a default that stays noisy after measuring again gives no confident ratio, and says why', async () => {
    const measuredDefault: number[] = [];
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      if (!isDefault(s)) return { status: 'ok', measurement: m(cost(s) / 20) };
      measuredDefault.push(req.repeat);
      return { status: 'ok', measurement: noisy(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 12 } });
    expect(r.default!.screen!.spread).toBeGreaterThan(1.5);
    // screened, measured again, then twice more to confirm it: still ±180%
    expect(measuredDefault).toEqual([3, 10, 10, 10]);
    expect(r.default!.final!.samples.length).toBe(15); // three measurements of five samples, pooled
    expect(r.speedup).toMatchObject({ reliable: false, default: { confirmed: true }, best: { confirmed: true, spread: 0 } });
    expect(r.speedup!.default.spread).toBeGreaterThan(0.2);
    expect(r.speedup!.reason).toMatch(/spread wider than ±20% after measuring again: the default ±\d+%/);
  });

  it('a default noisy only at its first measurement is confirmed by the second, and the ratio rests on that', async () => {
    const r = await tune(info, program, sizes, space, async ({ schedule: s }, req) => {
      if (!isDefault(s)) return { status: 'ok', measurement: m(cost(s) / 2) };
      return { status: 'ok', measurement: req.repeat === 3 ? noisy(cost(s) / 20) : m(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 12 } });
    expect(r.speedup!.reliable).toBe(true);
    expect(r.speedup!.reason).toBeUndefined();
    expect(r.speedup!.default.medianMs).toBe(cost(space.defaults));
    expect(r.speedup!.ratio).toBeCloseTo(cost(space.defaults) / r.best!.final!.medianMs);
  });

  it('after an interrupt the winner may rest on screening alone: not confirmed, not reliable', async () => {
    const abort = new AbortController();
    let n = 0;
    const r = await tune(info, program, sizes, space, async ({ schedule: s }) => {
      if (++n === 4) abort.abort();
      return { status: 'ok', measurement: m(cost(s)) };
    }, { strategy: 'guided', budget: { trials: 100 } }, { signal: abort.signal });
    expect(r.stoppedBy).toBe('interrupted');
    expect(r.best!.final).toBeUndefined();
    expect(r.speedup).toMatchObject({ reliable: false, best: { confirmed: false } });
    expect(r.speedup!.reason).toMatch(/measured by screening only/);
  });
});
