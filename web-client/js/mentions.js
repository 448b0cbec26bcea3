// @mentions: completion from the room's members in the composer (keyboard: arrows, Enter/Tab,
// Esc; touch and mouse: tap), the ids a body mentions (sent as `mentions`, PROTOCOL.md 5.2),
// and the mentions of a note highlighted in its text.
import { profession } from './i18n.js';
import { el } from './views/dom.js';

export const MAX_MENTIONS = 20;
const MAX_OFFERED = 8;

/** The members a body mentions (`@` + their name, as completion writes it), at most 20. */
export function mentionedIds(body, members, selfId) {
  const out = [];
  for (const m of members ?? []) {
    if (m.id === selfId || !m.name) continue;
    if (body.includes(`@${m.name}`)) out.push(m.id);
    if (out.length >= MAX_MENTIONS) break;
  }
  return out;
}

/** The body as text nodes with each `@name` of `mentions` in a <mark> (the user's own one
 *  marked as such). */
export function highlighted(body, mentions, selfId) {
  const names = (mentions ?? []).filter((m) => m.name).sort((a, b) => b.name.length - a.name.length);
  if (!names.length) return [body];
  const parts = [];
  let i = 0;
  let textStart = 0;
  while (i < body.length) {
    const hit = body[i] === '@' ? names.find((m) => body.startsWith(m.name, i + 1)) : null;
    if (hit) {
      if (i > textStart) parts.push(body.slice(textStart, i));
      parts.push(el('mark', { class: `mention${hit.id === selfId ? ' mention-me' : ''}`, 'data-user': hit.id }, `@${hit.name}`));
      i += 1 + hit.name.length;
      textStart = i;
    } else {
      i += 1;
    }
  }
  if (textStart < body.length) parts.push(body.slice(textStart));
  return parts;
}

const fold = (s) => s.normalize('NFKC').replace(/\s+/g, '').toLowerCase();

/**
 * Completion for one textarea. `members()` gives the open room's members (or null), `selfId()`
 * the signed-in user. The list is a listbox under the textarea's control (aria-controls,
 * aria-activedescendant); keydown() must run before the composer's own Enter handling.
 */
export class MentionCompleter {
  constructor({ input, list, members, selfId, onPick }) {
    this.input = input;
    this.list = list;
    this.members = members;
    this.selfId = selfId;
    this.onPick = onPick;
    this.items = [];
    this.active = 0;
    this.at = -1; // index of the '@' being completed
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', list.id);
    input.setAttribute('aria-expanded', 'false');
    list.setAttribute('role', 'listbox');
    input.addEventListener('input', () => this.update());
    input.addEventListener('click', () => this.update());
    input.addEventListener('blur', () => setTimeout(() => { if (document.activeElement !== input) this.close(); }, 150));
    // pointerdown keeps the focus in the textarea; click picks (a tap on a phone too).
    list.addEventListener('pointerdown', (e) => e.preventDefault());
    list.addEventListener('click', (e) => {
      const li = e.target.closest('li[data-user]');
      if (li) this.pick(Number(li.dataset.index));
    });
  }

  get open() { return !this.list.hidden; }

  /** The '@' word being typed before the caret, if any: '@' at the start or after white space. */
  query() {
    const v = this.input.value;
    const caret = this.input.selectionStart ?? v.length;
    if (caret !== this.input.selectionEnd) return null;
    const before = v.slice(0, caret);
    const m = /(^|[\s\u3000])@([^\s\u3000@]{0,30})$/u.exec(before);
    if (!m) return null;
    return { at: caret - m[2].length - 1, q: m[2] };
  }

  update() {
    const q = this.query();
    const members = (this.members() ?? []).filter((m) => m.id !== this.selfId());
    if (!q || !members.length) { this.close(); return; }
    const f = fold(q.q);
    const items = members.filter((m) => !f || fold(m.name).includes(f) || m.id.toLowerCase().startsWith(f)
      || fold(profession(m.profession)).includes(f) || fold(m.org ?? '').includes(f))
      .sort((a, b) => a.name.localeCompare(b.name, 'ja')).slice(0, MAX_OFFERED);
    if (!items.length) { this.close(); return; }
    const same = this.open && this.at === q.at && items.length === this.items.length && items.every((m, i) => m.id === this.items[i].id);
    this.at = q.at;
    if (same) return;
    this.items = items;
    this.active = 0;
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.items.map((m, i) => el('li', {
      id: `mention-opt-${i}`, role: 'option', 'data-user': m.id, 'data-index': i,
      'aria-selected': i === this.active ? 'true' : 'false',
    }, el('span', { class: 'who' }, m.name), el('span', { class: 'prof' }, profession(m.profession)), el('span', { class: 'org' }, m.org ?? ''))));
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.input.setAttribute('aria-activedescendant', `mention-opt-${this.active}`);
    this.list.children[this.active]?.scrollIntoView?.({ block: 'nearest' });
  }

  close() {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.items = [];
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  /** Handles the completion's keys; returns true when the key was its own. */
  keydown(e) {
    if (!this.open || e.isComposing || e.keyCode === 229) return false;
    const n = this.items.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.render();
    } else if ((e.key === 'Enter' && !e.ctrlKey && !e.metaKey && !e.shiftKey) || e.key === 'Tab') {
      this.pick(this.active);
    } else if (e.key === 'Escape') {
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    e.stopPropagation();
    return true;
  }

  pick(i) {
    const m = this.items[i];
    const q = this.query();
    if (!m || !q) { this.close(); return; }
    const v = this.input.value;
    const caret = this.input.selectionStart ?? v.length;
    const insert = `@${m.name} `;
    this.input.value = v.slice(0, q.at) + insert + v.slice(caret);
    const pos = q.at + insert.length;
    this.input.setSelectionRange(pos, pos);
    this.close();
    this.input.focus();
    this.input.dispatchEvent(new Event('input')); // the draft, the count and the height follow
    this.onPick?.(m);
  }
}
