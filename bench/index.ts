/**
 * Benchmarks (not tests: timings on shared machines are noisy, so they print medians, spreads and
 * ratios measured side by side in one run). `npm run bench -- --help`.
 */
import { Command } from 'commander';
import { type WebGpuDevice, createWebGpuDevice } from '../src/runtime/webgpu.js';
import { type DType, isDType } from '../src/ir/dtype.js';
import { parseBudget } from '../src/cli/tune.js';
import { describeDevice, writeJson } from './common.js';
import { benchAttention } from './attention.js';
import { benchGemm } from './gemm.js';
import { benchLinearAttention } from './linear-attention.js';
import { benchLowbit } from './lowbit.js';
import { benchMemory } from './memory.js';
import { benchRoofline } from './roofline.js';
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
  .command('attention')
  .description(
    'attention: the streaming (online-softmax) kernel vs the three-kernel plan, TF.js and a tuned GEMM (prefill); ' +
      'split-KV vs one workgroup per head vs a vec4 copy (decode). Every contender of a case is timed in one interleaved run.',
  )
  .option('--prefill <list>', "prefill sequence lengths N = M ('none' to skip)", '512,2048')
  .option('--prefill-shape <BxHxD>', 'prefill batch x heads x head size', '1x8x64')
  .option('--decode <HxMxD>', "decode (N = 1) heads x keys x head size ('none' to skip)", '32x8192x128')
  .option('--rounds <n>', 'interleaved timed rounds', '5')
  .option('--rounds-long <n>', 'interleaved timed rounds for prefill lengths above --tune-up-to', '2')
  .option('--tune-up-to <N>', 'tune prefill lengths up to N now; longer ones use a recorded schedule, else the one tuned at the longest shorter length', '512')
  .option('--no-tune', 'tune nothing: recorded schedules where the database has them, else defaults')
  .option('--tune-budget <budget>', 'guided search budget for each prefill plan (streaming, three-kernel)', '16,90s')
  .option('--decode-tune-budget <budget>', 'guided search budget for each decode schedule (split-KV, one workgroup per head)', '12,60s')
  .option('--gemm-tune-budget <budget>', 'guided search budget for the 1024³ GEMM yardstick', '12,60s')
  .option('--copy-tune-budget <budget>', 'guided search budget for the vec4 copy (workgroup size only)', '3,30s')
  .option('--db <path>', 'tuning database')
  .option('--no-tfjs', 'skip TensorFlow.js')
  .option('--no-gemm', 'skip the GEMM yardstick')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .addHelpText(
    'after',
    `
Tuned schedules come from the tuning database, else are found now within the budgets and recorded.
The three-kernel plan (the online-softmax rewrite off) and the pinned decode searches are recorded
under keys of their own, so they never replace the program's own tuned schedule.
With an empty database a default run took about 7 minutes on a 2-core software GPU (lavapipe), 4 of
them tuning; later runs only measure (about 3). --no-tune --prefill 512 --rounds 3 is a quick look.
Every contender's O is checked against a CPU reference on a few rows before it is timed.`,
  )
  .action(async (o) => {
    const none = (s: string) => s === '' || s === 'none';
    const dims = (s: string, what: string, n: number) => {
      const v = s.split('x').map(Number);
      if (v.length !== n || v.some((x) => !Number.isSafeInteger(x) || x < 1)) throw new Error(`${what} ${JSON.stringify(s)}: expected ${n} positive integers joined by x`);
      return v;
    };
    const prefill = none(String(o.prefill)) ? [] : String(o.prefill).split(',').map((s) => dims(s, '--prefill', 1)[0]!);
    const [B, H, D] = dims(String(o.prefillShape), '--prefill-shape', 3);
    const decode = none(String(o.decode)) ? undefined : dims(String(o.decode), '--decode', 3);
    await onDevice('attention', o.json, (device) =>
      benchAttention(
        device,
        {
          prefill,
          prefillShape: { B: B!, H: H!, D: D! },
          decode: decode && { H: decode[0]!, M: decode[1]!, D: decode[2]! },
          rounds: Number(o.rounds),
          roundsLong: Number(o.roundsLong),
          tuneUpTo: Number(o.tuneUpTo),
          tune: o.tune,
          tuneBudget: parseBudget(o.tuneBudget),
          decodeTuneBudget: parseBudget(o.decodeTuneBudget),
          gemmTuneBudget: parseBudget(o.gemmTuneBudget),
          copyTuneBudget: parseBudget(o.copyTuneBudget),
          db: o.db,
          tfjs: o.tfjs,
          gemm: o.gemm,
        },
        log,
      ),
    );
  });

