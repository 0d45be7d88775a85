import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { t, formatDuration, formatNumber } from '../i18n.js';
import { seg } from '../api.js';
import { useApi, usePaged, Loading, ErrorBox, Badge, When, Section, KeyValues, MoreButton, Empty, href } from '../components/common.js';
import { Gantt } from '../components/charts.js';

function Logs({ id, recipe }) {
  const list = usePaged(`/runs/${seg(id)}/logs`, { recipe: recipe || undefined, limit: 200 });
  if (list.loading && list.items.length === 0) return html`<${Loading} />`;
  if (list.items.length === 0) return list.error ? html`<${ErrorBox} error=${list.error} />` : html`<${Empty} text=${t('run.no_logs')} />`;
  return html`<pre class="logs" tabindex="0">${list.items.map((l) => `${l.recipe ? `[${l.recipe}] ` : ''}${l.text}\n`).join('')}</pre><${MoreButton} list=${list} />`;
}

export function RunPage({ id }) {
  const r = useApi(`/runs/${seg(id)}`);
  const [recipe, setRecipe] = useState('');
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<h1>${id}</h1><${ErrorBox} error=${r.error} />`;
  const run = r.data;
  const flows = run.flows || [];
  return html`<article>
    <p class="crumbs"><a href="/">${t('nav.catalog')}</a> › ${flows.map((f) => html`<a href=${href.flow(f)}>${f}</a> › `)}${String(run.id).slice(0, 8)}</p>
    <h1>${t('run.title', { id: String(run.id).slice(0, 8) })} <${Badge} value=${run.status} /></h1>
    <${KeyValues} rows=${[
      [t('prod.environment'), run.environment], [t('runs.trigger'), `${run.trigger || ''}${run.user ? ` (${run.user})` : ''}`],
      [t('runs.started'), html`<${When} value=${run.started_at} />`], [t('runs.finished'), html`<${When} value=${run.finished_at} />`],
      [t('prod.release'), run.release], [t('prod.commit'), run.git_commit ? `${String(run.git_commit).slice(0, 12)}${run.git_dirty ? '+' : ''}` : ''],
      run.error ? [t('run.error'), run.error] : null,
    ]} />
    <${Section} id="gantt" title=${t('run.gantt')}><${Gantt} recipes=${run.recipes} /></${Section}>
    <${Section} id="run-recipes" title=${t('run.recipes')}>
      <table><caption class="sr-only">${t('run.recipes')}</caption>
        <thead><tr><th scope="col">${t('graph.recipe')}</th><th scope="col">${t('runs.status')}</th><th scope="col">${t('runs.duration')}</th><th scope="col">${t('runs.rows_in')}</th><th scope="col">${t('runs.rows_out')}</th><th scope="col">${t('runs.reason')}</th><th scope="col">${t('run.logs')}</th></tr></thead>
        <tbody>${(run.recipes || []).map((rc) => html`<tr>
          <td><a href=${href.recipe(rc.flow, rc.recipe)}>${rc.recipe}</a></td><td><${Badge} value=${rc.status} /></td>
          <td>${formatDuration(rc.duration_ms)}</td><td>${formatNumber(rc.rows_in)}</td><td>${formatNumber(rc.rows_out)}</td>
          <td>${rc.error || rc.reason || ''}</td>
          <td><button type="button" class="link" onClick=${() => setRecipe(`${rc.flow}/${rc.recipe}`)}>${t('run.show_logs')}</button></td></tr>`)}</tbody>
      </table>
    </${Section}>
    <${Section} id="logs" title=${recipe ? t('run.logs_of', { recipe }) : t('run.logs')}>
      ${recipe && html`<button type="button" class="link" onClick=${() => setRecipe('')}>${t('run.all_logs')}</button>`}
      <${Logs} key=${recipe} id=${run.id} recipe=${recipe} />
    </${Section}>
  </article>`;
}
