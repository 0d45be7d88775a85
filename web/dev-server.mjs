// A development server for the UI alone: serves dist/ with the real server's CSP and
// answers the routes of docs/api.md with small fixed data (no Alambic binary needed).
//   node build.mjs && node dev-server.mjs [PORT]     then log in as dev / dev
// The data holds a hostile title and a 2,000-recipe flow ("big") on purpose.
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), 'dist');
const port = Number(process.argv[2] || 8089);
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.woff2': 'font/woff2', '.woff': 'font/woff', '.md': 'text/plain' };
const now = new Date().toISOString();
const ago = (min) => new Date(Date.now() - min * 60000).toISOString();

const usecases = [
  { id: 'fraude-examens-permis', title: 'Fraude aux examens du permis', summary: 'Détecter les centres atypiques.', status: 'production', priority: 'high', owner: 'Jeanne Martin', team: 'datalab', direction: 'DSR', tags: ['fraude', 'permis'], flows: ['permis'], freshness: { state: 'stale', updated_at: ago(60) }, health: { status: 'succeeded', environment: 'warehouse' } },
  { id: 'hostile', title: '<img src=x onerror=alert(1)>', summary: '<script>alert(2)</script>', status: 'idea', owner: 'x', direction: 'DGX', tags: ['t'], flows: [], freshness: { state: 'never_built' }, health: { status: 'never_run' } },
  { id: 'old', title: 'Ancien projet', status: 'poc', owner: 'Paul', direction: 'DSR', tags: [], flows: [], freshness: { state: 'fresh' }, health: { status: 'failed' } },
];
function flowGraph(name) {
  if (name === 'big') {
    const nodes = [];
    const edges = [];
    for (let i = 0; i < 2000; i++) {
      nodes.push({ id: `recipe:r${i}`, type: 'recipe', name: `r${i}`, kind: 'filter', last_status: i % 97 === 0 ? 'failed' : 'succeeded' });
      nodes.push({ id: `dataset:d${i}`, type: 'dataset', name: `d${i}`, freshness: { state: i % 13 === 0 ? 'stale' : 'fresh' } });
      edges.push({ from: `recipe:r${i}`, to: `dataset:d${i}` });
      if (i > 0) edges.push({ from: `dataset:d${Math.floor((i - 1) / 2)}`, to: `recipe:r${i}` });
    }
    return { name, version: 'v1', nodes, edges, schedule: null };
  }
  return {
    name, usecase: 'fraude-examens-permis', version: 'abc', schedule: { cron: '0 3 * * 1', timezone: 'Europe/Paris', paused: false },
    nodes: [
      { id: 'dataset:exams_raw', type: 'dataset', name: 'exams_raw', freshness: { state: 'fresh' } },
      { id: 'recipe:clean_exams', type: 'recipe', name: 'clean_exams', kind: 'clean', last_status: 'succeeded' },
      { id: 'dataset:exams', type: 'dataset', name: 'exams', freshness: { state: 'stale', reason: 'input changed' } },
      { id: 'recipe:rates', type: 'recipe', name: 'rates', kind: 'group', last_status: 'failed' },
      { id: 'dataset:centre_rates', type: 'dataset', name: 'centre_rates', freshness: { state: 'never_built' } },
    ],
    edges: [{ from: 'dataset:exams_raw', to: 'recipe:clean_exams' }, { from: 'recipe:clean_exams', to: 'dataset:exams' }, { from: 'dataset:exams', to: 'recipe:rates' }, { from: 'recipe:rates', to: 'dataset:centre_rates' }],
  };
}
const run = { id: 'run0001abcdef', flows: ['permis'], environment: 'datalab', trigger: 'manual', user: 'dev', status: 'succeeded', started_at: ago(10), finished_at: ago(9),
  recipes: [{ flow: 'permis', recipe: 'clean_exams', status: 'succeeded', started_at: ago(10), finished_at: ago(9.5), duration_ms: 30000, rows_in: 10, rows_out: 9 },
            { flow: 'permis', recipe: 'rates', status: 'failed', started_at: ago(9.5), finished_at: ago(9), duration_ms: 30000, error: 'boom <b>' }] };
let session = null;
const csrf = 'dev-csrf-token';
let paused = false;

