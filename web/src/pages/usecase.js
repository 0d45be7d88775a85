import { html } from '../html.js';
import { t, formatNumber } from '../i18n.js';
import { useApi, usePaged, Loading, ErrorBox, Badge, When, Section, KeyValues, Empty, MoreButton, href } from '../components/common.js';
import { KpiChart } from '../components/charts.js';
import { seg } from '../api.js';

// Only web links are made clickable; anything else (javascript:, data:) stays text.
function SafeLink({ url, children }) {
  return /^https?:\/\//i.test(String(url || '')) ? html`<a href=${url} rel="noopener noreferrer">${children}</a>` : html`<span>${children}</span>`;
}

function Production({ production }) {
  if (!production || production.length === 0) return html`<${Empty} text=${t('uc.not_in_production')} />`;
  return production.map(
    (p) => html`<div class="prod">
      <${KeyValues} rows=${[
        [t('uc.flow'), html`<a href=${href.flow(p.flow)}>${p.flow}</a>`],
        [t('prod.environment'), p.environment],
        [t('prod.release'), p.tag || p.release],
        [t('prod.since'), html`<${When} value=${p.since} />`],
        [t('prod.promoted_by'), p.promoted_by],
        [t('prod.commit'), p.git_commit ? String(p.git_commit).slice(0, 12) : ''],
      ]} />
      ${p.gates && p.gates.length > 0 &&
      html`<table><caption>${t('prod.gates')}</caption>
        <thead><tr><th scope="col">${t('prod.gate')}</th><th scope="col">${t('prod.result')}</th><th scope="col">${t('prod.detail')}</th></tr></thead>
        <tbody>${p.gates.map((g) => html`<tr><td>${g.name || g.gate}</td><td><${Badge} value=${g.passed ? 'passed' : 'failed'} /></td><td>${g.detail || g.reason || ''}</td></tr>`)}</tbody>
      </table>`}
    </div>`
  );
}

export function RunsTable({ runs, showFlow = true }) {
  if (!runs || runs.length === 0) return html`<${Empty} text=${t('runs.none')} />`;
  return html`<table class="runs"><caption class="sr-only">${t('runs.title')}</caption>
    <thead><tr><th scope="col">${t('runs.id')}</th>${showFlow && html`<th scope="col">${t('uc.flow')}</th>`}<th scope="col">${t('runs.status')}</th><th scope="col">${t('prod.environment')}</th><th scope="col">${t('runs.trigger')}</th><th scope="col">${t('runs.started')}</th><th scope="col">${t('runs.finished')}</th></tr></thead>
    <tbody>${runs.map(
      (r) => html`<tr>
        <td><a href=${href.run(r.id)}>${String(r.id).slice(0, 8)}</a></td>
        ${showFlow && html`<td>${r.flow || (r.flows || []).join(', ')}</td>`}
        <td><${Badge} value=${r.status} /></td><td>${r.environment || ''}</td>
        <td>${r.trigger || ''}${r.user ? ` (${r.user})` : ''}</td>
        <td><${When} value=${r.started_at} /></td><td><${When} value=${r.finished_at} /></td>
      </tr>`
    )}</tbody></table>`;
}

function Audit({ id }) {
  const list = usePaged(`/usecases/${seg(id)}/audit`, { limit: 20 });
  if (list.loading && list.items.length === 0) return html`<${Loading} />`;
  if (list.items.length === 0) return list.error ? html`<${ErrorBox} error=${list.error} />` : html`<${Empty} />`;
  return html`<table><caption class="sr-only">${t('uc.audit')}</caption>
    <thead><tr><th scope="col">${t('audit.at')}</th><th scope="col">${t('audit.user')}</th><th scope="col">${t('audit.action')}</th><th scope="col">${t('prod.environment')}</th><th scope="col">${t('audit.target')}</th><th scope="col">${t('audit.outcome')}</th></tr></thead>
    <tbody>${list.items.map((a) => html`<tr><td><${When} value=${a.at} /></td><td>${a.user}</td><td>${a.action}</td><td>${a.environment}</td><td>${a.target}</td><td>${a.outcome}</td></tr>`)}</tbody>
  </table><${MoreButton} list=${list} />`;
}

