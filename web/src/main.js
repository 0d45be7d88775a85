// Alambic's web UI: one page application over the JSON API (docs/api.md), routed by the
// History API. Everything from the server is rendered as text by preact.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { t, currentLang, setLang } from './i18n.js';
import { get, post, setCsrfToken, setUnauthorizedHandler } from './api.js';
import { match, navigate, onNavigate, linkHandler } from './router.js';
import { applyContrast, applyServerTheme, currentContrast } from './theme.js';
import { LoginPage } from './pages/login.js';
import { HomePage } from './pages/home.js';
import { SearchPage } from './pages/search.js';
import { UseCasePage } from './pages/usecase.js';
import { FlowPage, RecipePage } from './pages/flow.js';
import { RunPage } from './pages/run.js';
import { DatasetPage } from './pages/dataset.js';
import { ProductionPage } from './pages/production.js';

function Header({ me, config, lang, onLang, contrast, onContrast, onLogout }) {
  const [q, setQ] = useState(new URLSearchParams(location.search).get('q') || '');
  return html`<header class="top" role="banner">
    <a class="skip" href="#main">${t('skip')}</a>
    <div class="bar">
      <a class="brand" href="/">Alambic${config && config.workspace ? html` <span class="ws">${config.workspace}</span>` : ''}</a>
      ${me &&
      html`<nav aria-label=${t('nav.main')}><ul>
        <li><a href="/" aria-current=${location.pathname === '/' ? 'page' : undefined}>${t('nav.catalog')}</a></li>
        <li><a href="/production" aria-current=${location.pathname === '/production' ? 'page' : undefined}>${t('nav.production')}</a></li>
      </ul></nav>
      <form role="search" class="search" onSubmit=${(e) => {
        e.preventDefault();
        if (q.trim()) navigate(`/search?q=${encodeURIComponent(q.trim())}`);
      }}>
        <label for="global-search" class="sr-only">${t('search.label')}</label>
        <input id="global-search" type="search" placeholder=${t('search.placeholder')} value=${q} onInput=${(e) => setQ(e.currentTarget.value)} />
        <button type="submit">${t('search.submit')}</button>
      </form>`}
      <div class="prefs">
        <button type="button" id="lang-switch" lang=${lang === 'fr' ? 'en' : 'fr'} onClick=${() => onLang(lang === 'fr' ? 'en' : 'fr')}>${t('lang.switch')}</button>
        ${(!config || config.theme !== 'dsfr') &&
        html`<button type="button" id="contrast-switch" aria-pressed=${contrast === 'dark'} onClick=${() => onContrast(contrast === 'dark' ? 'light' : 'dark')}>${t('theme.dark')}</button>`}
        ${me && html`<span class="who">${me.user} <span class="badge neutral">${t(`role.${me.role}`)}</span></span>
          <button type="button" id="logout" onClick=${onLogout}>${t('logout')}</button>`}
      </div>
    </div>
  </header>`;
}

function Page({ route, me, onLoggedIn, search }) {
  const p = route.params;
  switch (route.name) {
    case 'login':
      return html`<${LoginPage} onLoggedIn=${onLoggedIn} />`;
    case 'home':
      return html`<${HomePage} />`;
    case 'search':
      return html`<${SearchPage} search=${search} />`;
    case 'usecase':
      return html`<${UseCasePage} key=${p[0]} id=${p[0]} />`;
    case 'flow':
      return html`<${FlowPage} key=${p[0]} flow=${p[0]} me=${me} />`;
    case 'recipe':
      return html`<${RecipePage} key=${p.join('/')} flow=${p[0]} recipe=${p[1]} />`;
    case 'run':
      return html`<${RunPage} key=${p[0]} id=${p[0]} />`;
    case 'dataset':
      return html`<${DatasetPage} key=${p[0]} name=${p[0]} />`;
    case 'production':
      return html`<${ProductionPage} me=${me} />`;
    default:
      return html`<h1>${t('notfound')}</h1><p><a href="/">${t('nav.catalog')}</a></p>`;
  }
}

function titleOf(route) {
  const name = route.params[route.params.length - 1];
  const base = {
    login: t('login.title'), home: t('home.title'), search: t('search.label'), production: t('prod.title'),
    usecase: name, flow: name, recipe: name, run: name, dataset: name,
  }[route.name];
  return `${base || t('notfound')} — Alambic`;
}

function App() {
  const [config, setConfig] = useState(null);
  const [me, setMe] = useState(undefined); // undefined: asking; null: not logged in
  const [path, setPath] = useState(location.pathname + location.search);
  const [lang, setLangState] = useState(currentLang());
  const [contrast, setContrast] = useState(currentContrast());

  useEffect(() => {
    document.documentElement.lang = lang;
    get('/config').then((r) => {
      if (r.ok) {
        setConfig(r.data);
        applyServerTheme(r.data.theme);
      }
    });
    setUnauthorizedHandler(() => {
      setMe(null);
      if (location.pathname !== '/login') navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    });
    get('/me').then((r) => {
      if (r.ok) {
        setCsrfToken(r.data.csrf_token);
        setMe(r.data);
      } else setMe(null);
    });
    return onNavigate((p, s) => setPath(p + s));
  }, []);

  const route = match(location.pathname);
  const firstPage = useRef(true);
  useEffect(() => {
    document.title = titleOf(route);
    // After a navigation inside the app (not on the first page load, where the skip link
    // comes first), move the focus to the content, for keyboard and screen-reader users.
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    const main = document.getElementById('main');
    if (main) main.focus({ preventScroll: true });
  }, [path]);
  useEffect(() => {
    document.title = titleOf(route);
  }, [lang, route.name]);

  function onLoggedIn(data) {
    setCsrfToken(data.csrf_token);
    setMe(data);
    const next = new URLSearchParams(location.search).get('next');
    navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
  }
  async function onLogout() {
    await post('/logout');
    setMe(null);
    setCsrfToken('');
    navigate('/login', { replace: true });
  }
  function onLang(next) {
    setLang(next);
    setLangState(next);
  }
  function onContrast(next) {
    applyContrast(next);
    setContrast(next);
  }

  let body;
  if (me === undefined) body = html`<p class="muted" role="status">${t('loading')}</p>`;
  else if (me === null || route.name === 'login') body = html`<${LoginPage} onLoggedIn=${onLoggedIn} />`;
  else body = html`<${Page} route=${route} me=${me} onLoggedIn=${onLoggedIn} search=${path} />`;

  return html`<div onClick=${linkHandler}>
    <${Header} me=${me} config=${config} lang=${lang} onLang=${onLang} contrast=${contrast} onContrast=${onContrast} onLogout=${onLogout} />
    <main id="main" tabindex="-1" key=${lang}>${body}</main>
    <footer role="contentinfo"><p>Alambic ${config ? config.version : ''}</p></footer>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
