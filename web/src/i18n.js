// Two message catalogs (i18n/fr.js, i18n/en.js): French by default, English by the
// switch in the header, kept in localStorage. t('key', {n: 3}) fills {n}.
import fr from './i18n/fr.js';
import en from './i18n/en.js';

export const catalogs = { fr, en };
const STORAGE_KEY = 'alambic.lang';

function initial() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved && catalogs[saved]) return saved;
  } catch {
    /* storage disabled: French */
  }
  return 'fr';
}

let lang = initial();

export function currentLang() {
  return lang;
}

export function setLang(next) {
  if (!catalogs[next]) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* not persisted */
  }
  document.documentElement.lang = next;
}

export function t(key, params) {
  let s = catalogs[lang][key];
  if (s === undefined) s = catalogs.fr[key] !== undefined ? catalogs.fr[key] : key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  return s;
}

export function formatDate(value) {
  if (!value) return '—';
  const d = new Date(typeof value === 'number' && value < 1e12 ? value * 1000 : value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function formatNumber(value) {
  if (value === null || value === undefined || value === '') return '—';
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return n.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', { maximumFractionDigits: 4 });
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}
