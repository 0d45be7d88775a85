import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { t, formatNumber } from '../i18n.js';
import { seg } from '../api.js';
import { useApi, usePaged, Loading, ErrorBox, Badge, When, Section, KeyValues, MoreButton, Empty, href } from '../components/common.js';
import { Histogram } from '../components/charts.js';

function cell(v) {
  if (v === null || v === undefined) return html`<span class="null">null</span>`;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function Preview({ name }) {
  const r = useApi(`/datasets/${seg(name)}/preview`, { limit: 50 });
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<${ErrorBox} error=${r.error} />`;
  const p = r.data;
  return html`<p class="muted">${t('ds.preview_of', { n: (p.rows || []).length, total: formatNumber(p.total_rows) })}</p>
    <div class="table-scroll" tabindex="0" role="region" aria-label=${`${t("ds.preview")} — ${name}`}>
    <table class="preview"><caption class="sr-only">${t('ds.preview')}</caption>
      <thead><tr>${(p.columns || []).map((c) => html`<th scope="col">${c.name}</th>`)}</tr></thead>
      <tbody>${(p.rows || []).map((row) => html`<tr>${row.map((v) => html`<td>${cell(v)}</td>`)}</tr>`)}</tbody>
    </table></div>`;
}

function Stats({ name }) {
  const r = useApi(`/datasets/${seg(name)}/stats`);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<${ErrorBox} error=${r.error} />`;
  return html`<div class="table-scroll"><table><caption class="sr-only">${t('ds.stats')}</caption>
    <thead><tr><th scope="col">${t('ds.column')}</th><th scope="col">${t('ds.type')}</th><th scope="col">${t('ds.nulls')}</th><th scope="col">${t('ds.distinct')}</th><th scope="col">${t('ds.min')}</th><th scope="col">${t('ds.max')}</th><th scope="col">${t('ds.distribution')}</th></tr></thead>
    <tbody>${(r.data.columns || []).map((c) => {
      const h = c.histogram;
      const bins = h && h.counts ? h.counts.map((n, i) => ({ lo: h.edges[i], hi: h.edges[i + 1], count: n })) : null;
      return html`<tr><th scope="row">${c.name}</th><td>${c.type}</td><td>${formatNumber(c.nulls)}</td><td>${formatNumber(c.distinct)}</td>
        <td>${c.min === null || c.min === undefined ? '—' : String(c.min)}</td><td>${c.max === null || c.max === undefined ? '—' : String(c.max)}</td>
        <td>${bins ? html`<${Histogram} bins=${bins} label=${t('ds.histogram_of', { column: c.name })} />` : (c.top || []).slice(0, 3).map((v) => `${v.value} (${v.count})`).join(', ')}</td></tr>`;
    })}</tbody></table></div>`;
}

function Versions({ name }) {
  const list = usePaged(`/datasets/${seg(name)}/versions`, { limit: 10 });
  if (list.loading && list.items.length === 0) return html`<${Loading} />`;
  if (list.items.length === 0) return html`<${Empty} />`;
  return html`<table><caption class="sr-only">${t('ds.versions')}</caption>
    <thead><tr><th scope="col">${t('ds.version')}</th><th scope="col">${t('ds.rows')}</th><th scope="col">${t('uc.created')}</th><th scope="col">${t('runs.id')}</th></tr></thead>
    <tbody>${list.items.map((v) => html`<tr><td><code>${String(v.version_id).slice(0, 12)}</code>${v.current && html` <${Badge} value="active" label=${t('ds.current')} />`}</td><td>${formatNumber(v.rows)}</td><td><${When} value=${v.created_at} /></td><td>${v.run_id && html`<a href=${href.run(v.run_id)}>${String(v.run_id).slice(0, 8)}</a>`}</td></tr>`)}</tbody>
  </table><${MoreButton} list=${list} />`;
}

function Checks({ name }) {
  const list = usePaged(`/datasets/${seg(name)}/checks`, { limit: 20 });
  if (list.loading && list.items.length === 0) return html`<${Loading} />`;
  if (list.items.length === 0) return html`<${Empty} text=${t('ds.no_checks')} />`;
  return html`<ol class="checks" aria-label=${t('ds.checks')}>${list.items.map((c) => html`<li><${Badge} value=${c.status} /> ${c.recipe} <${When} value=${c.finished_at} />
    ${c.metrics && html` <span class="muted">${Object.entries(c.metrics).filter(([, v]) => typeof v !== 'object').map(([k, v]) => `${k}=${v}`).join(' ')}</span>`}</li>`)}</ol><${MoreButton} list=${list} />`;
}

function Lineage({ name }) {
  const [depth, setDepth] = useState(1);
  const r = useApi(`/datasets/${seg(name)}/lineage`, { depth, direction: 'both' });
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<${ErrorBox} error=${r.error} />`;
  const nodes = r.data.nodes || [];
  const up = nodes.filter((n) => n.depth < 0).sort((a, b) => b.depth - a.depth);
  const down = nodes.filter((n) => n.depth > 0).sort((a, b) => a.depth - b.depth);
  const item = (n) => html`<li><a href=${href.dataset(n.name)}>${n.name}</a> <span class="muted">${t('ds.hops', { n: Math.abs(n.depth) })}${n.recipe ? ` · ${n.recipe}` : ''}</span></li>`;
  return html`<div class="lineage">
    <div><h3>${t('ds.upstream')}</h3>${up.length ? html`<ul>${up.map(item)}</ul>` : html`<${Empty} />`}</div>
    <div><h3>${t('ds.downstream')}</h3>${down.length ? html`<ul>${down.map(item)}</ul>` : html`<${Empty} />`}</div>
    ${r.data.truncated && depth < 10 && html`<button type="button" class="more" id="lineage-expand" onClick=${() => setDepth(depth + 1)}>${t('ds.expand_lineage')}</button>`}
  </div>`;
}

function ColumnLineage({ name, column }) {
  const r = useApi(`/datasets/${seg(name)}/columns/${seg(column)}/lineage`);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<${ErrorBox} error=${r.error} />`;
  const row = (c) => html`<li><a href=${`${href.dataset(c.dataset)}#col-${encodeURIComponent(c.column)}`}>${c.dataset}.${c.column}</a> <span class="muted">${c.transform || ''}</span></li>`;
  return html`<div class="lineage">
    <div><h4>${t('ds.col_sources')}</h4>${(r.data.sources || []).length ? html`<ul>${r.data.sources.map(row)}</ul>` : html`<${Empty} />`}</div>
    <div><h4>${t('ds.col_consumers')}</h4>${(r.data.consumers || []).length ? html`<ul>${r.data.consumers.map(row)}</ul>` : html`<${Empty} />`}</div>
  </div>`;
}

function WhyStale({ name, flow }) {
  const r = useApi(`/datasets/${seg(name)}/why-stale`);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<${ErrorBox} error=${r.error} />`;
  const w = r.data;
  return html`<div id="why-stale-answer">
    <p><${Badge} value=${w.state} /> ${w.state === 'fresh' ? t('ds.is_fresh') : ''}</p>
    ${(w.reasons || []).length > 0 && html`<h3>${t('ds.reasons')}</h3><ul>${w.reasons.map((x) => html`<li>${x.recipe && html`<a href=${href.recipe(x.flow || flow || '', x.recipe)}>${x.recipe}</a>: `}${x.reason}</li>`)}</ul>`}
    ${(w.changed_inputs || []).length > 0 && html`<h3>${t('ds.changed_inputs')}</h3><ul>${w.changed_inputs.map((c) => html`<li><a href=${href.dataset(c.dataset)}>${c.dataset}</a>: ${t('ds.changed_versions', { used: String(c.used_version || '—').slice(0, 12), current: String(c.current_version || '—').slice(0, 12) })}</li>`)}</ul>`}
    ${(w.failed_upstream || []).length > 0 && html`<h3>${t('ds.failed_upstream')}</h3><ul>${w.failed_upstream.map((f) => html`<li>${f.flow}/${f.recipe} — <a href=${href.run(f.run_id)}>${String(f.run_id).slice(0, 8)}</a> <${When} value=${f.finished_at} /> ${f.error}</li>`)}</ul>`}
    <p>${t('ds.next_run')}: ${w.next_run ? html`${w.next_run.flow} (${w.next_run.environment}) <${When} value=${w.next_run.at} />${w.next_run.paused ? ` — ${t('status.paused')}` : ''}` : t('ds.no_next_run')}</p>
  </div>`;
}

export function DatasetPage({ name }) {
  const r = useApi(`/datasets/${seg(name)}`);
  const [column, setColumn] = useState(() => (location.hash.startsWith('#col-') ? decodeURIComponent(location.hash.slice(5)) : ''));
  const [why, setWhy] = useState(false);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<h1>${name}</h1><${ErrorBox} error=${r.error} />`;
  const d = r.data;
  const fr = d.freshness || {};
  const cur = d.current;
  // A stale-route link for the recipe's flow: why-stale reasons name recipes of this flow.
  return html`<article>
    <p class="crumbs"><a href="/">${t('nav.catalog')}</a> ›${d.usecase && html` <a href=${href.usecase(d.usecase)}>${d.usecase}</a> ›`}${d.flow && html` <a href=${href.flow(d.flow)}>${d.flow}</a> ›`} ${d.name}</p>
    <h1>${t('ds.title', { name: d.name })} <${Badge} value=${fr.state || 'never_built'} /></h1>
    ${d.description && html`<p>${d.description}</p>`}
    <${KeyValues} rows=${[
      [t('prod.environment'), d.environment], [t('graph.recipe'), d.recipe && d.flow ? html`<a href=${href.recipe(d.flow, d.recipe)}>${d.recipe}</a>` : d.recipe],
      [t('ds.version'), cur ? String(cur.version_id).slice(0, 12) : t('status.never_built')], [t('ds.rows'), cur ? formatNumber(cur.rows) : ''],
      [t('ds.updated'), html`<${When} value=${fr.updated_at || (cur && cur.created_at)} />`], fr.reason ? [t('ds.stale_reason'), fr.reason] : null,
    ]} />
    <${Section} id="why" title=${t('ds.why_stale')}>
      ${why ? html`<${WhyStale} name=${d.name} flow=${d.flow} />` : html`<button type="button" id="why-stale" onClick=${() => setWhy(true)}>${t('ds.why_stale_button')}</button>`}
    </${Section}>
    <${Section} id="schema" title=${t('ds.schema')}>
      <table><caption class="sr-only">${t('ds.schema')}</caption>
        <thead><tr><th scope="col">${t('ds.column')}</th><th scope="col">${t('ds.type')}</th><th scope="col">${t('uc.tags')}</th><th scope="col">${t('ds.col_lineage')}</th></tr></thead>
        <tbody>${(d.columns || []).map((c) => html`<tr id=${`col-${c.name}`}><th scope="row">${c.name}</th><td>${c.type}</td>
          <td>${(c.tags || []).map((tag) => html`<span class="badge neutral">${tag}</span> `)}</td>
          <td><button type="button" class="link" aria-pressed=${column === c.name} onClick=${() => setColumn(column === c.name ? '' : c.name)}>${t('ds.show_col_lineage')}</button></td></tr>`)}</tbody>
      </table>
      ${column && html`<h3>${t('ds.col_lineage_of', { column })}</h3><${ColumnLineage} key=${column} name=${d.name} column=${column} />`}
    </${Section}>
    <${Section} id="preview" title=${t('ds.preview')}>${cur ? html`<${Preview} name=${d.name} />` : html`<${Empty} text=${t('status.never_built')} />`}</${Section}>
    <${Section} id="stats" title=${t('ds.stats')}>${cur ? html`<${Stats} name=${d.name} />` : html`<${Empty} />`}</${Section}>
    <${Section} id="lineage" title=${t('ds.lineage')}><${Lineage} name=${d.name} /></${Section}>
    <${Section} id="versions" title=${t('ds.versions')}><${Versions} name=${d.name} /></${Section}>
    <${Section} id="checks" title=${t('ds.checks')}><${Checks} name=${d.name} /></${Section}>
  </article>`;
}
