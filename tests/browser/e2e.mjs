// The browser end-to-end test of the web UI (CTest: web_browser_e2e, driven by run.sh).
//   node e2e.mjs BASE_URL ARTIFACT_DIR
// Environment: E2E_ENGINEER / E2E_VIEWER ("user:password"), E2E_FLOW (the example's flow),
// E2E_DATASET (a built dataset), E2E_STALE (a dataset made stale by run.sh), E2E_USECASE,
// E2E_BIG_FLOW (a generated 2,000-recipe flow), CHROMIUM (default /usr/bin/chromium).
// Debian's chromium, launched with the flags that keep it off the network; never a
// downloaded browser. Every page gets an axe-core scan (no serious or critical violation),
// and a screenshot in ARTIFACT_DIR.
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, artifacts] = process.argv.slice(2);
if (!base || !artifacts) {
  console.error('usage: node e2e.mjs BASE_URL ARTIFACT_DIR');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });
const env = (k, d) => process.env[k] || d;
const [engUser, engPass] = env('E2E_ENGINEER', 'engineer:engineer').split(':');
const [viewUser, viewPass] = env('E2E_VIEWER', 'viewer:viewer').split(':');
const FLOW = env('E2E_FLOW', 'permis');
const DATASET = env('E2E_DATASET', 'exams');
const STALE = env('E2E_STALE', 'exams_raw');
const USECASE = env('E2E_USECASE', 'fraude-examens-permis');
const BIG = env('E2E_BIG_FLOW', '');
const HOSTILE = env('E2E_HOSTILE_TITLE', '<img src=x onerror=alert(1)>');

const failures = [];
const axeSummary = [];
let step = '';
function check(cond, msg) {
  if (!cond) {
    failures.push(`${step}: ${msg}`);
    console.log(`  FAIL ${msg}`);
  }
}
async function section(name, fn) {
  step = name;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures.push(`${name}: ${e.message.split('\n')[0]}`);
    console.log(`FAIL ${name}: ${e.message.split('\n').slice(0, 3).join(' | ')}`);
  }
}

