import { html } from '../html.js';
import { t } from '../i18n.js';
import { useApi, Loading, ErrorBox, Empty, href } from '../components/common.js';
import { queryParams } from '../router.js';

// Where a hit leads: built from its kind and ref, never from a URL in the data.
function hitHref(hit) {
  if (hit.kind === 'usecase') return href.usecase(hit.ref);
  if (hit.kind === 'dataset') return href.dataset(hit.ref);
  if (hit.kind === 'column') {
    const dot = String(hit.ref).indexOf('.');
    return dot > 0 ? `${href.dataset(hit.ref.slice(0, dot))}#col-${encodeURIComponent(hit.ref.slice(dot + 1))}` : href.dataset(hit.ref);
  }
  if (hit.kind === 'flow') return href.flow(hit.ref);
  return '/';
}

export function SearchPage({ search }) {
  const q = queryParams().q || '';
  const r = useApi(q ? '/search' : null, { q, limit: 50 }, [q, search]);
  return html`<div>
    <h1>${t('search.title', { q })}</h1>
    ${!q && html`<${Empty} text=${t('search.empty_query')} />`}
    ${q && r.loading && html`<${Loading} />`}
    <${ErrorBox} error=${r.error} />
    ${r.data && (r.data.items || []).length === 0 && html`<${Empty} text=${t('search.none')} />`}
    ${r.data &&
    html`<ol class="hits">
      ${(r.data.items || []).map(
        (hit) => html`<li class=${hit.exact ? 'hit exact' : 'hit'}>
          <span class="badge neutral">${t(`kind.${hit.kind}`)}</span>
          <a href=${hitHref(hit)}>${hit.title || hit.ref}</a>
          ${hit.exact && html` <span class="badge ok">${t('search.exact')}</span>`}
          ${hit.workspace && html` <span class="muted">${hit.workspace}</span>`}
          ${hit.snippet && html`<p class="snippet">${hit.snippet}</p>`}
        </li>`
      )}
    </ol>`}
  </div>`;
}
