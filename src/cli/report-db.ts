import { type StoredEntry, type TuningEntry, TuningDatabase } from '../autotune/db.js';
import { describeSchedule } from '../passes/schedule.js';
import { PAGE_STYLE, esc, svgOf } from './report-page.js';

const shapeText = (e: TuningEntry) => Object.entries(e.sizes ?? e.shape).map(([k, v]) => `${k}=${v}`).join(' ');
const elements = (e: TuningEntry) => Object.values(e.sizes ?? e.shape).reduce((a, b) => a * b, 1);
const deviceOf = (e: TuningEntry) => e.deviceSummary ?? `device ${e.fingerprint}`;
const confirmation = (e: TuningEntry) => (e.measuredBy === 'final' ? 'confirmed' : e.measuredBy === 'screen' ? 'not confirmed (screening only)' : 'not recorded');

/** Entries grouped by device, then by program, in name order; within a program, by dtype and size. */
function grouped(entries: readonly StoredEntry[]): Map<string, Map<string, StoredEntry[]>> {
  const out = new Map<string, Map<string, StoredEntry[]>>();
  const sorted = [...entries].sort(
    (a, b) => deviceOf(a.entry).localeCompare(deviceOf(b.entry)) || a.entry.program.localeCompare(b.entry.program) || a.entry.dtype.localeCompare(b.entry.dtype) || elements(a.entry) - elements(b.entry),
  );
  for (const s of sorted) {
    const programs = out.get(deviceOf(s.entry)) ?? new Map<string, StoredEntry[]>();
    programs.set(s.entry.program, [...(programs.get(s.entry.program) ?? []), s]);
    out.set(deviceOf(s.entry), programs);
  }
  return out;
}

/**
 * One device's best times: a row of points per program, shape against median ms (log), a colour
 * per dtype, hollow where the winner was not confirmed by a second measurement.
 */
function devicePlot(programs: Map<string, StoredEntry[]>): Promise<string> {
  const values = [...programs.values()].flat().map(({ entry: e, stale }) => ({
    program: e.program,
    shape: shapeText(e),
    elements: elements(e),
    ms: e.medianMs,
    dtype: e.dtype + (stale ? ' (stale)' : ''),
    confirmed: e.measuredBy === 'screen' ? 'no' : 'yes',
  }));
  return svgOf({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'best median time per shape, by program (hollow: not confirmed)',
    data: { values },
    facet: { row: { field: 'program', type: 'nominal', title: null } },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: 520,
      height: 140,
      layer: [
        { mark: { type: 'line', opacity: 0.4 }, encoding: { x: { field: 'shape', type: 'ordinal', sort: { field: 'elements', op: 'min' }, title: null }, y: { field: 'ms', type: 'quantitative', scale: { type: 'log' } }, color: { field: 'dtype', type: 'nominal' } } },
        {
          mark: { type: 'point', size: 90, strokeWidth: 2 },
          encoding: {
            x: { field: 'shape', type: 'ordinal', sort: { field: 'elements', op: 'min' }, title: null, axis: { labelAngle: -20 } },
            y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'median ms (log)' },
            color: { field: 'dtype', type: 'nominal' },
            fill: { condition: { test: "datum.confirmed === 'yes'", field: 'dtype', type: 'nominal', legend: null }, value: 'transparent' },
          },
        },
      ],
    },
  });
}

function entryRow({ entry: e, stale }: StoredEntry): string {
  const cls = e.measuredBy === 'screen' ? ' class="unconfirmed"' : '';
  return `<tr${cls}><td>${esc(e.dtype)}</td><td>${esc(shapeText(e))}</td><td>${e.medianMs.toFixed(4)} ms</td><td>±${(e.spread * 100).toFixed(1)}%</td><td>${confirmation(e)}</td><td><code>${esc(describeSchedule(e.schedule))}</code></td><td>${e.candidates}</td><td>${esc(e.recordedAt.replace('T', ' ').slice(0, 19))}</td><td>${esc(e.tilecraftVersion)}${stale ? ' (stale: never applied)' : ''}</td></tr>`;
}

/** The HTML page for a database's entries (what `autotune report --db` writes). */
export async function renderDatabaseReport(path: string, entries: readonly StoredEntry[]): Promise<string> {
  const byDevice = grouped(entries);
  const sections: string[] = [];
  for (const [device, programs] of byDevice) {
    const tables = [...programs].map(
      ([program, rows]) => `<h3>${esc(program)}</h3>
<table><tr><th>dtype</th><th>shape</th><th>best</th><th>spread</th><th>measured again</th><th>schedule</th><th>candidates</th><th>tuned</th><th>version</th></tr>
${rows.map(entryRow).join('\n')}</table>`,
    );
    sections.push(`<section class="device"><h2>${esc(device)}</h2>\n<figure class="plot">${await devicePlot(programs)}</figure>\n${tables.join('\n')}</section>`);
  }
  const unconfirmed = entries.filter((e) => e.entry.measuredBy === 'screen').length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tilecraft tuning database: ${esc(path)}</title>
<style>${PAGE_STYLE}</style></head>
<body>
<h1>Tuning database ${esc(path)}</h1>
<p>${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} on ${byDevice.size} device${byDevice.size === 1 ? '' : 's'}${unconfirmed ? `; ${unconfirmed} not confirmed: the winner rests on its first (screening) measurement, the run interrupted or out of time before measuring it again` : ''}.</p>
${sections.join('\n') || '<p>(no entries)</p>'}
</body></html>
`;
}

/** Reads a tuning database (writing nothing) and renders its page; malformed entries are reported on stderr and left out. */
export async function databaseReport(path: string): Promise<string> {
  // a corrupt file is an error here (CorruptDatabaseError), not an empty page
  const db = await TuningDatabase.open(path, { onInvalidEntry: (e) => console.error(`autotune: ${e.message}`) });
  return renderDatabaseReport(db.path, await db.list());
}
