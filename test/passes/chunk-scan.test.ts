import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { linearRecurrence } from '../../examples/linear-recurrence.js';
import { dot } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { type Tensor } from '../../src/dsl/tensor.js';
import { type Sizes, bindProgram, shapeOf } from '../../src/ir/bind.js';
import { type HostTensor, fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { printProgram } from '../../src/ir/print.js';
import { type Program } from '../../src/ir/tensor.js';
import { ChunkScanError, chunkScan } from '../../src/passes/chunk-scan.js';
import { lower } from '../../src/passes/pipeline.js';
import { searchSpace } from '../../src/autotune/space.js';
import { syntheticDeviceInfo } from '../autotune/fixtures.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { Executable } from '../../src/runtime/executable.js';
import { checkOnDevice, currentDevice, mismatch, onEachDevice } from '../helpers/device.js';

/**
 * The chunk-scan rewrite: linear recurrences written as scans come out as chunked matrix products
 * and a scan over chunks, with the results of the recurrence as written (the reference runs it
 * step by step in float64); what it cannot chunk it leaves alone, saying why.
 */

const FAMILY = ['linear-attention', 'linear-attention-plain', 'retention', 'gla', 'ssd'] as const;
const example = (name: string) => EXAMPLES.find((e) => e.name === name)!;

/** The example's sizes with the sequence length `L` and small heads and feature dimensions. */
function small(name: string, L: number, dim = 6): Sizes {
  const s = example(name).sizes;
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'L' ? L : k === 'B' ? 2 : k === 'H' ? 3 : Math.min(v, dim)]));
}

/** Random inputs; `gate` rewrites GLA's gate logits (random in [-1, 1]: decays near 0.96). */
function inputsFor(p: Program, sizes: Sizes, seed = 5, gate?: (x: number) => number): Record<string, HostTensor> {
  const bound = bindProgram(p, sizes);
  return Object.fromEntries(
    bound.inputs.map((t, k) => {
      const h = randomHost(t.dtype, shapeOf(t), seed + 31 * k);
      if (t.name === 'gk' && gate) {
        const f = h.data as Float32Array;
        for (let i = 0; i < f.length; i++) f[i] = gate(f[i]!);
      }
      return [t.name, h];
    }),
  );
}

const traceOf = (p: Program, sizes: Sizes, options = {}) => lower(p, sizes, options).trace.find((t) => t.pass === 'chunk-scan')?.note;

