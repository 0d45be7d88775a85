// Themes. Default: our own neutral CSS (app.css), light or dark (a user preference kept in
// localStorage). The French state's design system (DSFR) is loaded only when the server's
// /api/config says theme "dsfr": its stylesheet lives apart from the bundle (/dsfr/).
const CONTRAST_KEY = 'alambic.contrast';

export function currentContrast() {
  try {
    return localStorage.getItem(CONTRAST_KEY) === 'dark' ? 'dark' : 'light';
  } catch {
    return 'light';
  }
}

export function applyContrast(value) {
  document.documentElement.dataset.contrast = value;
  try {
    localStorage.setItem(CONTRAST_KEY, value);
  } catch {
    /* not persisted */
  }
}

export function applyServerTheme(theme) {
  if (theme !== 'dsfr') return;
  if (document.getElementById('dsfr-css')) return;
  const link = document.createElement('link');
  link.id = 'dsfr-css';
  link.rel = 'stylesheet';
  link.href = '/dsfr/dsfr.min.css';
  document.head.appendChild(link);
  document.documentElement.dataset.theme = 'dsfr';
  document.documentElement.dataset.frScheme = 'light';
}

applyContrast(currentContrast());