// playwright-core gives chromium a fresh --user-data-dir of its own (a temporary profile,
// removed at close); passing one ourselves is refused outside a persistent context.
const browser = await chromium.launch({
  executablePath: env('CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
  timeout: 30000,
});

// A page that records console errors (CSP violations among them), uncaught errors and dialogs.
async function newPage() {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    page.problems.push(`dialog opened: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return page;
}

async function axe(page, name) {
  // The rules of WCAG 2.0 and 2.1, levels A and AA (what RGAA 4 refers to).
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  for (const v of r.violations) console.log(`     axe ${name}: ${v.impact} ${v.id} (${v.nodes.length})`);
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  axeSummary.push(`${name}: ${r.violations.length} violations (${bad.length} serious/critical), ${r.passes.length} rules passed`);
  for (const v of bad) check(false, `axe ${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join('; ')}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function login(page, user, password) {
  await page.goto('/');
  await page.waitForSelector('#login-user');
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('form button[type=submit]');
  await page.waitForSelector('h1:has-text("Catalogue")');
}

const eng = await newPage();

await section('login page: wrong password refused, then logged in', async () => {
  await eng.goto('/');
  await eng.waitForSelector('#login-user');
  check(/\/login/.test(eng.url()), `not sent to /login: ${eng.url()}`);
  check((await eng.getAttribute('html', 'lang')) === 'fr', 'the page is not French by default');
  await axe(eng, 'login');
  await shot(eng, '01-login');
  await eng.fill('#login-user', engUser);
  await eng.fill('#login-password', `${engPass}-wrong`);
  await eng.click('form button[type=submit]');
  await eng.waitForSelector('#login-error');
  await eng.fill('#login-password', engPass);
  await eng.click('form button[type=submit]');
  await eng.waitForSelector('h1:has-text("Catalogue")');
});

await section('catalog: cards, counts, filters, hostile title as text', async () => {
  await eng.waitForSelector('.usecase-card');
  const cards = await eng.locator('.usecase-card').count();
  // Keyboard: on a fresh page the first Tab reaches the skip link, which leads to the content.
  await eng.reload();
  await eng.waitForSelector('.usecase-card');
  await eng.keyboard.press('Tab');
  check(await eng.evaluate(() => document.activeElement.classList.contains('skip')), 'the first Tab does not reach the skip link');
  await eng.keyboard.press('Enter');
  check(await eng.evaluate(() => document.activeElement.id === 'main'), 'the skip link does not move the focus to the content');
  check(cards >= 2, `expected at least 2 cards, got ${cards}`);
  const hostile = eng.locator('.usecase-card h2', { hasText: HOSTILE });
  check((await hostile.count()) === 1, 'the hostile title is not shown as text');
  check((await eng.locator('img[src="x"], main img').count()) === 0, 'an <img> was injected');
  await axe(eng, 'catalog');
  await shot(eng, '02-catalog');
  // Filter by a status from the counts bar (one that holds some cards but not all):
  // only cards of that status remain, and the URL says so.
  let chosen = '';
  let count = 0;
  for (const st of ['idea', 'poc', 'preprod', 'production', 'abandoned']) {
    const n = Number(await eng.locator(`.counts button[data-status="${st}"] .count`).textContent());
    if (n >= 1 && n < cards) {
      chosen = st;
      count = n;
      break;
    }
  }
  check(chosen !== '', 'no status count between 1 and the number of cards');
  await eng.click(`.counts button[data-status="${chosen}"]`);
  await eng.waitForFunction((n) => document.querySelectorAll('.usecase-card').length === n, count);
  check(new URL(eng.url()).searchParams.get('status') === chosen, `the filter is not in the URL: ${eng.url()}`);
  const pocCount = count;
  // The URL is stable: reloading keeps the filter.
  await eng.reload();
  await eng.waitForSelector('.usecase-card');
  check((await eng.locator('.usecase-card').count()) === pocCount, 'the filter was lost on reload');
  check((await eng.locator('.usecase-card .meta .badge').first().textContent()) === (await eng.locator(`.counts button[data-status="${chosen}"]`).textContent()).replace(/\s*\d+$/, '').trim(), 'a card of another status is shown');
  await eng.selectOption('#f-status', '');
  await eng.waitForFunction((n) => document.querySelectorAll('.usecase-card').length === n, cards);
  await eng.selectOption('#f-tag', 'permis');
  await eng.waitForFunction((n) => document.querySelectorAll('.usecase-card').length < n, cards);
  const tagged = await eng.locator('.usecase-card').count();
  check(tagged < cards, `tag filter kept ${tagged} of ${cards}`);
  await eng.selectOption('#f-tag', '');
});

await section('search: exact name first', async () => {
  await eng.fill('#global-search', DATASET);
  await eng.press('#global-search', 'Enter');
  await eng.waitForSelector('.hits li');
  const first = (await eng.locator('.hits li a').first().textContent()).trim();
  check(first === DATASET, `first hit is ${first}, not ${DATASET}`);
  check((await eng.locator('.hits li').first().getAttribute('class')).includes('exact'), 'first hit not marked exact');
  await axe(eng, 'search');
  await shot(eng, '03-search');
});

await section('use case: production state within two clicks of home', async () => {
  await eng.goto('/');
  await eng.waitForSelector('.usecase-card');
  const card = eng.locator('.usecase-card', { has: eng.locator(`a[href="/usecases/${encodeURIComponent(USECASE)}"]`) });
  await card.locator('a.quick').click(); // click 1: straight to the production section
  await eng.waitForSelector('#production');
  check(new URL(eng.url()).pathname === `/usecases/${USECASE}`, `at ${eng.url()}`);
  for (const id of ['production', 'about', 'history', 'flows', 'datasets', 'runs', 'audit']) {
    check((await eng.locator(`section h2#${id}`).count()) === 1, `section ${id} missing`);
  }
  await axe(eng, 'usecase');
  await shot(eng, '04-usecase');
});

await section('flow graph: laid out in the worker, nodes are keyboard links', async () => {
  await eng.click(`section:has(#flows) a[href="/flows/${encodeURIComponent(FLOW)}"]`);
  await eng.waitForSelector('svg.graph[data-ready]', { timeout: 20000 });
  const nodes = await eng.locator('svg.graph a[data-node]').count();
  check(nodes >= 5, `only ${nodes} nodes drawn`);
  // Keyboard: the first node link takes the focus with Tab and is visible.
  await eng.locator('svg.graph a[data-node]').first().focus();
  check(await eng.evaluate(() => document.activeElement && document.activeElement.matches('svg.graph a[data-node]')), 'a node cannot take the focus');
  await axe(eng, 'flow');
  await shot(eng, '05-flow');
  const recipe = eng.locator('svg.graph a[data-node^="recipe:"]').first();
  const name = (await recipe.getAttribute('data-node')).slice('recipe:'.length);
  await recipe.click();
  await eng.waitForSelector('section h2#params');
  check((await eng.locator('h1').textContent()).includes(name), `recipe page is not ${name}`);
  check((await eng.locator('pre.code').first().textContent()).length > 2, 'no params shown');
  await axe(eng, 'recipe');
  await shot(eng, '06-recipe');
});

await section('dataset: preview, stats, lineage', async () => {
  await eng.goto(`/datasets/${encodeURIComponent(DATASET)}`);
  await eng.waitForSelector('table.preview tbody tr');
  check((await eng.locator('table.preview tbody tr').count()) > 0, 'empty preview');
  await eng.waitForSelector('#stats ~ * tbody tr, section:has(#stats) tbody tr');
  await axe(eng, 'dataset');
  await shot(eng, '07-dataset');
});

await section('why is this dataset stale', async () => {
  await eng.goto(`/datasets/${encodeURIComponent(STALE)}`);
  await eng.click('#why-stale');
  await eng.waitForSelector('#why-stale-answer');
  const text = await eng.locator('#why-stale-answer').textContent();
  check(/périmé/.test(text), `the answer does not say stale: ${text.slice(0, 200)}`);
  check((await eng.locator('#why-stale-answer li').count()) >= 1, 'no reason listed');
  await axe(eng, 'why-stale');
  await shot(eng, '08-why-stale');
});

await section('engineer triggers a run (CSRF header), sees it in the runs', async () => {
  await eng.goto(`/flows/${encodeURIComponent(FLOW)}`);
  await eng.waitForSelector('#trigger-run');
  const before = await eng.locator('#flow-runs ~ * tbody tr, section:has(#flow-runs) tbody tr').count();
  const [resp] = await Promise.all([
    eng.waitForResponse((r) => r.url().endsWith(`/api/flows/${encodeURIComponent(FLOW)}/runs`) && r.request().method() === 'POST'),
    eng.click('#trigger-run'),
  ]);
  check(resp.status() === 202, `trigger answered ${resp.status()}`);
  check(!!resp.request().headers()['x-csrf-token'], 'no X-CSRF-Token sent');
  const accepted = await resp.json();
  check(typeof accepted.run_id === 'string' && accepted.run_id.length > 0, `the trigger gave no run id: ${JSON.stringify(accepted)}`);
  await eng.waitForSelector('.actions [role=status]');
  // The run appears in the flow's runs (it starts in the background).
  let after = before;
  for (let i = 0; i < 40 && after <= before; i++) {
    await eng.waitForTimeout(250);
    await eng.click('section:has(#flow-runs) button.link');
    await eng.waitForTimeout(100);
    after = await eng.locator('section:has(#flow-runs) tbody tr').count();
  }
  check(after > before, `no new run listed (${before} → ${after})`);
  // Without the header, the same request is refused.
  const noCsrf = await eng.evaluate(async (f) => (await fetch(`/api/flows/${encodeURIComponent(f)}/runs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status, FLOW);
  check(noCsrf === 403, `a POST without CSRF token answered ${noCsrf}`);
  await eng.locator('section:has(#flow-runs) tbody tr a').first().click();
  await eng.waitForSelector('section h2#gantt');
  await eng.waitForSelector('.gantt svg, #gantt ~ p');
  await axe(eng, 'run');
  await shot(eng, '09-run');
});

await section('production page', async () => {
  await eng.goto('/production');
  await eng.waitForSelector('h1');
  await eng.waitForSelector('section h2#prod-flows');
  await axe(eng, 'production');
  await shot(eng, '10-production');
});

await section('language and theme switches, persisted', async () => {
  await eng.goto('/');
  await eng.waitForSelector('.usecase-card');
  await eng.click('#lang-switch');
  await eng.waitForSelector('h1:has-text("Use-case catalog")');
  check((await eng.getAttribute('html', 'lang')) === 'en', 'lang attribute not switched');
  await eng.reload();
  await eng.waitForSelector('h1:has-text("Use-case catalog")');
  await eng.click('#contrast-switch');
  check((await eng.getAttribute('html', 'data-contrast')) === 'dark', 'dark theme not applied');
  await axe(eng, 'catalog-en-dark');
  await shot(eng, '11-catalog-en-dark');
  await eng.goto(`/usecases/${encodeURIComponent(USECASE)}`);
  await eng.waitForSelector('#production');
  check((await eng.locator('h2#production').textContent()) === 'In production', 'the use case page is not in English');
  await eng.click('#contrast-switch');
  await eng.click('#lang-switch');
  await eng.waitForSelector('html[lang=fr]');
});

await section('hostile use case page renders its title as text', async () => {
  await eng.goto('/search?q=onerror');
  await eng.waitForSelector('h1');
  await eng.goto('/');
  await eng.waitForSelector('.usecase-card');
  await eng.locator('.usecase-card h2 a', { hasText: HOSTILE }).click();
  await eng.waitForSelector('h1');
  check((await eng.locator('h1').textContent()).includes(HOSTILE), 'title not rendered as text');
  check((await eng.locator('main img').count()) === 0, 'an <img> was injected');
});

if (BIG) {
  await section(`large flow (${BIG}): time to first paint and to a usable graph`, async () => {
    const t0 = Date.now();
    await eng.goto(`/flows/${encodeURIComponent(BIG)}`);
    await eng.waitForSelector('.node-list tbody tr', { timeout: 30000 });
    const listMs = Date.now() - t0;
    const paint = await eng.evaluate(() => {
      const p = performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
      return p ? Math.round(p.startTime) : -1;
    });
    const total = await eng.evaluate(() => document.querySelector('.node-list [role=status]').textContent);
    await shot(eng, '12-big-flow-list');
    const t1 = Date.now();
    const [neigh] = await Promise.all([
      eng.waitForResponse((r) => r.url().includes(`/api/flows/${encodeURIComponent(BIG)}/neighbourhood?`)),
      eng.locator('.node-list tbody tr button.link').nth(100).click(),
    ]);
    check(neigh.status() === 200, `neighbourhood answered ${neigh.status()}`);
    await eng.waitForSelector('svg.graph[data-ready]', { timeout: 30000 });
    check((await eng.locator('#graph-bounded[data-source=server]').count()) === 1, 'the large flow was not bounded by the server');
    const graphMs = Date.now() - t1;
    const ready = await eng.evaluate(() => window.__alambicGraphReady);
    const expand = eng.locator('svg.graph a.expand').first();
    let expandMs = -1;
    if (await expand.count()) {
      const before = await eng.locator('svg.graph a[data-node]').count();
      const t2 = Date.now();
      await expand.click();
      await eng.waitForFunction((n) => document.querySelectorAll('svg.graph a[data-node]').length > n, before, { timeout: 30000 });
      expandMs = Date.now() - t2;
    }
    await axe(eng, 'big-flow-graph');
    await shot(eng, '13-big-flow-graph');
    console.log(`     big flow: ${total}; first contentful paint ${paint} ms, list usable ${listMs} ms after navigation; ` +
                `neighbourhood graph (${ready.nodes} nodes, ELK in the worker ${Math.round(ready.ms)} ms) usable ${graphMs} ms after the click; expand ${expandMs} ms`);
  });
}

await section('default theme: no DSFR asset loaded or served', async () => {
  const sheets = await eng.evaluate(() => [...document.styleSheets].map((x) => x.href || 'inline'));
  check(sheets.every((h) => !/dsfr/i.test(h)), `a DSFR stylesheet is loaded: ${sheets.join(', ')}`);
  const status = (await eng.request.get('/dsfr/dsfr.min.css')).status();
  check(status === 404, `/dsfr/dsfr.min.css answered ${status} without the dsfr theme`);
});

const DSFR_URL = env('E2E_DSFR_URL', '');
if (DSFR_URL) {
  await section('DSFR theme when alambic.yaml says ui: {theme: dsfr}', async () => {
    const context = await browser.newContext({ baseURL: DSFR_URL, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => failures.push(`dsfr page error: ${e.message}`));
    await page.goto('/login');
    await page.fill('#login-user', engUser);
    await page.fill('#login-password', engPass);
    await page.click('form button[type=submit]');
    await page.waitForSelector('.usecase-card');
    await page.waitForFunction(() => getComputedStyle(document.body).fontFamily.includes('Marianne'));
    check((await page.getAttribute('html', 'data-theme')) === 'dsfr', 'the dsfr theme is not applied');
    await axe(page, 'catalog-dsfr');
    await shot(page, '15-catalog-dsfr');
    await context.close();
  });
}

const viewer = await newPage();
await section('viewer: no operate buttons, forced POST refused', async () => {
  await login(viewer, viewUser, viewPass);
  await viewer.goto(`/flows/${encodeURIComponent(FLOW)}`);
  await viewer.waitForSelector('section h2#dag');
  check((await viewer.locator('#trigger-run').count()) === 0, 'the trigger button is shown to a viewer');
  await viewer.goto('/production');
  await viewer.waitForSelector('section h2#prod-flows');
  check((await viewer.locator('button.pause, #trigger-run').count()) === 0, 'operate buttons shown to a viewer');
  const forced = await viewer.evaluate(async (f) => {
    const me = await (await fetch('/api/me')).json();
    const r = await fetch(`/api/flows/${encodeURIComponent(f)}/runs`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: '{}' });
    const p = await fetch(`/api/schedules/${encodeURIComponent(f)}/pause`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: '{}' });
    return [r.status, p.status];
  }, FLOW);
  check(forced[0] === 403 && forced[1] === 403, `a viewer's forced POSTs answered ${forced.join(', ')}`);
  await shot(viewer, '14-viewer-production');
  await viewer.click('#logout');
  await viewer.waitForSelector('#login-user');
});

for (const page of [eng, viewer]) for (const p of page.problems) failures.push(`browser: ${p}`);
await browser.close();

console.log('axe-core:');
for (const s of axeSummary) console.log(`  ${s}`);
console.log(`screenshots: ${artifacts}`);
if (failures.length) {
  console.log(`${failures.length} failure(s):`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
}
console.log('web_browser_e2e: all checks passed');
