/**
 * A page that tunes a kernel on its visitor's GPU: compile, tune in the page, show the table,
 * run the winner against the CPU reference, and keep the winner for the next visit under the
 * device's fingerprint. Bundle it with any bundler (`npm run example:web` serves it with esbuild).
 */
import {
  type Candidate,
  type ResolvedSchedule,
  Executable,
  createWebGpuDevice,
  describeSchedule,
  deviceFingerprint,
  deviceSummary,
  dot,
  evaluate,
  program,
  randomHost,
  tuneOnDevice,
} from 'tilecraft';

const sizes = { M: 96, N: 80, K: 72 };
const matmul = program('matmul', (p) => {
  const [M, N, K] = p.sizes('M', 'N', 'K');
  p.output('C', dot(p.input('A', 'f32', { m: M, k: K }), p.input('B', 'f32', { k: K, n: N }), 'k'));
});

const $ = (id: string) => document.getElementById(id)!;
const say = (text: string, state = 'running') => {
  $('status').textContent = text;
  $('status').dataset.state = state;
};
const ms = (c: Candidate) => (c.final ?? c.screen)?.medianMs;

/** The ranked candidates as table rows: schedule, median, spread and the ratio to the default. */
function showTable(ranked: readonly Candidate[], dflt: Candidate | undefined): void {
  const base = dflt && ms(dflt);
  $('results').querySelector('tbody')!.replaceChildren(
    ...ranked.map((c, i) => {
      const row = document.createElement('tr');
      if (i === 0) row.className = 'best';
      const m = ms(c)!;
      const cells = [String(i + 1), describeSchedule(c.schedule) + (c.isDefault ? ' (default)' : ''), m.toFixed(3), `±${(((c.final ?? c.screen)?.spread ?? 0) * 100).toFixed(1)}%`, base ? `${(base / m).toFixed(2)}×` : ''];
      row.replaceChildren(...cells.map((t) => Object.assign(document.createElement('td'), { textContent: t })));
      return row;
    }),
  );
  $('results').hidden = false;
}

async function main(retune: boolean): Promise<void> {
  const device = await createWebGpuDevice();
  const fingerprint = deviceFingerprint(device.info);
  $('device').textContent = `device: ${deviceSummary(device.info)} — fingerprint ${fingerprint}`;
  $('device').dataset.fingerprint = fingerprint;
  const key = `tilecraft:${fingerprint}:${matmul.name}:${JSON.stringify(sizes)}`;
  const kept = localStorage.getItem(key);
  let schedule: ResolvedSchedule;
  if (kept && !retune) {
    schedule = JSON.parse(kept) as ResolvedSchedule;
    say(`using the schedule tuned on this device at an earlier visit: ${describeSchedule(schedule)}`, 'kept');
  } else {
    say('tuning…');
    const result = await tuneOnDevice(device, matmul, sizes, {
      budget: { trials: 12, seconds: 60 },
      finalists: 3,
      restrict: { blockM: [16, 32, 64], blockN: [16, 32], threadM: [2, 4], threadN: [2, 4] },
      onProgress: (p) => say(`tuning: ${p.phase === 'screen' ? 'searching' : 'measuring the leaders again'}, ${p.measured} of ${p.total}`),
    });
    if (!result.best) throw new Error(`no candidate ran: ${result.error ?? result.stoppedBy}`);
    showTable(result.candidates.filter((c) => ms(c) !== undefined).sort((a, b) => ms(a)! - ms(b)!), result.default);
    schedule = result.best.schedule;
    localStorage.setItem(key, JSON.stringify(schedule));
    say(`tuned: ${result.candidates.length} candidates in ${result.seconds.toFixed(1)} s`, 'tuned');
  }
  // the winner, run once and compared with the CPU reference
  const exe = await Executable.create(device, matmul, sizes, { schedule });
  const inputs = { A: randomHost('f32', [sizes.M, sizes.K], 1), B: randomHost('f32', [sizes.K, sizes.N], 2) };
  const got = (await exe.run(inputs)).outputs.C!.data;
  const want = evaluate(matmul, sizes, inputs).outputs.C!.data;
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  $('check').textContent = `C = A·B with the chosen schedule: largest difference from the CPU reference ${err.toExponential(2)}`;
  $('check').dataset.maxError = String(err);
  exe.destroy();
  $('retune').hidden = false;
}

const run = (retune: boolean) => main(retune).catch((e: Error) => say(`${e.name}: ${e.message}`, 'error'));
$('retune').addEventListener('click', () => void run(true));
void run(false);
