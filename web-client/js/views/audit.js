// The access log (PROTOCOL.md 4 and 5.5) for coordinators and admins: filtered by room, user and
// period, shown as a table, exported as CSV (fetched with the token, saved from a blob).
import { t } from '../i18n.js';
import { fullTime } from '../format.js';
import { townApi, saveBlob } from '../townapi.js';
import { Dialog, field, formError, errorText } from './dialog.js';
import { el } from './dom.js';
import { thisMonth } from '../export.js';

const LIMIT = 200;

export class AuditView {
  constructor(ctx) {
    this.ctx = ctx;
    this.d = new Dialog('audit-dialog', { wide: true });
  }

  open(trigger) {
    const rooms = [...this.ctx.store.rooms.values()].sort((a, b) => this.ctx.displayName(a).localeCompare(this.ctx.displayName(b), 'ja'));
    this.room = el('input', { type: 'text', list: 'audit-rooms', autocomplete: 'off', maxlength: 64 });
    this.user = el('input', { type: 'text', autocomplete: 'off', maxlength: 64 });
    const [first] = thisMonth();
    this.from = el('input', { type: 'date', value: first });
    this.to = el('input', { type: 'date' });
    this.err = formError();
    this.state = el('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.table = el('table', { class: 'audit-table' });
    this.more = el('button', { type: 'button', class: 'btn-secondary', hidden: true }, t('tt_more'));
    this.more.addEventListener('click', () => this.load(true));
    const show = el('button', { type: 'submit', class: 'btn-primary' }, t('tt_audit_show'));
    const csv = el('button', { type: 'button', class: 'btn-secondary', id: 'audit-csv' }, t('tt_audit_csv'));
    csv.addEventListener('click', () => this.csv(csv));
    const form = el('form', { class: 'tool-form audit-filters', novalidate: true },
      el('datalist', { id: 'audit-rooms' }, ...rooms.map((r) => el('option', { value: r.id }, this.ctx.displayName(r)))),
      field('au-room', t('tt_audit_room'), this.room, t('tt_audit_room_hint')),
      field('au-user', t('tt_audit_user'), this.user, t('tt_audit_user_hint')),
      el('div', { class: 'date-range' }, field('au-from', t('tt_from'), this.from), field('au-to', t('tt_to'), this.to)),
      this.err,
      el('div', { class: 'form-actions' }, csv, show));
    form.addEventListener('submit', (e) => { e.preventDefault(); this.load(); });
    this.d.body.replaceChildren(form, this.state, el('div', { class: 'table-wrap' }, this.table), el('div', { class: 'form-actions' }, this.more));
    this.d.show(t('tt_audit_title'), trigger);
    this.load();
  }

  filters() {
    const f = { limit: LIMIT };
    const room = this.room.value.trim();
    const user = this.user.value.trim();
    if (room) f.room = room;
    if (user) f.user = user;
    if (this.from.value) f.from = this.from.value;
    if (this.to.value) f.to = this.to.value;
    return f;
  }

  valid() {
    this.err.textContent = '';
    if (this.from.value && this.to.value && this.from.value > this.to.value) { this.err.textContent = t('tt_bad_range'); this.to.focus(); return false; }
    return true;
  }

  /** The first page for the filters, or (`next`) the page after the entries shown. */
  async load(next = false) {
    if (!this.valid()) return;
    this.state.textContent = t('loading');
    this.more.disabled = true;
    try {
      const f = this.filters();
      if (next && this.entries?.length) f.before = this.entries.at(-1).id;
      const rep = await townApi.audit(this.ctx.token(), f);
      this.entries = [...(next ? this.entries : []), ...(rep.entries ?? [])];
      const more = rep.more ?? (rep.entries ?? []).length >= LIMIT;
      this.more.hidden = !more || this.entries.at(-1)?.id === undefined;
      this.state.textContent = this.entries.length ? t('tt_audit_count', { n: this.entries.length, more: more ? '+' : '' }) : t('tt_audit_none');
      this.render(this.entries);
    } catch (e) {
      this.state.textContent = '';
      this.err.textContent = errorText(e);
    } finally {
      this.more.disabled = false;
    }
  }

  render(entries) {
    const rooms = this.ctx.store.rooms;
    // A target is a user id: named from what this page knows (members, the entries' actors).
    const names = new Map();
    for (const r of rooms.values()) for (const m of r.members ?? []) names.set(m.id, m.name);
    for (const x of entries) if (x.actor?.id) names.set(x.actor.id, x.actor.name);
    const head = el('thead', {}, el('tr', {}, ...['tt_au_at', 'tt_au_actor', 'tt_au_action', 'tt_au_room', 'tt_au_target']
      .map((k) => el('th', { scope: 'col' }, t(k)))));
    const body = el('tbody', {}, ...entries.map((x) => {
      const action = t(`tt_action_${x.action}`);
      const room = x.room ? (rooms.has(x.room) ? `${this.ctx.displayName(rooms.get(x.room))} (${x.room})` : x.room) : '';
      const tid = x.target && typeof x.target === 'object' ? x.target.id : x.target;
      const target = tid ? (names.has(tid) ? `${names.get(tid)} (${tid})` : tid) : '';
      return el('tr', { 'data-action': x.action },
        el('td', {}, el('time', { datetime: x.at }, fullTime(x.at))),
        el('td', {}, x.actor?.name ?? x.actor?.id ?? ''),
        el('td', {}, action.startsWith('tt_action_') ? x.action : action),
        el('td', {}, room),
        el('td', {}, target));
    }));
    this.table.replaceChildren(el('caption', { class: 'sr-only' }, t('tt_audit_title')), head, body);
  }

  async csv(btn) {
    if (!this.valid()) return;
    btn.disabled = true;
    try {
      const f = { ...this.filters() };
      delete f.limit;
      const file = await townApi.download(this.ctx.token(), townApi.auditCsvPath(f), `audit_${f.from ?? ''}_${f.to ?? ''}.csv`);
      saveBlob(file.blob, file.name);
    } catch (e) {
      this.err.textContent = errorText(e);
    } finally {
      btn.disabled = false;
    }
  }
}