describe('chunk-scan: what it rewrites', () => {
  for (const name of FAMILY) {
    it(`${name}: chunked by default at its default sizes, with no tensor over the steps and the whole state`, () => {
      const ex = example(name);
      for (const dtype of ex.dtypes) {
        const plan = lower(ex.build(dtype), ex.sizes);
        expect(plan.trace.find((t) => t.pass === 'chunk-scan')?.note, dtype).toMatch(/^\w+: chunks of 32(; S_final: chunks of 32)?$/);
        const { L, K = ex.sizes.N!, V = ex.sizes.P! } = ex.sizes as Record<string, number>;
        // the per-step state would be L·K·V per head; the chunk states are L/32 of that, the
        // largest temporary (the keys decayed to each sub-chunk's start) 4·L·K
        const perStep = ex.sizes.B! * ex.sizes.H! * L! * K * V;
        for (const t of plan.tensors.filter((x) => x.role === 'temp')) expect(t.shape.reduce((a, b) => a * b, 1), t.name).toBeLessThanOrEqual(perStep / 16);
      }
    });
  }

  it('the derived tensor IR of GLA: cumulative log-decays, chunk products, a scan over chunks', () => {
    const r = chunkScan(example('gla').build('f32'), { B: 1, H: 2, L: 100, K: 4, V: 3 }, { chunkFor: () => 32 });
    expect(r.rewritten).toEqual([{ stmt: 'o', chunk: 32, used: 32, length: 100 }, { stmt: 'S_final', chunk: 32, used: 32, length: 100 }]);
    const names = r.program.stmts.map((s) => s.target.name);
    // the scores by sub-chunks of 8: products with earlier sub-chunks as one matrix product of the
    // query and keys decayed to the sub-chunk's start, exponentials per term only within one
    expect(names).toEqual([
      'o_cumdecay', 'o_querysub', 'o_keysub', 'o_scoresoff', 'o_scoresdiag', 'o_scores', 'o_intra',
      'o_keydecay', 'o_chunksum', 'o_chunkstate', 'o_querydecay', 'o_inter', 'o', 'S_final',
    ]);
    const cum = r.program.stmts[0]!;
    // a scan within each chunk over the log of the decay: exp(log(sigmoid(gk)) / 16) read as the
    // log-sigmoid / 16, itself written min(gk, 0) - log(1 + exp(-|gk|)), which never underflows
    expect(cum.expr.op === 'fold' && cum.expr.def.kind).toBe('scan');
    const text = printProgram(r.program);
    expect(text).toContain('min(gk[b, h, min(chunk * 32 + pos, 99), d], 0) - log(1 + exp(-abs(gk[b, h, min(chunk * 32 + pos, 99), d])))');
    expect(text).not.toContain('sigmoid');
    // the final state is the last chunk's state
    expect(r.program.stmts.at(-1)!.expr).toMatchObject({ op: 'load', tensor: 'o_chunkstate' });
  });

  it('a decay written as a power of a sigmoid, or a product of decays, is taken apart in log space', () => {
    const gated = (decay: (g: F32, h: F32) => F32) =>
      program('g', (p) => {
        const [L, K, V] = p.sizes('L', 'K', 'V');
        const q = p.input('q', 'f32', { t: L, d: K });
        const k = p.input('k', 'f32', { t: L, d: K });
        const v = p.input('v', 'f32', { t: L, e: V });
        const a = decay(p.input('g', 'f32', { t: L, d: K }), p.input('r', 'f32', { t: L }));
        const { o } = p.scan({
          over: { t: L },
          state: { S: { dtype: 'f32', axes: { d: K, e: V }, init: 0 } },
          step: (s) => ({ S: a.mul(s.S).add(k.mul(v)) }),
          merge: (x, y) => ({ S: x.S.add(y.S) }),
          outputs: (s) => ({ o: dot(q, s.S, 'd') }),
        });
        p.output('o', o);
      });
    const sizes = { L: 40, K: 3, V: 2 };
    const cum = (p: Program) => printProgram(chunkScan(p, sizes).program).split('\n').find((l) => l.includes('_cumdecay['))!;
    // sigmoid(g)^(1/16): the log-sigmoid (stable) over 16, never the sigmoid rounded
    expect(cum(gated((g) => g.sigmoid().pow(1 / 16)))).toContain('0.0625 * (min(g[min(chunk * 32 + pos, 39), d], 0) - log(1 + exp(-abs(g[');
    // a product of two decays: the sum of their logs
    expect(cum(gated((g, r) => g.exp().mul(r.sigmoid())))).toMatch(/g\[.*\] \+ \(min\(r\[/);
  });

  it('a chunk longer than the sequence is cut to it; chunkScan: false leaves the scan as written', () => {
    const p = example('retention').build('f32');
    expect(traceOf(p, small('retention', 10))).toBe('o: chunks of 10');
    expect(traceOf(p, small('retention', 10), { rewrites: { chunkScan: false } })).toBeUndefined();
    expect(lower(p, small('retention', 10), { rewrites: { chunkScan: false } }).groups.map((g) => g.id)).toEqual(['rows:o']);
  });
});

/** A scan over t of a state S[d, e] built by `parts`, output sum[d](q * S). */
type F32 = Tensor<'f32', string>;
type Inputs = Record<'q' | 'k' | 'v' | 'g' | 'w' | 'ge', F32>;
function recurrence(parts: {
  init?: number;
  step: (x: Inputs, S: F32) => F32;
  output?: 'readout' | 'state';
  dynamic?: boolean;
}): Program {
  return program('r', (p) => {
    const [K, V] = p.sizes('K', 'V');
    const L = parts.dynamic ? p.dynamicSize('L', { max: 64 }) : p.sizes('L')[0]!;
    const x = {
      q: p.input('q', 'f32', { t: L, d: K }),
      k: p.input('k', 'f32', { t: L, d: K }),
      v: p.input('v', 'f32', { t: L, e: V }),
      g: p.input('g', 'f32', { t: L, d: K }),
      w: p.input('w', 'f32', { t: L, d: K, e: V }),
      ge: p.input('ge', 'f32', { t: L, e: V }),
    };
    const { o } = p.scan({
      over: { t: L },
      state: { S: { dtype: 'f32', axes: { d: K, e: V }, init: parts.init ?? 0 } },
      step: (s) => ({ S: parts.step(x, s.S) }),
      merge: (a, b) => ({ S: a.S.add(b.S) }),
      outputs: (s) => ({ o: parts.output === 'state' ? s.S : dot(x.q, s.S, 'd') }),
    });
    p.output('o', o);
  });
}

describe('chunk-scan: the steps per chunk are a knob', () => {
  const p = example('gla').build('f32');
  const sizes = small('gla', 100);

  it('each chunked statement is a plan group of kind chunk, its knob in the schedule', () => {
    const plan = lower(p, sizes);
    expect(plan.groups.filter((g) => g.kind === 'chunk')).toEqual([
      { id: 'chunk:o', kind: 'chunk', computes: ['o'], extents: { length: 100 } },
      { id: 'chunk:S_final', kind: 'chunk', computes: ['S_final'], extents: { length: 100 } },
    ]);
    expect(plan.schedule['chunk:o']).toEqual({ kind: 'chunk', chunk: 32 });
    // a schedule sets it per statement, defaults for every one; replaying the schedule gives the same plan
    const mixed = lower(p, sizes, { schedule: { 'chunk:o': { chunk: 16 } }, defaults: { chunk: { chunk: 32 } } });
    expect(mixed.trace.find((t) => t.pass === 'chunk-scan')?.note).toBe('o: chunks of 16; S_final: chunks of 32');
    const replay = lower(p, sizes, { schedule: mixed.schedule });
    expect(replay.kernels.map((k) => k.name)).toEqual(mixed.kernels.map((k) => k.name));
    expect(replay.schedule).toEqual(mixed.schedule);
  });

  it('a bad chunk is refused, naming it', () => {
    expect(() => lower(p, sizes, { schedule: { 'chunk:o': { chunk: 0 } } })).toThrow(/statement o: .*steps per chunk must be a positive integer, got 0/);
    expect(() => lower(p, sizes, { schedule: { 'chunk:q': { chunk: 16 } } })).toThrow(/the schedule has group chunk:q, but this plan's groups are chunk:o, chunk:S_final, /);
    expect(() => lower(p, sizes, { schedule: { 'chunk:o': { blockM: 16 } as never } })).toThrow(/group chunk:o \(chunk\) has no knob blockM/);
  });

  it('the search space offers chunk sizes up to the length; a restriction pins them', () => {
    const space = searchSpace(syntheticDeviceInfo, p, { ...sizes, L: 4096 });
    expect(space.dims.filter((d) => d.knob === 'chunk')).toEqual([
      { group: 'chunk:o', knob: 'chunk', values: [16, 32, 64, 128] },
      { group: 'chunk:S_final', knob: 'chunk', values: [16, 32, 64, 128] },
    ]);
    expect(searchSpace(syntheticDeviceInfo, p, sizes).dims.find((d) => d.knob === 'chunk')!.values).toEqual([16, 32, 64]);
    // the default is always a point of the space, though past the length it is cut to it
    expect(searchSpace(syntheticDeviceInfo, p, small('gla', 20)).dims.find((d) => d.knob === 'chunk')!.values).toEqual([32, 16]);
    expect(searchSpace(syntheticDeviceInfo, p, sizes, { chunk: [16] }).dims.find((d) => d.knob === 'chunk')!.values).toEqual([16]);
  });
});

describe('chunk-scan: what it declines, and why', () => {
  const sizes = { L: 20, K: 3, V: 2 };
  const declines: readonly [string, Program, RegExp][] = [
    ['a state that does not start at 0', recurrence({ init: 1, step: (x, S) => S.add(x.k.mul(x.v)) }), /starts at 1, not 0/],
    ['an update not linear in the state', recurrence({ step: (x, S) => S.mul(S).add(x.k.mul(x.v)) }), /not linear in it/],
    ['a decay over the value axis', recurrence({ step: (x, S) => x.ge.exp().mul(S).add(x.k.mul(x.v)) }), /reads its axis e, but the output sums over d/],
    ['an additive term that is not key times value', recurrence({ step: (x, S) => S.add(x.w) }), /not a product of a part over d and a part over its other axes/],
    ['an output that reads the state itself', recurrence({ step: (x, S) => S.add(x.k.mul(x.v)), output: 'state' }), /other than through a sum over one of its axes/],
    ['a decay not known to be positive', recurrence({ step: (x, S) => x.g.mul(S).add(x.k.mul(x.v)) }), /not known to be positive/],
    ['a state that does not carry over', recurrence({ step: (x) => x.k.mul(x.v) }), /does not carry the state over/],
    ['a dynamic sequence length', recurrence({ step: (x, S) => S.add(x.k.mul(x.v)), dynamic: true }), /dynamic length/],
  ];
  for (const [what, p, why] of declines) {
    it(what, () => {
      const r = chunkScan(p, sizes);
      expect(r.rewritten).toEqual([]);
      expect(r.declined).toHaveLength(1);
      expect(r.declined[0]!.reason).toMatch(why);
      // in the plan's trace, and a typed error where chunks were asked for
      expect(traceOf(p, sizes)).toMatch(why);
      let thrown: unknown;
      try {
        lower(p, sizes, { rewrites: { chunkScan: 'required' } });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(ChunkScanError);
      expect((thrown as ChunkScanError).stmt).toBe('o');
      expect((thrown as Error).message).toMatch(why);
    });
  }

  it('a decay written as a plain input (linear-recurrence): left as written, because its sign is unknown', () => {
    expect(traceOf(linearRecurrence.build('f32'), { H: 2, T: 40, D: 4, E: 4 })).toMatch(/^o left as written: the decay of S, a\[h, t, d\], is not known to be positive/);
  });

  it('a local that reads the state, and fields that read each other', () => {
    const coupled = (viaLocal: boolean) =>
      program('r', (p) => {
        const [L, K, V] = p.sizes('L', 'K', 'V');
        const k = p.input('k', 'f32', { t: L, d: K });
        const v = p.input('v', 'f32', { t: L, e: V });
        const q = p.input('q', 'f32', { t: L, d: K });
        const { o } = p.scan({
          over: { t: L },
          state: { S: { dtype: 'f32', axes: { d: K, e: V }, init: 0 }, n: { dtype: 'f32', init: 0 } },
          step: (s, l) => ({ S: s.S.add(k.mul(v).mul(viaLocal ? l('w', s.n.add(1)) : s.n)), n: s.n.add(1) }),
          merge: (a, b) => ({ S: a.S.add(b.S), n: a.n.add(b.n) }),
          outputs: (s) => ({ o: dot(q, s.S, 'd') }),
        });
        p.output('o', o);
      });
    expect(chunkScan(coupled(true), sizes).declined[0]!.reason).toMatch(/local w reads the state/);
    expect(chunkScan(coupled(false), sizes).declined[0]!.reason).toMatch(/reads the state other than as S itself/);
  });
});

onEachDevice(() => {
  // The chunked form adds in another order and goes through exp and log (the software GPU's are
  // accurate to about 1e-6), and a log-decay summed over a chunk keeps f32's relative precision:
  // a difference of two sums near -600 is good to about 1e-4. So 1e-4 relative, 2e-5 absolute.
  const chunked = (chunk: number) => ({ compile: { rewrites: { chunkScan: 'required' as const }, defaults: { chunk: { chunk } } }, tol: { rtol: 1e-4, atol: 2e-5 } });
  describe('chunk-scan on the device, against the recurrence run step by step', () => {
    // lengths: one step; chunks that do not divide it; one that does; a long sequence
    const runs: readonly [number, number][] = [
      [1, 16],
      [37, 16],
      [100, 32],
      [64, 64],
    ];
    for (const name of FAMILY) {
      it(`${name} (f32) at lengths ${runs.map(([L, c]) => `${L}/${c}`).join(', ')}`, { timeout: 60_000 }, async () => {
        const p = example(name).build('f32');
        for (const [L, chunk] of runs) {
          const sizes = small(name, L);
          const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, L), chunked(chunk));
          expect(r.plan.trace.find((t) => t.pass === 'chunk-scan')?.note, `L=${L}`).toMatch(/chunks of/);
          expect(r.failures, `L=${L} chunk=${chunk}`).toEqual([]);
        }
      });
    }

    for (const name of ['gla', 'linear-attention', 'ssd']) {
      it(`${name} (f16 inputs, f32 state)`, { timeout: 60_000 }, async () => {
        const p = example(name).build('f16');
        const sizes = small(name, 45);
        // f16 outputs: the f16 tolerance
        const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, 9), { compile: chunked(16).compile });
        expect(r.failures).toEqual([]);
      });
    }

    it('gla with decays near 0 (down to exactly 0), near 1 and mixed, and a length of 4096', { timeout: 120_000 }, async () => {
      const p = example('gla').build('f32');
      // the decay is sigmoid(gk)^(1/16): gk = -2000 gives exactly 0, -200 about 4e-6, 40 gives 1 in f32
      const gates: readonly [string, (x: number) => number][] = [
        ['near 0', (x) => (x > 0.5 ? -2000 : -200 - 100 * Math.abs(x))],
        ['near 1', (x) => 40 + Math.abs(x)],
        ['mixed', (x) => 300 * x],
      ];
      for (const [what, gate] of gates) {
        const sizes = small('gla', 77, 5);
        const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, 3, gate), chunked(32));
        expect(r.failures, what).toEqual([]);
      }
      const sizes = { B: 1, H: 1, L: 4096, K: 4, V: 3 };
      const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, 4, (x) => 40 * x + 30), chunked(64));
      expect(r.failures).toEqual([]);
    });

    // the products with the values read the scores per sub-chunk of the step a lane fetches for
    // its subgroup: an index divided by 8 of the subgroup lane
    it('gla with every contraction reading A by subgroup shuffles', { timeout: 60_000 }, async () => {
      const p = example('gla').build('f32');
      const sizes = small('gla', 100, 16);
      const shuffled = { staging: 'direct', shuffleA: true, blockM: 8, threadM: 8, blockN: 16, threadN: 2, blockK: 8 } as const;
      const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, 12), { ...chunked(32), compile: { ...chunked(32).compile, defaults: { chunk: { chunk: 32 }, contraction: shuffled } } });
      expect(r.plan.schedule['contraction:o_intra']).toMatchObject({ shuffleA: true });
      expect(r.failures).toEqual([]);
    });

    it('linear attention at a length of 4096 (no decay: the state only grows)', { timeout: 120_000 }, async () => {
      const p = example('linear-attention-plain').build('f32');
      const sizes = { B: 1, H: 1, L: 4096, K: 4, V: 3 };
      const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, 6), chunked(64));
      expect(r.failures).toEqual([]);
    });

    it('gla-decode is one kernel storing the new state as it sums over it, under every row schedule', { timeout: 60_000 }, async () => {
      const p = example('gla-decode').build('f32');
      // 2·3·50 = 300 rows: enough to store the state at the steps (STEP_STORE_MIN_ROWS)
      const sizes = { B: 2, H: 3, K: 37, V: 50 };
      const inputs = inputsFor(p, sizes, 14);
      const schedules = [{}, { threadsPerRow: 1 }, { threadsPerRow: 8, workgroupSize: 64 }, { splitSteps: 2 }, { unrollSteps: 4 }, { subgroups: true, threadsPerRow: 8, workgroupSize: 8 }];
      for (const rows of schedules) {
        const r = await checkOnDevice(p, sizes, inputs, { compile: { defaults: { rows } } });
        // the decay per key dimension is computed once, by a kernel of its own
        expect(r.plan.groups.map((g) => g.id), JSON.stringify(rows)).toEqual(['elementwise:a', 'rows:S_new,o']);
        expect(r.failures, JSON.stringify(rows)).toEqual([]);
      }
      // the row schedules that build their own step loops are refused, not wrong
      expect(() => lower(p, sizes, { defaults: { rows: { threadsPerRow: 1, rowsPerLane: 4 } } })).toThrow(/rowsPerLane does not combine with storing S_new at the reduction's steps/);
      expect(() => lower(p, sizes, { defaults: { rows: { threadsPerRow: 1, stageSteps: 8 } } })).toThrow(/stageSteps does not combine with storing S_new/);
    });

    it('gla-decode continues from the final state that chunked gla returns', { timeout: 60_000 }, async () => {
      const [B, H, L, K, V] = [2, 3, 21, 5, 4];
      const gla = example('gla').build('f32');
      const all = inputsFor(gla, { B, H, L, K, V }, 8);
      // the first L - 1 steps through gla, chunked; the last one through gla-decode from its state
      const steps = (t: HostTensor, from: number, to: number) => {
        const [b, h, l, f] = t.shape as [number, number, number, number];
        const src = toValues(t);
        const out = new Float64Array(b * h * (to - from) * f);
        for (let i = 0; i < b * h; i++) out.set(src.subarray((i * l + from) * f, (i * l + to) * f), i * (to - from) * f);
        return fromValues('f32', [b, h, to - from, f], out);
      };
      const device = await currentDevice();
      const prefill = await Executable.create(device, gla, { B, H, L: L - 1, K, V }, { rewrites: { chunkScan: 'required' }, schedule: { 'chunk:o': { chunk: 8 }, 'chunk:S_final': { chunk: 8 } } });
      const prefix = Object.fromEntries(Object.entries(all).map(([n, t]) => [n, steps(t, 0, L - 1)]));
      const { S_final } = (await prefill.run(prefix)).outputs;
      const last = (n: string) => ({ ...steps(all[n]!, L - 1, L), shape: n === 'v' ? [B, H, V] : [B, H, K] });
      const decode = await Executable.create(device, example('gla-decode').build('f32'), { B, H, K, V });
      const { o } = (await decode.run({ S: S_final!, q: last('q'), k: last('k'), v: last('v'), gk: last('gk') })).outputs;
      const whole = evaluate(gla, { B, H, L, K, V }, all).outputs.o!;
      const expected = fromValues('f32', [B, H, V], Float64Array.from({ length: B * H * V }, (_, i) => toValues(whole)[(Math.floor(i / V) * L + L - 1) * V + (i % V)]!));
      expect(mismatch(o!, expected)).toBeUndefined();
      prefill.destroy();
      decode.destroy();
    });
  });
});
