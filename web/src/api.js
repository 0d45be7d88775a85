// The JSON API client (docs/api.md): every request goes to /api on the same origin,
// with the session cookie; state-changing requests carry the CSRF token of GET /api/me
// in X-CSRF-Token. Errors are values: { ok: false, status, error }.

let csrfToken = '';

export function setCsrfToken(token) {
  csrfToken = token || '';
}

// A path segment: every name coming from data goes through this before it is part of a URL.
export const seg = (s) => encodeURIComponent(String(s));

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
    else if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function request(method, path, { params, body } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin' };
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = csrfToken;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(`/api${path}${query(params)}`, init);
  } catch (e) {
    return { ok: false, status: 0, error: String(e && e.message ? e.message : e) };
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    // docs/api.md: {"error": {"code", "message"}}
    const err = data && data.error;
    const error = err ? String(err.message || err.code || err) : res.statusText || `HTTP ${res.status}`;
    const code = err && err.code ? String(err.code) : '';
    if (res.status === 401 && onUnauthorized) onUnauthorized();
    return { ok: false, status: res.status, error, code };
  }
  return { ok: true, status: res.status, data };
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export const get = (path, params) => request('GET', path, { params });
export const post = (path, body) => request('POST', path, { body: body === undefined ? {} : body });

// A page of a paginated list: the server's shape is { items, next_cursor }; older or
// plain-array answers are accepted as a single page.
export function pageOf(data, key) {
  if (Array.isArray(data)) return { items: data, next: null };
  if (!data) return { items: [], next: null };
  const items = data.items || (key && data[key]) || [];
  return { items, next: data.next_cursor || data.next || null, total: data.total, counts: data.counts };
}
