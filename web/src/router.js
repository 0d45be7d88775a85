// Stable URLs through the History API: every page is a path, filters are in the query.
const routes = [
  ['login', /^\/login$/],
  ['home', /^\/$/],
  ['search', /^\/search$/],
  ['usecase', /^\/usecases\/([^/]+)$/],
  ['recipe', /^\/flows\/([^/]+)\/recipes\/([^/]+)$/],
  ['run', /^\/runs\/([^/]+)$/],
  ['flow', /^\/flows\/([^/]+)$/],
  ['dataset', /^\/datasets\/([^/]+)$/],
  ['production', /^\/production$/],
];

export function match(pathname) {
  for (const [name, re] of routes) {
    const m = re.exec(pathname);
    if (m) return { name, params: m.slice(1).map((p) => decodeURIComponent(p)) };
  }
  return { name: 'notfound', params: [] };
}

const listeners = new Set();
export function onNavigate(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function notify() {
  for (const fn of listeners) fn(location.pathname, location.search);
}
window.addEventListener('popstate', notify);

export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  notify();
  window.scrollTo(0, 0);
}

// Internal links: a plain <a href>, intercepted so the page does not reload.
export function linkHandler(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || a.target || a.origin !== location.origin || a.pathname.startsWith('/api/')) return;
  if ((a.getAttribute('href') || '').startsWith('#')) return; // in-page anchors (the skip link)
  e.preventDefault();
  navigate(a.pathname + a.search);
}

export function queryParams() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

export function setQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  history.replaceState(null, '', location.pathname + (s ? `?${s}` : ''));
}
