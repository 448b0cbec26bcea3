// Search (PROTOCOL.md 5.5) over every room the user reads: results newest first with the
// snippet's matches highlighted (text nodes and <mark>, never markup from the hub), the room and
// the date; a result opens its room at the note (history loaded down to it, the note flashed);
// 「さらに表示」 pages on.
import { t, profession } from '../i18n.js';
import { fullTime } from '../format.js';
import { townApi } from '../townapi.js';
import { Dialog, errorText } from './dialog.js';
import { el } from './dom.js';

const PAGE = 20;
const MIN_Q = 2;
const MAX_Q = 100;

function codePoints(s) { return [...s].length; }

/**
 * The snippet as nodes: text, with <mark> around each match. When the hub marks the matches
 * itself (`<mark>…</mark>` or U+E000…U+E001 in the snippet text) those are used; otherwise every
 * occurrence of the query's words is marked. The snippet is only ever text here.
 */
export function highlight(snippet, q) {
  const out = [];
  const openTok = snippet.includes('<mark>') ? '<mark>' : snippet.includes('\ue000') ? '\ue000' : null;
  if (openTok) {
    const closeTok = openTok === '<mark>' ? '</mark>' : '\ue001';
    let rest = snippet;
    while (rest) {
      const i = rest.indexOf(openTok);
      if (i < 0) { out.push(document.createTextNode(rest)); break; }
      if (i > 0) out.push(document.createTextNode(rest.slice(0, i)));
      rest = rest.slice(i + openTok.length);
      const j = rest.indexOf(closeTok);
      const marked = j < 0 ? rest : rest.slice(0, j);
      const m = document.createElement('mark');
      m.textContent = marked;
      out.push(m);
      rest = j < 0 ? '' : rest.slice(j + closeTok.length);
    }
    return out;
  }
  const words = q.split(/[\s\u3000]+/u).filter(Boolean).map((w) => w.toLocaleLowerCase());
  const lower = snippet.toLocaleLowerCase();
  let pos = 0;
  while (pos < snippet.length) {
    let best = -1;
    let len = 0;
    for (const w of words) {
      const i = lower.indexOf(w, pos);
      if (i >= 0 && (best < 0 || i < best || (i === best && w.length > len))) { best = i; len = w.length; }
    }
    if (best < 0 || lower.length !== snippet.length) {
      // No more matches (or case folding changed the length: no safe offsets): the rest as text.
      out.push(document.createTextNode(snippet.slice(pos)));
      break;
    }
    if (best > pos) out.push(document.createTextNode(snippet.slice(pos, best)));
    const m = document.createElement('mark');
    m.textContent = snippet.slice(best, best + len);
    out.push(m);
    pos = best + len;
  }
  return out;
}

export class SearchView {
  constructor(ctx) {
    this.ctx = ctx;
    this.d = new Dialog('search-dialog', { wide: true });
    this.q = '';
    this.results = [];
    this.more = false;
    this.busy = false;
  }

  /** The search box at the top of the room list. */
  form() {
    const input = el('input', { type: 'search', id: 'search-input', maxlength: MAX_Q, autocomplete: 'off', enterkeyhint: 'search' });
    input.placeholder = t('tt_search_ph');
    const err = el('p', { class: 'form-error', id: 'search-error', role: 'alert' });
    input.setAttribute('aria-describedby', err.id);
    const btn = el('button', { type: 'submit', class: 'btn-secondary' }, t('tt_search'));
    const f = el('form', { class: 'search-form', role: 'search', novalidate: true },
      el('label', { for: 'search-input', class: 'sr-only' }, t('tt_search_label')), input, btn, err);
    input.addEventListener('input', () => { err.textContent = ''; });
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const q = input.value.trim();
      const n = codePoints(q);
      if (n < MIN_Q || n > MAX_Q) { err.textContent = t('tt_search_len', { min: MIN_Q, max: MAX_Q }); input.focus(); return; }
      err.textContent = '';
      this.start(q, btn);
    });
    return f;
  }

  async start(q, trigger) {
    this.q = q;
    this.results = [];
    this.more = false;
    this.error = '';
    this.list = el('ol', { class: 'search-results' });
    this.state = el('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.moreBtn = el('button', { type: 'button', class: 'btn-secondary', hidden: true }, t('tt_more'));
    this.moreBtn.addEventListener('click', () => this.page());
    this.d.body.replaceChildren(this.state, this.list, el('div', { class: 'form-actions' }, this.moreBtn));
    this.d.show(t('tt_search_title', { q }), trigger);
    await this.page();
    this.list.querySelector('button')?.focus();
  }

  async page() {
    if (this.busy) return;
    this.busy = true;
    this.state.textContent = t('loading');
    this.moreBtn.disabled = true;
    const q = this.q;
    try {
      const last = this.results.at(-1);
      const before = last ? (this.cursor ?? last.message.id) : undefined;
      const rep = await townApi.search(this.ctx.token(), { q, before, limit: PAGE });
      if (q !== this.q) return;
      this.cursor = rep.next ?? rep.before ?? null;
      const fresh = (rep.results ?? []).filter((x) => !this.results.some((y) => y.message.id === x.message.id));
      this.results.push(...fresh);
      this.more = !!rep.more && fresh.length > 0;
      this.list.append(...fresh.map((x) => this.item(x)));
      this.state.textContent = this.results.length ? t('tt_search_count', { n: this.results.length, more: this.more ? '+' : '' }) : t('tt_search_none', { q });
    } catch (e) {
      this.state.textContent = errorText(e);
    } finally {
      this.busy = false;
      this.moreBtn.hidden = !this.more;
      this.moreBtn.disabled = false;
    }
  }

  item(x) {
    const m = x.message;
    const r = this.ctx.store.rooms.get(m.room);
    const roomName = r ? this.ctx.displayName(r) : m.room;
    const btn = el('button', { type: 'button', class: 'search-hit', 'data-room': m.room, 'data-seq': m.seq },
      el('span', { class: 'hit-head' },
        el('span', { class: 'hit-room' }, roomName),
        el('time', { class: 'hit-time', datetime: m.at }, fullTime(m.at))),
      el('span', { class: 'hit-author' }, `${m.author.name} · ${profession(m.author.profession)}`),
      el('span', { class: 'hit-snippet' }, ...highlight(x.snippet || m.body, this.q)));
    btn.addEventListener('click', () => {
      this.d.close();
      this.ctx.jumpTo(m.room, m.seq);
    });
    return el('li', {}, btn);
  }
}
