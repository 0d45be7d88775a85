import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { t } from '../i18n.js';
import { post, seg } from '../api.js';
import { useApi, Loading, ErrorBox, Badge, When, Section, Empty, href } from '../components/common.js';
import { TriggerButton, canOperate } from './flow.js';

function PauseButton({ flow, paused, env, me, onDone }) {
  const [msg, setMsg] = useState(null);
  if (!canOperate(me)) return null;
  async function act() {
    const r = await post(`/schedules/${seg(flow)}/${paused ? 'resume' : 'pause'}`, env ? { env } : {});
    setMsg(r.ok ? null : r.error);
    if (r.ok) onDone();
  }
  return html`<button type="button" class="pause" onClick=${act}>${paused ? t('prod.resume') : t('prod.pause')}</button>${msg && html`<span class="error" role="alert">${msg}</span>`}`;
}

export function ProductionPage({ me }) {
  const r = useApi('/production');
  if (r.loading && !r.data) return html`<${Loading} />`;
  if (r.error) return html`<h1>${t('prod.title')}</h1><${ErrorBox} error=${r.error} />`;
  const p = r.data;
  return html`<div>
    <h1>${t('prod.title')}</h1>
    <p class="muted">${t('prod.environment')}: ${p.environment}</p>
    <${Section} id="prod-flows" title=${t('prod.releases')}>
      ${(p.flows || []).length === 0 ? html`<${Empty} />` : html`<table><caption class="sr-only">${t('prod.releases')}</caption>
        <thead><tr><th scope="col">${t('uc.flow')}</th><th scope="col">${t('prod.release')}</th><th scope="col">${t('prod.since')}</th><th scope="col">${t('flow.schedule')}</th><th scope="col">${t('prod.next_run')}</th><th scope="col">${t('prod.last_run')}</th>${canOperate(me) && html`<th scope="col">${t('prod.actions')}</th>`}</tr></thead>
        <tbody>${p.flows.map((f) => {
          const s = f.schedule;
          return html`<tr class=${f.late ? 'late' : ''}>
            <td><a href=${href.flow(f.flow)}>${f.flow}</a>${f.usecase && html`<br /><a class="muted" href=${`${href.usecase(f.usecase)}#production`}>${f.usecase}</a>`}</td>
            <td>${f.release ? `${f.release.tag || f.release.number}` : '—'}</td>
            <td><${When} value=${f.release && f.release.since} /></td>
            <td>${s ? html`<code>${s.cron}</code> ${s.paused && html`<${Badge} value="paused" />`}` : '—'}</td>
            <td><${When} value=${s && s.next_run} /></td>
            <td>${f.last_run ? html`<a href=${href.run(f.last_run.id)}><${Badge} value=${f.last_run.status} /></a>` : '—'} ${f.late && html`<${Badge} value="late" label=${t('prod.late')} />`}</td>
            ${canOperate(me) && html`<td>${s && html`<${PauseButton} flow=${f.flow} paused=${s.paused} env=${p.environment} me=${me} onDone=${r.reload} />`} <${TriggerButton} flow=${f.flow} me=${me} /></td>`}
          </tr>`;
        })}</tbody></table>`}
    </${Section}>
    <${Section} id="prod-failed" title=${t('prod.failed')}>
      ${(p.failed || []).length === 0 ? html`<${Empty} />` : html`<ul>${p.failed.map((f) => html`<li><a href=${href.flow(f.flow)}>${f.flow}</a> <a href=${href.run(f.run_id)}>${String(f.run_id).slice(0, 8)}</a> <${When} value=${f.finished_at} /> ${f.error}</li>`)}</ul>`}
    </${Section}>
    <${Section} id="prod-late" title=${t('prod.late_runs')}>
      ${(p.late || []).length === 0 ? html`<${Empty} />` : html`<ul>${p.late.map((l) => html`<li><a href=${href.flow(l.flow)}>${l.flow}</a> <${When} value=${l.nominal} /> <${Badge} value=${l.status} /></li>`)}</ul>`}
    </${Section}>
  </div>`;
}
