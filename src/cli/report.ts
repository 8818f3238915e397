import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { DATABASE_FORMAT } from '../autotune/db.js';
import { describeSchedule } from '../passes/schedule.js';
import { EXIT } from './exit-codes.js';
import { databaseReport } from './report-db.js';
import { PAGE_STYLE, esc, svgOf } from './report-page.js';
import { UsageError } from './sizes.js';

/** What `autotune tune --json` prints, as far as the report reads it. */
const TUNE_RESULT = z.object({
  program: z.string(),
  dtype: z.string(),
  sizes: z.record(z.string(), z.number()),
  device: z.object({ summary: z.string() }).optional(),
  strategy: z.string(),
  stoppedBy: z.string(),
  seconds: z.number(),
  spaceSize: z.number(),
  measured: z.number(),
  best: z.object({ schedule: z.record(z.string(), z.record(z.string(), z.unknown())), medianMs: z.number(), measuredBy: z.enum(['screen', 'final']).optional() }).nullable(),
  default: z.object({ schedule: z.record(z.string(), z.record(z.string(), z.unknown())), medianMs: z.number().nullable() }).nullable(),
  speedupOverDefault: z.number().nullable(),
  speedup: z.object({ ratio: z.number(), reliable: z.boolean(), reason: z.string().optional() }).nullable().optional(),
  candidates: z.array(z.object({ order: z.number().optional(), schedule: z.record(z.string(), z.record(z.string(), z.unknown())), medianMs: z.number(), spread: z.number().optional() })),
  failures: z.array(z.object({ status: z.string(), detail: z.string().optional() })),
  bestKernels: z.array(z.object({ name: z.string(), source: z.string() })).optional(),
});
type TuneResult = z.infer<typeof TUNE_RESULT>;

export interface ReportOptions {
  readonly out?: string;
  /** A tuning database to report on, instead of a tuning run. */
  readonly db?: string;
}

const WHAT = 'give the output of autotune tune --json, or a tuning database';

/**
 * `autotune report <tune.json>`: one self-contained HTML page for a tuning run (what `tune --json`
 * printed): the search's progress over the candidates, each knob's values against the time they
 * gave, the winner's schedule and its kernels' WGSL, and the device. Given a tuning database
 * (`--db <file>`, or a database file as the argument), a page of every entry instead.
 * Plots are SVG made by Vega-Lite, rendered here; the page needs nothing else. Only the page is written.
 */
export async function reportCommand(arg: string | undefined, o: ReportOptions): Promise<number> {
  if (arg !== undefined && o.db !== undefined) throw new UsageError(`give a tuning run or --db ${o.db}, not both`);
  const file = o.db ?? arg;
  if (file === undefined) throw new UsageError(`nothing to report on: ${WHAT} (--db <file>)`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message} (${WHAT})`);
  }
  let parsed: unknown;
  try {
    // a byte order mark is allowed, as the database allows it
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new UsageError(`${file} is not JSON (${(e as Error).message}); ${WHAT}`);
  }
  const out = o.out ?? file.replace(/\.json$/, '') + '.html';
  const isDatabase = typeof parsed === 'object' && parsed !== null && (parsed as { format?: unknown }).format === DATABASE_FORMAT;
  if (o.db !== undefined && !isDatabase) throw new UsageError(`--db ${file} is not a tuning database (its "format" is not "${DATABASE_FORMAT}")`);
  if (isDatabase) {
    await writeFile(out, await databaseReport(file));
    console.log(`report written to ${out}`);
    return EXIT.ok;
  }
  const r = TUNE_RESULT.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UsageError(`${file} is not a tuning run (autotune tune --json): ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  await writeFile(out, await renderReport(r.data));
  console.log(`report written to ${out}`);
  return EXIT.ok;
}

/** The knob values of a schedule as `group.knob` → value. */
function knobs(schedule: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [group, k] of Object.entries(schedule)) for (const [name, v] of Object.entries(k)) if (name !== 'kind') out[`${group}.${name}`] = String(v);
  return out;
}

/** A knob value as plotted: numbers as numbers (so 4 sorts before 16), the rest as written. */
const valueOf = (v: string | undefined): string | number => (v === undefined ? '(none)' : v !== '' && Number.isFinite(Number(v)) ? Number(v) : v);

