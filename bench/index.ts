/**
 * Benchmarks (not tests: timings on shared machines are noisy, so they print medians, spreads and
 * ratios measured side by side in one run). `npm run bench -- --help`.
 */
import { Command } from 'commander';
import { type WebGpuDevice, createWebGpuDevice } from '../src/runtime/webgpu.js';
import { type DType, isDType } from '../src/ir/dtype.js';
import { parseBudget } from '../src/cli/tune.js';
import { describeDevice, writeJson } from './common.js';
import { benchGemm } from './gemm.js';
import { benchMemory } from './memory.js';
import { benchStrategies } from './strategies.js';

const log = (s: string) => console.error(s);
const cli = new Command('bench').description('tilecraft benchmarks on the default WebGPU device');

/** Runs one benchmark on the default WebGPU device and writes its results as JSON where asked. */
async function onDevice(bench: string, json: string | undefined, run: (device: WebGpuDevice) => Promise<unknown>): Promise<void> {
  const device = await createWebGpuDevice();
  try {
    console.error(`device ${describeDevice(device.info)}`);
    const results = await run(device);
    writeJson(json, { bench, device: device.info, results });
  } finally {
    device.destroy();
  }
}

cli
  .command('gemm', { isDefault: true })
  .description('GEMM: tuned vs default schedule vs naive one-invocation-per-output vs TensorFlow.js WebGPU')
  .option('--shapes <list>', 'MxNxK list', '256x256x256,512x512x512,1024x1024x1024,2048x2048x2048,16x4096x4096')
  .option('--dtypes <list>', 'f32,f16', 'f32,f16')
  .option('--rounds <n>', 'interleaved timed rounds', '5')
  .option('--tune-budget <budget>', 'guided search budget for shapes not in the tuning database', '40,180s')
  .option('--db <path>', 'tuning database')
  .option('--no-tfjs', 'skip TensorFlow.js')
  .option('--no-naive', 'skip the naive kernel')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const shapes = String(o.shapes)
      .split(',')
      .map((s) => {
        const [M, N, K] = s.split('x').map(Number);
        return { M: M!, N: N!, K: K! };
      });
    const dtypes = String(o.dtypes).split(',').filter((d): d is DType => isDType(d));
    await onDevice('gemm', o.json, (device) =>
      benchGemm(device, { shapes, dtypes, rounds: Number(o.rounds), tuneBudget: parseBudget(o.tuneBudget), db: o.db, tfjs: o.tfjs, naive: o.naive }, log),
    );
  });

cli
  .command('memory')
  .description('GB/s of an elementwise chain and a row softmax (default and tuned schedules)')
  .option('--shape <NxD>', 'rows x columns', '8192x4096')
  .option('--rounds <n>', 'interleaved timed rounds', '5')
  .option('--no-tune', 'default schedule only')
  .option('--tune-budget <budget>', 'guided search budget', '24,240s')
  .option('--db <path>', 'tuning database')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const [N, D] = String(o.shape).split('x').map(Number);
    await onDevice('memory', o.json, (device) =>
      benchMemory(device, { N: N!, D: D!, rounds: Number(o.rounds), tune: o.tune, tuneBudget: parseBudget(o.tuneBudget), db: o.db }, log),
    );
  });

cli
  .command('strategies')
  .description('guided search vs the exhaustive optimum on a GEMM space of a few hundred valid candidates')
  .option('--size <n>', 'square GEMM size', '256')
  .option('--seeds <list>', 'guided search seeds', '1,2,3')
  .option('--rounds <n>', 'interleaved timed rounds for the winners', '7')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const seeds = String(o.seeds).split(',').map(Number);
    await onDevice('strategies', o.json, (device) => benchStrategies(device, { size: Number(o.size), seeds, rounds: Number(o.rounds) }, log));
  });

cli.parseAsync(process.argv).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