function api(method, path, url, body, req) {
  const p = path.split('/').slice(2).map(decodeURIComponent);
  const authed = session && (req.headers.cookie || '').includes(`alambic_session=${session.id}`);
  if (p[0] === 'config') return [200, { theme: process.env.DEV_THEME || 'default', languages: ['fr', 'en'], default_language: 'fr', workspace: 'dev', version: 'dev' }];
  if (p[0] === 'login' && method === 'POST') {
    if (!body.user || body.password !== body.user) return [401, { error: { code: 'bad_credentials', message: 'wrong user or password' } }];
    session = { id: String(Math.random()).slice(2), user: body.user, role: body.user === 'viewer' ? 'viewer' : 'engineer' };
    return [200, { user: session.user, role: session.role, csrf_token: csrf }, { 'Set-Cookie': `alambic_session=${session.id}; HttpOnly; SameSite=Strict; Path=/` }];
  }
  if (!authed) return [401, { error: { code: 'unauthenticated', message: 'log in' } }];
  if (method === 'POST' && req.headers['x-csrf-token'] !== csrf) return [403, { error: { code: 'csrf', message: 'bad CSRF token' } }];
  if (method === 'POST' && p[0] !== 'logout' && session.role === 'viewer') return [403, { error: { code: 'forbidden', message: 'engineer only' } }];
  if (p[0] === 'logout') { session = null; return [200, { ok: true }]; }
  if (p[0] === 'me') return [200, { user: session.user, role: session.role, csrf_token: csrf, auth: 'session', usecases: null }];
  if (p[0] === 'usecases' && p.length === 1) {
    const f = Object.fromEntries(url.searchParams);
    let items = usecases.filter((u) => (!f.direction || u.direction === f.direction) && (!f.tag || u.tags.includes(f.tag)) && (!f.owner || u.owner === f.owner));
    const counts = {};
    for (const u of items) counts[u.status] = (counts[u.status] || 0) + 1;
    items = items.filter((u) => !f.status || u.status === f.status);
    return [200, { counts, total: items.length, facets: { directions: ['DGX', 'DSR'], owners: ['Jeanne Martin', 'Paul', 'x'], tags: ['fraude', 'permis', 't'] }, items }];
  }
  if (p[0] === 'usecases' && p[2] === 'audit') return [200, { items: [{ seq: 1, at: now, user: 'dev', action: 'promote', environment: 'warehouse', flow: 'permis', target: 'permis/1', outcome: 'ok' }], next_cursor: null }];
  if (p[0] === 'usecases') {
    const u = usecases.find((x) => x.id === p[1]);
    if (!u) return [404, { error: { code: 'not_found', message: `no use case '${p[1]}'` } }];
    return [200, { ...u, description: 'Un paragraphe.\n\nUn autre.', reason: u.status === 'abandoned' ? 'Données indisponibles' : '',
      links: [{ title: 'Note', url: 'https://intranet.example/x.pdf' }, { title: 'bad', url: 'javascript:alert(1)' }], benefits: { expected: 'moins de fraude', measured: '' },
      kpis: [{ name: 'inspections', unit: '%', expected: 30, points: [{ date: '2026-01-01', measured: 5 }, { date: '2026-06-01', measured: 12 }] }],
      status_history: [{ status: 'idea', changed_at: ago(9000) }, { status: u.status, reason: u.status === 'abandoned' ? 'Données indisponibles' : 'ok', changed_at: ago(100) }],
      flows: u.flows.map((f) => ({ name: f, schedule: '0 3 * * 1', last_run: { id: run.id, status: 'succeeded' } })),
      datasets: [{ name: 'exams', flow: 'permis', rows: 1200, freshness: { state: 'stale' } }],
      models: [{ model: 'm', flow: 'permis', metrics: { auc: 0.91 }, created_at: now }],
      production: u.status === 'production' ? [{ flow: 'permis', environment: 'warehouse', release: 3, tag: 'permis/3', git_commit: 'abcdef0123456789', since: ago(5000), promoted_by: 'jeanne', gates: [{ name: 'committed', passed: true, detail: '' }] }] : [],
      last_runs: [{ ...run, flow: 'permis' }], next_runs: [{ flow: 'permis', environment: 'warehouse', at: now, paused }] }];
  }
  if (p[0] === 'search') {
    const q = (url.searchParams.get('q') || '').toLowerCase();
    const items = [];
    for (const d of ['exams', 'exams_raw', 'centre_rates']) if (d.includes(q)) items.push({ kind: 'dataset', ref: d, title: d, exact: d === q, snippet: '' });
    for (const u of usecases) if (u.title.toLowerCase().includes(q)) items.push({ kind: 'usecase', ref: u.id, title: u.title, exact: u.id === q, snippet: u.summary || '' });
    items.sort((a, b) => b.exact - a.exact);
    return [200, { items }];
  }
  if (p[0] === 'flows' && p.length === 2) return [200, flowGraph(p[1])];
  if (p[0] === 'flows' && p[2] === 'recipes') return [200, { flow: p[1], name: p[3], kind: 'clean', inputs: ['exams_raw'], outputs: ['exams'], params: { where: 'x > 1' }, code: { file: 'recipes/x.lua', language: 'lua', text: 'return "<b>"' }, history: [{ run_id: run.id, status: 'succeeded', started_at: now, duration_ms: 12, rows_in: 3, rows_out: 2 }] }];
  if (p[0] === 'flows' && p[2] === 'runs' && method === 'POST') return [202, { run_id: null, accepted: true, flow: p[1], environment: 'datalab' }];
  if (p[0] === 'flows' && p[2] === 'runs') return [200, { items: [run], next_cursor: null }];
  if (p[0] === 'runs' && p[2] === 'logs') return [200, { items: [{ recipe: 'permis/clean_exams', line: 1, text: 'read 10 rows <script>' }], next_cursor: null }];
  if (p[0] === 'runs') return [200, run];
  if (p[0] === 'datasets') {
    const d = p[1];
    if (!p[2]) return [200, { name: d, environment: 'datalab', flow: 'permis', recipe: 'clean_exams', columns: [{ name: 'centre_id', type: 'utf8', tags: ['id'] }, { name: 'rate', type: 'float64', tags: [] }], current: { version_id: 'v123456789abcdef', rows: 3, created_at: now, run_id: run.id }, freshness: { state: 'stale', reason: 'input exams_raw changed', updated_at: now } }];
    if (p[2] === 'preview') return [200, { version_id: 'v1', columns: [{ name: 'centre_id' }, { name: 'rate' }], rows: [['75001', 0.5], ['<img src=x onerror=alert(3)>', null]], total_rows: 2 }];
    if (p[2] === 'stats') return [200, { rows: 2, columns: [{ name: 'rate', type: 'float64', nulls: 1, distinct: 1, min: 0.5, max: 0.5, histogram: { edges: [0, 0.5, 1], counts: [0, 1] } }, { name: 'centre_id', type: 'utf8', nulls: 0, distinct: 2, min: '7', max: '<', histogram: null, top: [{ value: '75001', count: 1 }] }] }];
    if (p[2] === 'versions') return [200, { items: [{ version_id: 'v123456789abcdef', rows: 3, created_at: now, run_id: run.id, current: true }], next_cursor: null }];
    if (p[2] === 'checks') return [200, { items: [{ run_id: run.id, recipe: 'check_exams', finished_at: now, status: 'succeeded', metrics: { rows: 3 } }], next_cursor: null }];
    if (p[2] === 'lineage') return [200, { dataset: d, nodes: [{ name: 'exams_raw', depth: -1, recipe: 'clean_exams' }, { name: 'centre_rates', depth: 1, recipe: 'rates' }], edges: [], truncated: url.searchParams.get('depth') === '1' }];
    if (p[2] === 'columns') return [200, { dataset: d, column: p[3], sources: [{ dataset: 'exams_raw', column: p[3], transform: 'identity' }], consumers: [] }];
    if (p[2] === 'why-stale') return [200, { dataset: d, state: 'stale', reasons: [{ recipe: 'clean_exams', reason: 'input exams_raw has a new version' }], changed_inputs: [{ dataset: 'exams_raw', current_version: 'bbbb', used_version: 'aaaa' }], failed_upstream: [], next_run: null }];
  }
  if (p[0] === 'production') return [200, { environment: 'warehouse', flows: [{ flow: 'permis', usecase: 'fraude-examens-permis', release: { number: 3, tag: 'permis/3', since: now }, schedule: { cron: '0 3 * * 1', timezone: 'Europe/Paris', paused, next_run: now }, last_run: { id: run.id, status: 'failed' }, late: true }], failed: [{ flow: 'permis', run_id: run.id, finished_at: now, error: 'x' }], late: [] }];
  if (p[0] === 'schedules') { paused = p[2] === 'pause'; return [200, { flow: p[1], paused }]; }
  return [404, { error: { code: 'not_found', message: 'no route' } }];
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const headers = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff' };
  if (url.pathname.startsWith('/api/')) {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      let body = {};
      try { body = raw ? JSON.parse(raw) : {}; } catch { /* empty */ }
      const [status, data, extra] = api(req.method, url.pathname, url, body, req);
      res.writeHead(status, { ...headers, ...(extra || {}), 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(data));
    });
    return;
  }
  let rel = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
  if (rel.startsWith('/dsfr/') && process.env.DEV_THEME !== 'dsfr') rel = '/missing.css';
  let file = join(root, rel);
  if (!extname(rel)) file = join(root, 'index.html');
  if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, headers);
    res.end('not found');
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
  res.end(readFileSync(file));
}).listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${port}/`));
