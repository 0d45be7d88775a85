import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { t, formatDate } from '../i18n.js';
import { useApi, Loading, ErrorBox, Badge, href, Empty } from '../components/common.js';
import { queryParams, setQuery } from '../router.js';

const STATUSES = ['idea', 'poc', 'preprod', 'production', 'abandoned'];
const SORTS = ['title', 'status', 'owner', 'direction', 'updated', 'health'];

function Select({ id, label, value, options, onChange, all = true, render }) {
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <select id=${id} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
      ${all && html`<option value="">${t('filter.all')}</option>`}
      ${options.map((o) => html`<option value=${o} selected=${o === value}>${render ? render(o) : o}</option>`)}
    </select>
  </div>`;
}

function Card({ uc }) {
  const fr = uc.freshness || {};
  const health = uc.health || {};
  return html`<li class="card usecase-card">
    <h2 class="card-title"><a href=${href.usecase(uc.id)}>${uc.title || uc.id}</a></h2>
    <p class="meta"><${Badge} value=${uc.status} label=${t(`ucstatus.${uc.status}`)} />
      ${uc.priority && html` <span class="badge neutral">${t('uc.priority')} ${uc.priority}</span>`}</p>
    ${uc.summary && html`<p class="summary">${uc.summary}</p>`}
    <dl class="kv compact">
      <div><dt>${t('uc.owner')}</dt><dd>${uc.owner || '—'}</dd></div>
      <div><dt>${t('uc.direction')}</dt><dd>${uc.direction || '—'}</dd></div>
      <div><dt>${t('uc.freshness')}</dt><dd><${Badge} value=${fr.state || 'never_built'} />
        ${fr.updated_at && html` <span class="muted">${formatDate(fr.updated_at)}</span>`}</dd></div>
      <div><dt>${t('uc.health')}</dt><dd><${Badge} value=${health.status || 'never_run'} />
        ${health.environment && html` <span class="muted">${health.environment}</span>`}</dd></div>
    </dl>
    ${uc.tags && uc.tags.length > 0 && html`<ul class="tags" aria-label=${t('uc.tags')}>${uc.tags.map((tag) => html`<li>${tag}</li>`)}</ul>`}
    <p><a href=${`${href.usecase(uc.id)}#production`} class="quick">${t('uc.production_state')}</a></p>
  </li>`;
}

export function HomePage() {
  const [filters, setFilters] = useState(() => {
    const q = queryParams();
    return { status: q.status || '', direction: q.direction || '', tag: q.tag || '', owner: q.owner || '', sort: q.sort || 'title', order: q.order || 'asc' };
  });
  const list = useApi('/usecases', filters);
  const update = (k) => (v) => {
    const next = { ...filters, [k]: v };
    setFilters(next);
    setQuery(next.sort === 'title' && next.order === 'asc' ? { ...next, sort: '', order: '' } : next);
  };
  const d = list.data || {};
  const facets = d.facets || {};
  const counts = d.counts || {};
  return html`<div>
    <h1>${t('home.title')}</h1>
    <nav aria-label=${t('home.counts')} class="counts">
      <ul>
        <li><button type="button" aria-pressed=${filters.status === ''} onClick=${() => update('status')('')}>${t('filter.all')} <span class="count">${STATUSES.reduce((a, s) => a + (counts[s] || 0), 0)}</span></button></li>
        ${STATUSES.map(
          (s) => html`<li><button type="button" aria-pressed=${filters.status === s} data-status=${s}
                         onClick=${() => update('status')(filters.status === s ? '' : s)}>
            ${t(`ucstatus.${s}`)} <span class="count">${counts[s] || 0}</span></button></li>`
        )}
      </ul>
    </nav>
    <form class="filters" role="search" aria-label=${t('home.filters')} onSubmit=${(e) => e.preventDefault()}>
      <${Select} id="f-status" label=${t('uc.status')} value=${filters.status} options=${STATUSES} onChange=${update('status')} render=${(s) => t(`ucstatus.${s}`)} />
      <${Select} id="f-direction" label=${t('uc.direction')} value=${filters.direction} options=${facets.directions || []} onChange=${update('direction')} />
      <${Select} id="f-tag" label=${t('uc.tag')} value=${filters.tag} options=${facets.tags || []} onChange=${update('tag')} />
      <${Select} id="f-owner" label=${t('uc.owner')} value=${filters.owner} options=${facets.owners || []} onChange=${update('owner')} />
      <${Select} id="f-sort" label=${t('home.sort')} value=${filters.sort} options=${SORTS} all=${false} onChange=${update('sort')} render=${(s) => t(`sort.${s}`)} />
      <${Select} id="f-order" label=${t('home.order')} value=${filters.order} options=${['asc', 'desc']} all=${false} onChange=${update('order')} render=${(s) => t(`order.${s}`)} />
    </form>
    ${list.loading && !list.data && html`<${Loading} />`}
    <${ErrorBox} error=${list.error} />
    ${list.data && html`<p class="muted" role="status" id="uc-total">${t('home.total', { n: (d.items || []).length })}</p>`}
    ${list.data && (d.items || []).length === 0 && html`<${Empty} text=${t('home.none')} />`}
    <ul class="cards">${(d.items || []).map((uc) => html`<${Card} key=${uc.id} uc=${uc} />`)}</ul>
  </div>`;
}