cli
  .command('linear-attention')
  .description(
    'gated linear attention: the recurrence as written vs the chunked form (each chunk size tuned) vs causal flash attention at the same shape; ' +
      'the length from which the chunked kernel beats flash attention; the decoding step vs a vec4 copy',
  )
  .option('--shape <BxHxLxKxV>', 'batch x heads x length x key size x value size', '1x8x4096x64x64')
  .option('--chunks <list>', 'steps per chunk to tune and time', '16,32,64')
  .option('--lengths <list>', "lengths for the crossover with flash attention ('none' to skip)", '256,512,1024,2048')
  .option('--decode <HxKxV>', "decoding step: heads x key size x value size ('none' to skip)", '32x128x128')
  .option('--rounds <n>', 'interleaved timed rounds', '5')
  .option('--no-tune', 'tuned schedules from the database only, else defaults')
  .option('--tune-budget <budget>', 'guided search budget per plan not in the tuning database', '16,240s')
  .option('--db <path>', 'tuning database')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const [B, H, L, K, V] = String(o.shape).split('x').map(Number);
    const list = (s: string) => (s === 'none' ? [] : s.split(',').map(Number));
    const decode = o.decode === 'none' ? undefined : String(o.decode).split('x').map(Number);
    await onDevice('linear-attention', o.json, (device) =>
      benchLinearAttention(
        device,
        {
          shape: { B: B!, H: H!, L: L!, K: K!, V: V! },
          chunks: list(String(o.chunks)),
          lengths: list(String(o.lengths)),
          decode: decode && { H: decode[0]!, K: decode[1]!, V: decode[2]! },
          rounds: Number(o.rounds),
          tune: o.tune,
          tuneBudget: parseBudget(o.tuneBudget),
          db: o.db,
        },
        log,
      ),
    );
  });

cli
  .command('lowbit')
  .description('int4 GEMV and skinny GEMM vs the same products with f16 weights and a vec4 copy, every contender of a case in one interleaved run')
  .option('--shape <NxK>', 'weight rows x columns', '4096x4096')
  .option('--groups <list>', 'int4 group sizes along K timed at M = 1', '32,128')
  .option('--skinny <list>', "M > 1 timed with int4 at the last group size vs f16 weights ('none' to skip)", '16')
  .option('--rounds <n>', 'interleaved timed rounds', '7')
  .option('--no-tune', 'tune nothing: recorded schedules where the database has them, else defaults')
  .option('--tune-budget <budget>', 'guided search budget for each GEMV / GEMM', '24,150s')
  .option('--copy-tune-budget <budget>', 'guided search budget for the vec4 copy (workgroup size only)', '3,30s')
  .option('--db <path>', 'tuning database')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const [N, K] = String(o.shape).split('x').map(Number);
    const list = (s: string) => (s === 'none' || s === '' ? [] : s.split(',').map(Number));
    await onDevice('lowbit', o.json, (device) =>
      benchLowbit(
        device,
        {
          N: N!,
          K: K!,
          groups: list(String(o.groups)),
          skinny: list(String(o.skinny)),
          rounds: Number(o.rounds),
          tune: o.tune,
          tuneBudget: parseBudget(o.tuneBudget),
          copyTuneBudget: parseBudget(o.copyTuneBudget),
          db: o.db,
        },
        log,
      ),
    );
  });

cli
  .command('roofline')
  .description(
    "the device's ceilings, measured with probe kernels tilecraft lowers: FMA rate (f32, f16), copy bandwidth (vec4, scalar), launch time, " +
      'workgroup-memory loads and stores, subgroup shuffles, barriers; recorded beside the tuning database for the other benches',
  )
  .option('--n <elements>', 'elements per probe (the copies move four times as many)', String(1 << 18))
  .option('--depth <n>', 'dependent multiply-adds per chain in the FMA probes', '32')
  .option('--groups <n>', 'workgroups of 64 invocations per launch of the workgroup-memory, subgroup and barrier probes', '256')
  .option('--iterations <n>', 'loop iterations per invocation in those probes (4 operations each)', '128')
  .option('--rounds <n>', 'interleaved timed rounds', '9')
  .option('--db <path>', 'tuning database (the ceilings are kept beside it)')
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const options = { n: Number(o.n), depth: Number(o.depth), groups: Number(o.groups), iterations: Number(o.iterations), rounds: Number(o.rounds), db: o.db };
    await onDevice('roofline', o.json, (device) => benchRoofline(device, options, log));
  });

cli
  .command('strategies')
  .description('guided search with and without the cost model vs the exhaustive optimum on a GEMM space of a few hundred valid candidates (searches replay the exhaustive run\'s measurements)')
  .option('--size <n>', 'square GEMM size', '256')
  .option('--seeds <list>', 'guided search seeds', '1,2,3,4,5,6,7,8,9,10')
  .option('--rounds <n>', 'interleaved timed rounds for the winners', '7')
  .option('--db <path>', 'tuning database (the ceilings beside it give the model its first weights)')
  .option('--replay <file>', "the exhaustive search's measurements: read if the file exists, else written after measuring")
  .option('--json <file>', "also write the results as JSON ('-' for stdout)")
  .action(async (o) => {
    const seeds = String(o.seeds).split(',').map(Number);
    await onDevice('strategies', o.json, (device) => benchStrategies(device, { size: Number(o.size), seeds, rounds: Number(o.rounds), db: o.db, replay: o.replay }, log));
  });

cli.parseAsync(process.argv).then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