export async function renderReport(r: TuneResult): Promise<string> {
  const runs = r.candidates.map((c, i) => ({ order: c.order ?? i, ms: c.medianMs, ...knobs(c.schedule) })).sort((a, b) => a.order - b.order);
  let best = Infinity;
  const progress = runs.map((c) => ({ order: c.order, ms: c.ms, bestSoFar: (best = Math.min(best, c.ms)) }));
  const varied = [...new Set(runs.flatMap((c) => Object.keys(c).filter((k) => k !== 'order' && k !== 'ms')))].filter((k) => new Set(runs.map((c) => (c as Record<string, unknown>)[k])).size > 1);
  const progressSvg = await svgOf({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'search progress: each candidate in the order measured, and the best so far',
    width: 560,
    height: 260,
    data: { values: progress },
    layer: [
      { mark: { type: 'point', filled: true, opacity: 0.7 }, encoding: { x: { field: 'order', type: 'quantitative', title: 'candidate (measurement order)' }, y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'median ms (log)' } } },
      { mark: { type: 'line', interpolate: 'step-after', color: '#d62728' }, encoding: { x: { field: 'order', type: 'quantitative' }, y: { field: 'bestSoFar', type: 'quantitative', scale: { type: 'log' } } } },
    ],
  });
  const knobSvgs = await Promise.all(
    varied.map((k) =>
      svgOf({
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: k,
        width: 200,
        height: 160,
        // knob names hold dots and colons, which Vega-Lite reads as paths: a plain field instead
        data: { values: runs.map((c) => ({ value: valueOf((c as unknown as Record<string, string | undefined>)[k]), ms: c.ms })) },
        mark: { type: 'tick', thickness: 2 },
        encoding: { x: { field: 'value', type: 'ordinal', title: null }, y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'median ms' } },
      }),
    ),
  );
  const kernels = r.bestKernels ?? [];
  const fmt = (ms: number | null | undefined) => (ms === null || ms === undefined ? 'n/a' : `${ms.toFixed(4)} ms`);
  const against = r.speedupOverDefault
    ? ` (best is ${r.speedupOverDefault.toFixed(2)}x)`
    : r.speedup && !r.speedup.reliable
      ? ` (no reliable speed-up: ${esc(r.speedup.reason ?? 'timings too noisy')})`
      : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tilecraft tuning: ${esc(r.program)}</title>
<style>${PAGE_STYLE}</style></head>
<body>
<h1>Tuning ${esc(r.program)} (${esc(r.dtype)}) ${esc(Object.entries(r.sizes).map(([k, v]) => `${k}=${v}`).join(' '))}</h1>
<table>
<tr><th>device</th><td>${esc(r.device?.summary ?? 'not recorded')}</td></tr>
<tr><th>search</th><td>${esc(r.strategy)}: ${r.measured} candidates measured of ${r.spaceSize} in the space, ${r.seconds.toFixed(1)} s, stopped by ${esc(r.stoppedBy)}; ${r.failures.length} failed</td></tr>
<tr><th>best</th><td>${fmt(r.best?.medianMs)}${r.best?.measuredBy === 'screen' ? ' (first measurement only, not confirmed)' : ''}: ${r.best ? esc(describeSchedule(r.best.schedule as never)) : 'none'}</td></tr>
<tr><th>default</th><td>${fmt(r.default?.medianMs)}${against}</td></tr>
</table>
<h2>Progress</h2>
<figure id="progress">${progressSvg}</figure>
<h2>Time against each knob that varied</h2>
<div class="knobs">${knobSvgs.map((s, i) => `<figure class="knob" data-knob="${esc(varied[i]!)}">${s}</figure>`).join('\n')}</div>
<h2>The winner</h2>
<pre>${esc(JSON.stringify(r.best?.schedule ?? null, null, 2))}</pre>
${kernels.length ? kernels.map((k) => `<h3>${esc(k.name)}</h3><pre>${esc(k.source)}</pre>`).join('\n') : '<p>(no kernel sources in this run: they are recorded for WebGPU runs)</p>'}
</body></html>
`;
}
