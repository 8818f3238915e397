import type { TopLevelSpec } from 'vega-lite';

/** What the report pages share: their style, escaping, and plots. */

/** A Vega-Lite plot as SVG, rendered here (the charting libraries load only for a report). */
export async function svgOf(spec: TopLevelSpec): Promise<string> {
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

/** Text for HTML, in content or in a quoted attribute. */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const PAGE_STYLE =
  'body{font:14px system-ui,sans-serif;margin:24px;max-width:1200px}h1{font-size:20px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.knobs{display:flex;flex-wrap:wrap;gap:12px}pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:480px;font-size:12px}.unconfirmed{color:#b35900}';
