// The DAG of a flow (datasets and recipes), laid out by ELK's layered algorithm in a
// Web Worker (dist/elk-worker.js, a plain script file: the CSP allows no blob: or eval).
// Layouts are cached in sessionStorage per flow version and node set. Large flows show a
// bounded neighbourhood of a focus node, expanded on demand (beyond LIST_ABOVE nodes the
// server computes it: GET /api/flows/{flow}/neighbourhood); the same nodes are always
// listed as links too (keyboard and screen-reader equivalent of the picture).
import { useEffect, useMemo, useState } from 'preact/hooks';
import ELK from 'elkjs/lib/elk-api.js';
import { html } from '../html.js';
import { t } from '../i18n.js';
import { href } from './common.js';
import { get, seg } from '../api.js';

const NODE_W = 150;
const NODE_H = 36;
const LAYOUT_OPTIONS = {
  'elk.algorithm': 'layered',
  'elk.direction': 'RIGHT',
  'elk.layered.spacing.nodeNodeBetweenLayers': '40',
  'elk.spacing.nodeNode': '16',
  'elk.edgeRouting': 'ORTHOGONAL',
};

let elk = null;
function elkInstance() {
  if (!elk) elk = new ELK({ workerUrl: '/elk-worker.js' });
  return elk;
}

function hashOf(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(16);
}

export async function layout(cacheKey, nodes, edges) {
  const key = `alambic.layout.${cacheKey}.${hashOf(nodes.map((n) => n.id).join('\n'))}`;
  try {
    const cached = sessionStorage.getItem(key);
    if (cached) return { ...JSON.parse(cached), cached: true };
  } catch {
    /* no cache */
  }
  const ids = new Set(nodes.map((n) => n.id));
  const graph = {
    id: 'root',
    layoutOptions: LAYOUT_OPTIONS,
    children: nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H })),
    edges: edges
      .filter((e) => ids.has(e.from) && ids.has(e.to))
      .map((e, i) => ({ id: `e${i}`, sources: [e.from], targets: [e.to] })),
  };
  const out = await elkInstance().layout(graph);
  const result = {
    width: out.width,
    height: out.height,
    pos: Object.fromEntries(out.children.map((c) => [c.id, [c.x, c.y]])),
    edges: (out.edges || []).map((e) => {
      const s = (e.sections || [])[0];
      if (!s) return { from: e.sources[0], to: e.targets[0], points: [] };
      const pts = [s.startPoint, ...(s.bendPoints || []), s.endPoint].map((p) => [Math.round(p.x), Math.round(p.y)]);
      return { from: e.sources[0], to: e.targets[0], points: pts };
    }),
  };
  try {
    sessionStorage.setItem(key, JSON.stringify(result));
  } catch {
    /* full: not cached */
  }
  return result;
}

// The nodes within `depth` hops of the focus nodes (both directions), and which of them
// have neighbours left out (they get an "expand" control).
export function neighbourhood(nodes, edges, focus, depth) {
  const adj = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (adj.has(e.from) && adj.has(e.to)) {
      adj.get(e.from).push(e.to);
      adj.get(e.to).push(e.from);
    }
  }
  const keep = new Set();
  let frontier = focus.filter((f) => adj.has(f));
  frontier.forEach((f) => keep.add(f));
  for (let d = 0; d < depth; d++) {
    const nextFrontier = [];
    for (const id of frontier) {
      for (const nb of adj.get(id)) {
        if (!keep.has(nb)) {
          keep.add(nb);
          nextFrontier.push(nb);
        }
      }
    }
    frontier = nextFrontier;
  }
  const partial = new Set([...keep].filter((id) => adj.get(id).some((nb) => !keep.has(nb))));
  return { keep, partial };
}

export const BOUNDED_ABOVE = 120; // nodes: beyond this, a neighbourhood is drawn
export const LIST_ABOVE = 300; // nodes: beyond this, the list view comes first

function nodeClass(n) {
  const st = String(n.status || n.state || 'unknown').toLowerCase().replace(/[^a-z_]/g, '');
  return `node ${n.type === 'recipe' ? 'recipe' : 'dataset'} st-${st}${n.external ? ' external' : ''}`;
}

function nodeHref(flow, n) {
  return n.type === 'recipe' ? href.recipe(flow, n.name) : href.dataset(n.name);
}

