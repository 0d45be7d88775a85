import { useEffect, useState, useCallback, useRef } from 'preact/hooks';
import { html } from '../html.js';
import { t, formatDate } from '../i18n.js';
import { get, pageOf } from '../api.js';

export function Loading() {
  return html`<p class="muted" role="status">${t('loading')}</p>`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${t('error')}: ${error}</p>`;
}

// One GET whose answer the page shows; reloads when a dependency changes.
export function useApi(path, params, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const reload = useCallback(async () => {
    if (!path) return;
    setState((s) => ({ ...s, loading: true }));
    const r = await get(path, params);
    setState({ loading: false, data: r.ok ? r.data : null, error: r.ok ? null : r.error, status: r.status });
  }, deps || [path, JSON.stringify(params || {})]);
  useEffect(() => {
    reload();
  }, [reload]);
  return { ...state, reload };
}

// A list paginated by the server's cursor: the first page, then "more" on demand.
export function usePaged(path, params, key) {
  const [items, setItems] = useState([]);
  const [next, setNext] = useState(null);
  const [meta, setMeta] = useState({});
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(null);
  const token = useRef(0);
  const paramKey = JSON.stringify(params || {});
  const load = useCallback(
    async (cursor) => {
      const mine = ++token.current;
      setLoading(true);
      const r = await get(path, { ...(params || {}), cursor: cursor || undefined });
      if (mine !== token.current) return;
      setLoading(false);
      if (!r.ok) {
        setError(r.error);
        return;
      }
      setError(null);
      const p = pageOf(r.data, key);
      setItems((old) => (cursor ? old.concat(p.items) : p.items));
      setNext(p.next);
      if (!cursor) setMeta(r.data && !Array.isArray(r.data) ? r.data : {});
    },
    [path, paramKey]
  );
  useEffect(() => {
    if (path) load(null);
  }, [load]);
  return { items, next, meta, loading, error, more: () => load(next), reload: () => load(null) };
}

export function MoreButton({ list }) {
  if (list.error) return html`<${ErrorBox} error=${list.error} />`;
  if (!list.next) return null;
  return html`<button type="button" class="more" onClick=${list.more} disabled=${list.loading}>${t('more')}</button>`;
}

const STATUS_CLASSES = {
  success: 'ok', succeeded: 'ok', ok: 'ok', fresh: 'ok', production: 'ok', passed: 'ok', active: 'ok', up_to_date: 'ok',
  failed: 'bad', failure: 'bad', error: 'bad', abandoned: 'bad', late: 'bad', cancelled: 'warn',
  stale: 'warn', running: 'info', pending: 'info', paused: 'warn', never_built: 'muted', unplannable: 'bad',
};

export function Badge({ value, label }) {
  if (value === null || value === undefined || value === '') return html`<span class="badge muted">—</span>`;
  const cls = STATUS_CLASSES[String(value).toLowerCase()] || 'neutral';
  const text = label || t(`status.${value}`);
  return html`<span class=${`badge ${cls}`}>${text.startsWith('status.') ? String(value) : text}</span>`;
}

export function When({ value }) {
  if (!value) return html`<span>—</span>`;
  return html`<time datetime=${String(value)}>${formatDate(value)}</time>`;
}

export function Section({ title, id, wide, children }) {
  return html`<section aria-labelledby=${id} class=${wide ? 'panel wide' : 'panel'}><h2 id=${id}>${title}</h2>${children}</section>`;
}

export function KeyValues({ rows }) {
  return html`<dl class="kv">
    ${rows
      .filter((r) => r)
      .map(([k, v]) => html`<div><dt>${k}</dt><dd>${v === null || v === undefined || v === '' ? '—' : v}</dd></div>`)}
  </dl>`;
}

export function Empty({ text }) {
  return html`<p class="muted">${text || t('empty')}</p>`;
}

export const href = {
  usecase: (id) => `/usecases/${encodeURIComponent(id)}`,
  flow: (f) => `/flows/${encodeURIComponent(f)}`,
  recipe: (f, r) => `/flows/${encodeURIComponent(f)}/recipes/${encodeURIComponent(r)}`,
  dataset: (d) => `/datasets/${encodeURIComponent(d)}`,
  run: (id) => `/runs/${encodeURIComponent(id)}`,
};
