// Search (PROTOCOL.md 5.5) over every room the user reads: results newest first with the
// snippet's matches highlighted (text nodes and <mark>, never markup from the hub), the room and
// the date; a result opens its room at the note (history loaded down to it, the note flashed);
// 「さらに表示」 pages on.
import { t, profession } from '../i18n.js';
import { fullTime } from '../format.js';
import { townApi } from '../townapi.js';
import { Dialog, errorText } from './dialog.js';
import { el } from './dom.js';

const PAGE = 20; // the hub gives 20 by default, at most 50
const MIN_Q = 2;
const MAX_Q = 100;

function codePoints(s) { return [...s].length; }

const mark = (text) => { const m = document.createElement('mark'); m.textContent = text; return m; };

/**
 * The snippet as nodes: text, with <mark> around each match. The hub gives the matched ranges
 * (`highlights`: [start, end) in code points); without them every occurrence of the query's
 * words is marked. The snippet is only ever text here, never markup.
 */
export function highlight(snippet, q, highlights) {
  const out = [];
  if (Array.isArray(highlights) && highlights.length) {
    const cps = [...snippet];
    let pos = 0;
    const ranges = highlights.filter((h) => Array.isArray(h) && h[0] < h[1]).sort((a, b) => a[0] - b[0]);
    for (const [s, e] of ranges) {
      const start = Math.max(pos, Math.min(s, cps.length));
      const end = Math.min(e, cps.length);
      if (end <= start) continue;
      if (start > pos) out.push(document.createTextNode(cps.slice(pos, start).join('')));
      out.push(mark(cps.slice(start, end).join('')));
      pos = end;
    }
    if (pos < cps.length) out.push(document.createTextNode(cps.slice(pos).join('')));
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
    out.push(mark(snippet.slice(best, best + len)));
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
      // The hub looks each word up in a two-character index: every word has two or more.
      const short = q.split(/[\s\u3000]+/u).some((w) => codePoints(w) < MIN_Q);
      if (n < MIN_Q || n > MAX_Q || short) { err.textContent = t('tt_search_len', { min: MIN_Q, max: MAX_Q }); input.focus(); return; }
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
      const before = last ? last.message.id : undefined; // the id of the oldest result so far
      const rep = await townApi.search(this.ctx.token(), { q, before, limit: PAGE });
      if (q !== this.q) return;
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
      el('span', { class: 'hit-snippet' }, ...(x.snippet ? highlight(x.snippet, this.q, x.highlights) : highlight(m.body, this.q))));
    btn.addEventListener('click', () => {
      this.d.close();
      this.ctx.jumpTo(m.room, m.seq);
    });
    return el('li', {}, btn);
  }
}