export function UseCasePage({ id }) {
  const r = useApi(`/usecases/${seg(id)}`);
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<h1>${id}</h1><${ErrorBox} error=${r.error} />`;
  const uc = r.data;
  const benefits = uc.benefits || {};
  return html`<article>
    <p class="crumbs"><a href="/">${t('nav.catalog')}</a> › ${uc.title || uc.id}</p>
    <h1>${uc.title || uc.id}</h1>
    <p><${Badge} value=${uc.status} label=${t(`ucstatus.${uc.status}`)} /> ${uc.reason && html`<span class="reason">${uc.reason}</span>`}</p>
    <div class="grid">
      <${Section} id="production" title=${t('uc.production')}><${Production} production=${uc.production} />
        ${(uc.next_runs || []).length > 0 &&
        html`<h3>${t('uc.next_runs')}</h3><ul>${uc.next_runs.map((n) => html`<li>${n.flow} (${n.environment}): <${When} value=${n.at} /> ${n.paused && html`<${Badge} value="paused" />`}</li>`)}</ul>`}
      </${Section}>
      <${Section} id="about" title=${t('uc.about')}>
        <${KeyValues} rows=${[
          [t('uc.owner'), uc.owner], [t('uc.team'), uc.team], [t('uc.direction'), uc.direction], [t('uc.ministry'), uc.ministry],
          [t('uc.priority'), uc.priority], [t('uc.tags'), (uc.tags || []).join(', ')],
        ]} />
        ${uc.description && html`<div class="description">${String(uc.description).split(/\n{2,}/).map((p) => html`<p>${p}</p>`)}</div>`}
        ${(uc.links || []).length > 0 && html`<h3>${t('uc.links')}</h3><ul>${uc.links.map((l) => html`<li><${SafeLink} url=${l.url}>${l.title || l.url}</${SafeLink}></li>`)}</ul>`}
        ${(uc.sources || []).length > 0 && html`<h3>${t('uc.sources')}</h3><ul>${uc.sources.map((s) => html`<li>${s.dataset ? html`<a href=${href.dataset(s.dataset)}>${s.name}</a>` : s.name}${s.description ? ` — ${s.description}` : ''}</li>`)}</ul>`}
      </${Section}>
      <${Section} id="benefits" title=${t('uc.benefits')}>
        <${KeyValues} rows=${[[t('uc.expected'), benefits.expected], [t('uc.measured'), benefits.measured]]} />
        ${(uc.kpis || []).map(
          (k) => html`<div class="kpi-block"><p><strong>${k.name}</strong>${k.expected !== undefined && k.expected !== null ? ` — ${t('uc.kpi_expected')} ${formatNumber(k.expected)}${k.unit || ''}` : ''}</p>
            ${(k.points || []).length > 0 ? html`<${KpiChart} name=${k.name} unit=${k.unit} points=${k.points} />` : html`<p class="muted">${t('uc.kpi_no_points')}</p>`}</div>`
        )}
      </${Section}>
      <${Section} id="history" title=${t('uc.status_history')}>
        ${(uc.status_history || []).length === 0 ? html`<${Empty} />` : html`<ol class="timeline">${uc.status_history.map(
          (s) => html`<li><${Badge} value=${s.status} label=${t(`ucstatus.${s.status}`)} /> <${When} value=${s.changed_at} />${s.reason && html`<p class=${s.status === 'abandoned' ? 'reason abandoned' : 'reason'}>${s.status === 'abandoned' ? `${t('uc.abandoned_because')} ` : ''}${s.reason}</p>`}</li>`
        )}</ol>`}
      </${Section}>
      <${Section} id="flows" title=${t('uc.flows')}>
        ${(uc.flows || []).length === 0 ? html`<${Empty} />` : html`<ul>${uc.flows.map(
          (f) => html`<li><a href=${href.flow(f.name)}>${f.name}</a> ${f.schedule && html`<code>${f.schedule.cron}</code>${f.schedule.paused ? html` <${Badge} value="paused" />` : ''}`} ${f.last_run && html`<${Badge} value=${f.last_run.status} />`}${f.description && html`<p class="muted">${f.description}</p>`}</li>`
        )}</ul>`}
      </${Section}>
      <${Section} wide id="datasets" title=${t('uc.datasets')}>
        ${(uc.datasets || []).length === 0 ? html`<${Empty} />` : html`<table><caption class="sr-only">${t('uc.datasets')}</caption>
          <thead><tr><th scope="col">${t('ds.name')}</th><th scope="col">${t('uc.flow')}</th><th scope="col">${t('ds.rows')}</th><th scope="col">${t('uc.freshness')}</th></tr></thead>
          <tbody>${uc.datasets.map((d) => html`<tr><td><a href=${href.dataset(d.name)}>${d.name}</a></td><td>${d.flow}</td><td>${formatNumber(d.rows)}</td><td><${Badge} value=${(d.freshness || {}).state} /></td></tr>`)}</tbody></table>`}
      </${Section}>
      <${Section} wide id="models" title=${t('uc.models')}>
        ${(uc.models || []).length === 0 ? html`<${Empty} />` : html`<table><caption class="sr-only">${t('uc.models')}</caption>
          <thead><tr><th scope="col">${t('uc.model')}</th><th scope="col">${t('uc.flow')}</th><th scope="col">${t('uc.metrics')}</th><th scope="col">${t('uc.created')}</th></tr></thead>
          <tbody>${uc.models.map((m) => html`<tr><td>${m.model}</td><td>${m.flow}</td><td>${Object.entries(m.metrics || {}).filter(([, v]) => typeof v !== 'object').map(([k, v]) => `${k} ${formatNumber(v)}`).join(' · ')}</td><td><${When} value=${m.created_at} /></td></tr>`)}</tbody></table>`}
      </${Section}>
      <${Section} wide id="runs" title=${t('uc.last_runs')}><${RunsTable} runs=${uc.last_runs} /></${Section}>
      <${Section} wide id="audit" title=${t('uc.audit')}><${Audit} id=${uc.id} /></${Section}>
    </div>
  </article>`;
}
