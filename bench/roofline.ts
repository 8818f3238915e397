import { type Ceilings, recordCeilings } from '../src/autotune/ceilings.js';
import { type Measurement } from '../src/autotune/measure.js';
import { program as buildProgram } from '../src/dsl/program.js';
import { type DType } from '../src/ir/dtype.js';
import { randomHost } from '../src/ir/host.js';
import { type CompileOptions, Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type Contender, fmtMs, interleaved, printTable } from './common.js';

export interface RooflineOptions {
  readonly n: number;
  readonly depth: number;
  readonly rounds: number;
  readonly db?: string | undefined;
}

/** Independent multiply-add chains per element, so latency does not hide the rate. */
export const CHAINS = 4;

/**
 * `CHAINS` independent chains y = ((x_c·a + b)·a + b)... of `depth` multiply-adds each, summed:
 * (2·depth + 1)·CHAINS FLOPs per element (minus one add), one elementwise kernel.
 */
const fmaChain = (dtype: 'f32' | 'f16', depth: number) =>
  buildProgram(`fma_chain_${dtype}`, (p) => {
    const [n] = p.sizes('n');
    const x = p.input('X', dtype, { i: n });
    const chains = Array.from({ length: CHAINS }, (_, c) => {
      let y = x.add(c * 0.25);
      for (let d = 0; d < depth; d++) y = y.mul(0.999).add(0.001);
      return y;
    });
    p.output('Y', chains.slice(1).reduce((a, b) => a.add(b), chains[0]!));
  });
const fmaFlops = (depth: number) => CHAINS * (2 * depth + 1) + (CHAINS - 1);

const copy = buildProgram('copy', (p) => {
  const [n] = p.sizes('n');
  p.output('Y', p.input('X', 'f32', { i: n }));
});

/**
 * Measures the device's ceilings with probe kernels lowered by tilecraft itself (so they are what
 * its kernels could reach, not a vendor's number), interleaved in one run, and records them.
 */
export async function benchRoofline(device: WebGpuDevice, o: RooflineOptions, log: (s: string) => void): Promise<Ceilings> {
  const probes: { name: string; exe: Executable; work: number; unit: 'GFLOP/s' | 'GB/s' | 'us'; wall?: boolean }[] = [];
  const add = async (name: string, p: ReturnType<typeof buildProgram>, sizes: Record<string, number>, dtype: DType, work: number, unit: 'GFLOP/s' | 'GB/s' | 'us', options: CompileOptions = {}) => {
    const exe = await Executable.create(device, p, sizes, { ...options, warmup: true });
    exe.upload('X', randomHost(dtype, [sizes.n!], 1));
    probes.push({ name, exe, work, unit });
  };
  const vec4 = { defaults: { elementwise: { vectorWidth: 4 as const } } };
  const scalar = { defaults: { elementwise: { vectorWidth: 1 as const } } };
  await add('FMA f32', fmaChain('f32', o.depth), { n: o.n }, 'f32', fmaFlops(o.depth) * o.n, 'GFLOP/s', vec4);
  const f16 = device.hasFeature('shader-f16');
  if (f16) await add('FMA f16', fmaChain('f16', o.depth), { n: o.n }, 'f16', fmaFlops(o.depth) * o.n, 'GFLOP/s', vec4);
  const copyN = 4 * o.n;
  await add('copy vec4', copy, { n: copyN }, 'f32', 8 * copyN, 'GB/s', vec4);
  await add('copy scalar', copy, { n: copyN }, 'f32', 8 * copyN, 'GB/s', scalar);
  await add('launch (1 element)', copy, { n: 1 }, 'f32', 0, 'us', scalar);
  const contenders: Contender[] = probes.map((p) => ({
    name: p.name,
    run: async () => {
      const r = await p.exe.dispatch({}, { timing: true });
      return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
    },
  }));
  // the wall time of a tiny run: submit, wait, read the timestamps back
  const tiny = probes.at(-1)!.exe;
  contenders.push({ name: 'launch wall', run: async () => (await tiny.dispatch({}, { timing: false })).wallMs });
  log(`measuring ${contenders.map((c) => c.name).join(', ')} (${o.rounds} rounds)`);
  const m = await interleaved(contenders, o.rounds, 1);
  for (const p of probes) p.exe.destroy();
  const rate = (p: (typeof probes)[number], x: Measurement) => (p.unit === 'GFLOP/s' ? p.work / (x.medianMs * 1e-3) / 1e9 : p.unit === 'GB/s' ? p.work / (x.medianMs * 1e-3) / 1e9 : x.medianMs * 1e3);
  const value = (name: string) => {
    const p = probes.find((q) => q.name === name);
    const x = m.get(name);
    return p && x ? rate(p, x) : undefined;
  };
  const ceilings: Ceilings = {
    measuredAt: new Date().toISOString(),
    device: device.info.name,
    fmaF32: value('FMA f32')!,
    ...(f16 ? { fmaF16: value('FMA f16')! } : {}),
    copyVec4: value('copy vec4')!,
    copyScalar: value('copy scalar')!,
    launchDeviceUs: value('launch (1 element)')!,
    launchWallUs: m.get('launch wall')!.medianMs * 1e3,
  };
  printTable(
    ['probe', 'what it runs', 'ms (median ±spread)', 'ceiling'],
    [
      ['FMA f32', `${CHAINS} chains of ${o.depth} dependent multiply-adds per element, ${o.n} elements, vec4`, fmtMs(m.get('FMA f32')), `${ceilings.fmaF32.toFixed(1)} GFLOP/s`],
      ...(f16 ? [['FMA f16', 'the same in f16', fmtMs(m.get('FMA f16')), `${ceilings.fmaF16!.toFixed(1)} GFLOP/s`]] : []),
      ['copy vec4', `${copyN} f32, read and written`, fmtMs(m.get('copy vec4')), `${ceilings.copyVec4.toFixed(2)} GB/s`],
      ['copy scalar', 'the same, one element per lane', fmtMs(m.get('copy scalar')), `${ceilings.copyScalar.toFixed(2)} GB/s`],
      ['launch', 'one element: device time / wall time of a run', `${fmtMs(m.get('launch (1 element)'))} / ${fmtMs(m.get('launch wall'))}`, `${ceilings.launchDeviceUs.toFixed(0)} / ${ceilings.launchWallUs.toFixed(0)} us`],
    ],
  );
  const path = recordCeilings(device.info, ceilings, o.db);
  log(`recorded in ${path} (the other benches report their share of these)`);
  return ceilings;
}
