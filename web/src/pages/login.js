import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { t } from '../i18n.js';
import { post } from '../api.js';

export function LoginPage({ onLoggedIn }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    const r = await post('/login', { user, password });
    setBusy(false);
    if (!r.ok) {
      setError(r.status === 429 ? t('login.rate_limited') : r.status === 401 ? t('login.bad_credentials') : r.error);
      return;
    }
    onLoggedIn(r.data);
  }
  return html`<div class="login">
    <h1>${t('login.title')}</h1>
    <form onSubmit=${submit} class="card">
      ${error && html`<p class="error" role="alert" id="login-error">${error}</p>`}
      <label for="login-user">${t('login.user')}</label>
      <input id="login-user" name="user" autocomplete="username" required value=${user}
             onInput=${(e) => setUser(e.currentTarget.value)} />
      <label for="login-password">${t('login.password')}</label>
      <input id="login-password" name="password" type="password" autocomplete="current-password" required
             value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} />
      <button type="submit" disabled=${busy}>${t('login.submit')}</button>
    </form>
  </div>`;
}
