import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from '../html.js';
import { t, formatDuration, formatNumber } from '../i18n.js';

// A column's histogram as small SVG bars: bins [{lo, hi, count}] or plain counts.
export function Histogram({ bins, label }) {
  if (!bins || !bins.length) return null;
  const counts = bins.map((b) => (typeof b === 'number' ? b : Number(b.count) || 0));
  const max = Math.max(1, ...counts);
  const w = 120;
  const h = 28;
  const bw = w / counts.length;
  return html`<svg class="hist" width=${w} height=${h} viewBox=${`0 0 ${w} ${h}`} role="img" aria-label=${label}>
    ${counts.map((c, i) => {
      const bh = Math.max(c > 0 ? 1 : 0, (c / max) * h);
      const b = bins[i];
      const title = typeof b === 'number' ? String(c) : `${formatNumber(b.lo)} – ${formatNumber(b.hi)}: ${c}`;
      return html`<rect x=${i * bw + 0.5} y=${h - bh} width=${Math.max(1, bw - 1)} height=${bh}><title>${title}</title></rect>`;
    })}
  </svg>`;
}

// The recipes of a run on a time line (SVG): one bar per recipe from its start to its end.
export function Gantt({ recipes }) {
  const rows = (recipes || []).filter((r) => r.started_at);
  if (!rows.length) return html`<p class="muted">${t('gantt.none')}</p>`;
  const t0 = Math.min(...rows.map((r) => Date.parse(r.started_at)));
  const ends = rows.map((r) => (r.finished_at ? Date.parse(r.finished_at) : Date.parse(r.started_at) + (r.duration_ms || 0)));
  const t1 = Math.max(t0 + 1, ...ends);
  const width = 640;
  const labelW = 180;
  const rowH = 20;
  const scale = (width - labelW - 10) / (t1 - t0);
  return html`<figure class="gantt">
    <svg width="100%" viewBox=${`0 0 ${width} ${rows.length * rowH + 20}`} role="img" aria-label=${t('gantt.label')}>
      ${rows.map((r, i) => {
        const s = Date.parse(r.started_at);
        const x = labelW + (s - t0) * scale;
        const bw = Math.max(2, (ends[i] - s) * scale);
        return html`<g class=${`gantt-row st-${String(r.status || '').toLowerCase()}`}>
          <text x="0" y=${i * rowH + 14}>${r.recipe}</text>
          <rect x=${x} y=${i * rowH + 4} width=${bw} height=${rowH - 8} rx="2"><title>${r.recipe}: ${formatDuration(ends[i] - s)}</title></rect>
        </g>`;
      })}
      <text x=${labelW} y=${rows.length * rowH + 16} class="axis">0</text>
      <text x=${width - 10} y=${rows.length * rowH + 16} class="axis" text-anchor="end">${formatDuration(t1 - t0)}</text>
    </svg>
  </figure>`;
}

// A KPI over time with uPlot: points [{date, value}], one series per KPI name.
export function KpiChart({ name, points, unit }) {
  const ref = useRef(null);
  useEffect(() => {
    if (!ref.current || !points || points.length === 0) return undefined;
    const sorted = points
      .map((p) => [Date.parse(p.date || p.at || p.time) / 1000, Number(p.measured !== undefined ? p.measured : p.value)])
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .sort((a, b) => a[0] - b[0]);
    const data = [sorted.map((p) => p[0]), sorted.map((p) => p[1])];
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue('--fg').trim() || '#1a1a1a';
    const accent = css.getPropertyValue('--accent').trim() || '#1d4ed8';
    const plot = new uPlot(
      {
        width: Math.min(560, ref.current.clientWidth || 560),
        height: 180,
        series: [{}, { label: unit ? `${name} (${unit})` : name, stroke: accent, width: 2, points: { show: true } }],
        axes: [{ stroke: fg }, { stroke: fg }],
        legend: { show: true },
      },
      data,
      ref.current
    );
    return () => plot.destroy();
  }, [name, JSON.stringify(points)]);
  if (!points || points.length === 0) return null;
  return html`<figure class="kpi"><figcaption>${name}</figcaption><div ref=${ref}></div>
    <table class="sr-only"><caption>${name}</caption><tbody>
      ${points.map((p) => html`<tr><td>${p.date || p.at || ''}</td><td>${p.measured !== undefined ? p.measured : p.value}</td></tr>`)}
    </tbody></table>
  </figure>`;
}
