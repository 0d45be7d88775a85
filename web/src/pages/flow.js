import { useMemo, useState } from 'preact/hooks';
import { html } from '../html.js';
import { t, formatDuration, formatNumber } from '../i18n.js';
import { post, seg } from '../api.js';
import { useApi, usePaged, Loading, ErrorBox, Badge, When, Section, KeyValues, MoreButton, Empty, href } from '../components/common.js';
import { FlowGraph, LIST_ABOVE } from '../components/graph.js';
import { RunsTable } from './usecase.js';
import { queryParams, setQuery } from '../router.js';

const LIST_PAGE = 200;

// One node of the flow as the picture and the list show it: its status is the recipe's
// last run status or the dataset's freshness.
export function normaliseNode(n) {
  const status = n.type === 'recipe' ? n.last_status || 'never_run' : (n.freshness && n.freshness.state) || 'never_built';
  return { ...n, status };
}

export function canOperate(me) {
  return !!me && (me.role === 'engineer' || me.role === 'admin');
}

export function TriggerButton({ flow, me, onDone }) {
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!canOperate(me)) return null;
  async function trigger() {
    setBusy(true);
    const r = await post(`/flows/${seg(flow)}/runs`, {});
    setBusy(false);
    setMsg(r.ok ? { ok: true, text: t('flow.triggered') } : { ok: false, text: r.error });
    if (r.ok && onDone) setTimeout(onDone, 500);
  }
  return html`<span class="actions">
    <button type="button" class="primary" id="trigger-run" onClick=${trigger} disabled=${busy}>${t('flow.trigger')}</button>
    ${msg && html`<span role="status" class=${msg.ok ? 'ok-text' : 'error'}>${msg.text}</span>`}
  </span>`;
}

function NodeList({ flow, nodes, onFocus }) {
  const [filter, setFilter] = useState('');
  const [shown, setShown] = useState(LIST_PAGE);
  const matching = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f ? nodes.filter((n) => n.name.toLowerCase().includes(f)) : nodes;
  }, [nodes, filter]);
  return html`<div class="node-list">
    <label for="node-filter">${t('flow.filter_nodes')}</label>
    <input id="node-filter" type="search" value=${filter} onInput=${(e) => { setFilter(e.currentTarget.value); setShown(LIST_PAGE); }} />
    <p class="muted" role="status">${t('flow.nodes_shown', { shown: Math.min(shown, matching.length), total: matching.length })}</p>
    <table><caption class="sr-only">${t('flow.nodes')}</caption>
      <thead><tr><th scope="col">${t('flow.node')}</th><th scope="col">${t('flow.type')}</th><th scope="col">${t('runs.status')}</th><th scope="col">${t('flow.graph')}</th></tr></thead>
      <tbody>${matching.slice(0, shown).map(
        (n) => html`<tr>
          <td><a href=${n.type === 'recipe' ? href.recipe(flow, n.name) : href.dataset(n.name)}>${n.name}</a></td>
          <td>${n.type === 'recipe' ? `${t('graph.recipe')}${n.kind ? ` (${n.kind})` : ''}` : t('graph.dataset')}</td>
          <td><${Badge} value=${n.status} /></td>
          <td><button type="button" class="link" onClick=${() => onFocus(n.id)}>${t('flow.show_in_graph')}</button></td>
        </tr>`
      )}</tbody>
    </table>
    ${shown < matching.length && html`<button type="button" class="more" onClick=${() => setShown(shown + LIST_PAGE)}>${t('more')}</button>`}
  </div>`;
}

function Runs({ flow }) {
  const list = usePaged(`/flows/${seg(flow)}/runs`, { limit: 20 });
  return html`${list.loading && list.items.length === 0 ? html`<${Loading} />` : html`<${RunsTable} runs=${list.items} showFlow=${false} />`}
    <${MoreButton} list=${list} /><button type="button" class="link" onClick=${list.reload}>${t('refresh')}</button>`;
}