export function FlowGraph({ flow, version, nodes, edges, focus, onExpand, selected }) {
  const big = nodes.length > BOUNDED_ABOVE;
  const huge = nodes.length > LIST_ABOVE;
  const [state, setState] = useState({ layout: null, error: null, ms: 0 });
  const [remote, setRemote] = useState(null);
  const focusKey = focus.join('\n');
  useEffect(() => {
    if (!huge) return undefined;
    let live = true;
    setRemote(null);
    get(`/flows/${seg(flow)}/neighbourhood`, { node: focus.slice(0, 50), depth: 2, limit: 300 }).then((r) => {
      if (live) setRemote(r.ok ? r.data : { error: r.error });
    });
    return () => {
      live = false;
    };
  }, [huge, flow, focusKey]);
  const shown = useMemo(() => {
    if (!big) return { nodes, partial: new Set() };
    if (huge) {
      if (!remote || !remote.nodes) return null;
      const byId = new Map(nodes.map((n) => [n.id, n]));
      return {
        nodes: remote.nodes.map((n) => byId.get(n.id) || n),
        partial: new Set(remote.nodes.filter((n) => n.more > 0).map((n) => n.id)),
      };
    }
    const { keep, partial } = neighbourhood(nodes, edges, focus, 2);
    return { nodes: nodes.filter((n) => keep.has(n.id)), partial };
  }, [nodes, edges, big, huge, remote, focusKey]);
  useEffect(() => {
    if (!shown) return undefined;
    let live = true;
    const t0 = performance.now();
    setState((s) => ({ ...s, error: null }));
    layout(`${flow}@${version || ''}`, shown.nodes, edges).then(
      (l) => {
        if (!live) return;
        setState({ layout: l, error: null, ms: performance.now() - t0 });
        window.__alambicGraphReady = { nodes: shown.nodes.length, ms: performance.now() - t0, cached: !!l.cached };
        document.dispatchEvent(new CustomEvent('alambic:graph-ready'));
      },
      (e) => live && setState({ layout: null, error: String(e && e.message ? e.message : e), ms: 0 })
    );
    return () => {
      live = false;
    };
  }, [flow, version, shown]);
  const l = shown ? state.layout : null;
  if (remote && remote.error) return html`<p class="error" role="alert">${remote.error}</p>`;
  if (!shown) return html`<p class="muted" role="status">${t('graph.laying_out')}</p>`;
  return html`<div class="graph-wrap">
    ${big && html`<p class="muted" id="graph-bounded" data-source=${huge ? 'server' : 'browser'}>${t('graph.bounded', { shown: shown.nodes.length, total: nodes.length })}</p>`}
    ${state.error && html`<p class="error" role="alert">${t('graph.layout_failed')}: ${state.error}</p>`}
    ${!l && !state.error && html`<p class="muted" role="status">${t('graph.laying_out')}</p>`}
    ${l &&
    html`<div class="graph-scroll">
      <svg class="graph" width=${l.width} height=${l.height} viewBox=${`0 0 ${l.width} ${l.height}`}
           role="group" aria-label=${t('graph.label', { flow })} data-ready="true">
        <defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" /></marker></defs>
        ${l.edges.map((e) => html`<polyline class="edge" points=${e.points.map((p) => p.join(',')).join(' ')} marker-end="url(#arrow)" />`)}
        ${shown.nodes.map((n) => {
          const p = l.pos[n.id];
          if (!p) return null;
          const label = n.name.length > 20 ? `${n.name.slice(0, 19)}…` : n.name;
          const kind = n.type === 'recipe' ? t('graph.recipe') : t('graph.dataset');
          const status = n.status ? t(`status.${n.status}`) : '';
          return html`<g class=${nodeClass(n) + (selected === n.id ? ' selected' : '')} transform=${`translate(${p[0]},${p[1]})`}>
            <a href=${nodeHref(flow, n)} aria-label=${`${kind} ${n.name}${status ? `, ${status}` : ''}`} data-node=${n.id}>
              <rect width=${NODE_W} height=${NODE_H} rx=${n.type === 'recipe' ? 4 : 14} />
              <text x="8" y="22">${label}</text>
              <title>${`${kind} ${n.name}${status ? ` (${status})` : ''}`}</title>
            </a>
            ${shown.partial.has(n.id) &&
            html`<a href="#" class="expand" role="button" aria-label=${t('graph.expand', { name: n.name })}
                    onClick=${(ev) => {
                      ev.preventDefault();
                      onExpand(n.id);
                    }}><circle cx=${NODE_W} cy="0" r="9" /><text x=${NODE_W - 4} y="4">+</text></a>`}
          </g>`;
        })}
      </svg>
    </div>`}
    <details class="legend"><summary>${t('graph.legend')}</summary>
      <ul>
        ${['succeeded', 'failed', 'stale', 'never_built', 'running'].map((s) => html`<li><span class=${`swatch st-${s}`}></span>${t(`status.${s}`)}</li>`)}
      </ul>
    </details>
  </div>`;
}