export function FlowPage({ flow, me }) {
  const r = useApi(`/flows/${seg(flow)}`);
  const q = queryParams();
  const [extra, setExtra] = useState([]);
  const [focusId, setFocusId] = useState(q.focus || '');
  const [view, setView] = useState(q.view || '');
  const [runsKey, setRunsKey] = useState(0);
  const nodes = useMemo(() => ((r.data && r.data.nodes) || []).map(normaliseNode), [r.data]);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<h1>${flow}</h1><${ErrorBox} error=${r.error} />`;
  const f = r.data;
  const edges = f.edges || [];
  const big = nodes.length > LIST_ABOVE;
  const currentView = view || (big ? 'list' : 'graph');
  const focus = [focusId || (nodes.find((n) => n.type === 'recipe') || nodes[0] || {}).id, ...extra].filter(Boolean);
  const choose = (v, fid) => {
    setView(v);
    if (fid !== undefined) {
      setFocusId(fid);
      setExtra([]);
    }
    setQuery({ view: v, focus: fid !== undefined ? fid : focusId });
  };
  const sched = f.schedule;
  return html`<article>
    <p class="crumbs"><a href="/">${t('nav.catalog')}</a> ›${f.usecase && html` <a href=${href.usecase(f.usecase)}>${f.usecase}</a> ›`} ${f.name}</p>
    <h1>${t('flow.title', { name: f.name })}</h1>
    ${f.description && html`<p>${f.description}</p>`}
    ${f.plan_error && html`<p class="error" id="plan-error" role="alert"><${Badge} value="unplannable" /> ${t('flow.plan_error', { error: f.plan_error })}</p>`}
    <${KeyValues} rows=${[
      [t('flow.schedule'), sched ? `${sched.cron} (${sched.timezone || 'UTC'})${sched.paused ? ` — ${t('status.paused')}` : ''}` : t('flow.no_schedule')],
      [t('flow.size'), t('flow.size_value', { recipes: nodes.filter((n) => n.type === 'recipe').length, datasets: nodes.filter((n) => n.type !== 'recipe').length })],
    ]} />
    <${TriggerButton} flow=${f.name} me=${me} onDone=${() => setRunsKey(runsKey + 1)} />
    <${Section} id="dag" title=${t('flow.graph')}>
      <div class="tabs" role="group" aria-label=${t('flow.view')}>
        <button type="button" aria-pressed=${currentView === 'graph'} onClick=${() => choose('graph')}>${t('flow.view_graph')}</button>
        <button type="button" aria-pressed=${currentView === 'list'} onClick=${() => choose('list')}>${t('flow.view_list')}</button>
      </div>
      ${currentView === 'graph'
        ? html`<${FlowGraph} flow=${f.name} version=${f.version} nodes=${nodes} edges=${edges} focus=${focus}
                 selected=${focusId} onExpand=${(id) => setExtra((x) => x.concat([id]))} />`
        : html`<${NodeList} flow=${f.name} nodes=${nodes} onFocus=${(id) => choose('graph', id)} />`}
    </${Section}>
    <${Section} id="flow-runs" title=${t('runs.title')}><${Runs} key=${runsKey} flow=${f.name} /></${Section}>
  </article>`;
}

export function RecipePage({ flow, recipe }) {
  const r = useApi(`/flows/${seg(flow)}/recipes/${seg(recipe)}`);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<h1>${recipe}</h1><${ErrorBox} error=${r.error} />`;
  const rc = r.data;
  return html`<article>
    <p class="crumbs"><a href="/">${t('nav.catalog')}</a> › <a href=${href.flow(flow)}>${flow}</a> › ${rc.name}</p>
    <h1>${t('recipe.title', { name: rc.name })}</h1>
    <${KeyValues} rows=${[
      [t('recipe.kind'), rc.kind],
      [t('recipe.inputs'), html`${(rc.inputs || []).map((d, i) => html`${i ? ', ' : ''}<a href=${href.dataset(d)}>${d}</a>`)}`],
      [t('recipe.outputs'), html`${(rc.outputs || []).map((d, i) => html`${i ? ', ' : ''}<a href=${href.dataset(d)}>${d}</a>`)}`],
    ]} />
    <${Section} id="params" title=${t('recipe.params')}><pre class="code" tabindex="0">${JSON.stringify(rc.params || {}, null, 2)}</pre></${Section}>
    <${Section} id="code" title=${t('recipe.code')}>
      ${rc.code ? html`<p class="muted">${rc.code.file} (${rc.code.language || ''})${rc.code.truncated ? ` — ${t('recipe.truncated')}` : ''}</p><pre class="code" tabindex="0"><code>${rc.code.text}</code></pre>` : html`<${Empty} text=${t('recipe.no_code')} />`}
    </${Section}>
    <${Section} id="recipe-history" title=${t('recipe.history')}>
      ${(rc.history || []).length === 0 ? html`<${Empty} />` : html`<table><caption class="sr-only">${t('recipe.history')}</caption>
        <thead><tr><th scope="col">${t('runs.id')}</th><th scope="col">${t('runs.status')}</th><th scope="col">${t('runs.started')}</th><th scope="col">${t('runs.duration')}</th><th scope="col">${t('runs.rows_in')}</th><th scope="col">${t('runs.rows_out')}</th><th scope="col">${t('runs.reason')}</th></tr></thead>
        <tbody>${rc.history.map((h) => html`<tr><td><a href=${href.run(h.run_id)}>${String(h.run_id).slice(0, 8)}</a></td><td><${Badge} value=${h.status} /></td><td><${When} value=${h.started_at} /></td><td>${formatDuration(h.duration_ms)}</td><td>${formatNumber(h.rows_in)}</td><td>${formatNumber(h.rows_out)}</td><td>${h.reason || ''}</td></tr>`)}</tbody></table>`}
    </${Section}>
  </article>`;
}
