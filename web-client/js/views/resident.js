// The resident profile (PROTOCOL.md 5.4) at the top of a team room: name, kana, birth year and
// age, the household with its relations, notes; collapsible (folded on a phone), editable by the
// room's managers through `PUT /api/rooms/{room}/resident`.
import { t } from '../i18n.js';
import { townApi } from '../townapi.js';
import { managesRoom, byKana } from '../roles.js';
import { Dialog, field, formError, errorText } from './dialog.js';
import { el } from './dom.js';

const PHONE = '(max-width: 760px)';
const MAX_HOUSEHOLD = 10; // the hub's bound (docs/protocol.md)
// Hiragana, katakana, ー and spaces: what the hub takes as a reading (ふりがな).
const KANA = /^[\u3041-\u3096\u309d-\u309f\u30a1-\u30ff \u3000]+$/u;

function jstYear() {
  return Number(new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric' }).format(new Date()));
}

/** "1941年生まれ（85歳になる年）": with a birth year only, the age reached this year. */
export function ageText(birthYear) {
  if (!Number.isInteger(birthYear)) return '';
  return t('tt_born', { y: birthYear, age: jstYear() - birthYear });
}

/** Rows of {name, relation} with add/remove, for the create and edit forms. */
export function householdEditor(rows) {
  const list = el('ol', { class: 'household-rows' });
  const add = el('button', { type: 'button', class: 'btn-link' }, t('tt_household_add'));
  let n = 0;
  const addRow = (h = { name: '', relation: '' }) => {
    if (list.children.length >= MAX_HOUSEHOLD) return null;
    const i = ++n;
    const name = el('input', { type: 'text', maxlength: 100, value: h.name, autocomplete: 'off', 'data-h': 'name' });
    const relation = el('input', { type: 'text', maxlength: 50, value: h.relation, autocomplete: 'off', 'data-h': 'relation', list: 'relation-suggestions' });
    const del = el('button', { type: 'button', class: 'btn-link danger', 'aria-label': t('tt_household_remove_label', { n: i }) }, t('tt_household_remove'));
    const li = el('li', {},
      field(`hh-name-${i}-${Math.random().toString(36).slice(2, 6)}`, t('tt_hh_name'), name),
      field(`hh-rel-${i}-${Math.random().toString(36).slice(2, 6)}`, t('tt_hh_relation'), relation),
      del);
    del.addEventListener('click', () => { li.remove(); add.focus(); });
    list.append(li);
    return name;
  };
  for (const h of rows) addRow(h);
  if (!rows.length) addRow();
  add.addEventListener('click', () => addRow()?.focus());
  const suggestions = el('datalist', { id: 'relation-suggestions' },
    ...t('tt_relations').split(',').map((r) => el('option', { value: r })));
  return {
    node: el('div', {}, list, add, document.getElementById('relation-suggestions') ? null : suggestions),
    rows() {
      return [...list.children].map((li) => ({
        name: li.querySelector('[data-h="name"]').value.trim(),
        relation: li.querySelector('[data-h="relation"]').value.trim(),
        focus: li.querySelector('[data-h="name"]'),
        relFocus: li.querySelector('[data-h="relation"]'),
      })).filter((h) => h.name || h.relation);
    },
    focusFirst() { list.querySelector('input')?.focus(); },
  };
}

/** The profile the form holds, or {error, focus}. */
export function profileFromForm({ name, kana, birth, household, notes }) {
  const v = { name: name.value.trim() };
  if (!v.name) return { error: t('tt_need_name'), focus: name };
  if (kana?.value.trim()) {
    v.kana = kana.value.trim();
    if (!KANA.test(v.kana)) return { error: t('tt_bad_kana'), focus: kana };
  }
  if (birth?.value.trim()) {
    const y = Number(birth.value);
    if (!Number.isInteger(y) || y < 1900 || y > jstYear()) return { error: t('tt_bad_birth_year', { max: jstYear() }), focus: birth };
    v.birth_year = y;
  }
  if (household) {
    const rows = household.rows();
    for (const h of rows) {
      if (!h.name) return { error: t('tt_hh_need_name'), focus: h.focus };
      if (!h.relation) return { error: t('tt_hh_need_relation', { name: h.name }), focus: h.relFocus };
    }
    v.household = rows.map(({ name: n, relation }) => ({ name: n, relation }));
  }
  if (notes) v.notes = notes.value.trim();
  return { value: v };
}

export class ResidentPanel {
  constructor(ctx) {
    this.ctx = ctx;
    this.box = document.getElementById('resident-panel');
    this.roomId = null;
    this.dialog = new Dialog('resident-dialog', { wide: true });
  }

  open(roomId) {
    this.roomId = roomId;
    this.folded = window.matchMedia?.(PHONE).matches ?? false;
    this.render();
  }

  close() { this.roomId = null; this.box.hidden = true; this.box.replaceChildren(); }

  render() {
    const r = this.roomId ? this.ctx.store.rooms.get(this.roomId) : null;
    if (!r || r.kind !== 'team') { this.box.hidden = true; this.box.replaceChildren(); return; }
    const p = r.resident ?? {};
    const me = this.ctx.store.user;
    const manage = managesRoom(me, r);
    this.box.hidden = false;
    const open = this.box.querySelector('details')?.open ?? !this.folded;
    const household = [...(p.household ?? [])].sort(byKana);
    const facts = el('dl', { class: 'resident-facts' });
    const fact = (k, v) => { if (v) facts.append(el('dt', {}, k), el('dd', {}, v)); };
    fact(t('tt_kana'), p.kana);
    fact(t('tt_birth_year'), ageText(p.birth_year));
    if (p.id) fact(t('tt_resident_id'), p.id);
    if (household.length) {
      facts.append(el('dt', {}, t('tt_household')), el('dd', {}, el('ul', { class: 'household-list' },
        ...household.map((h) => el('li', {}, el('span', { class: 'who' }, h.name), el('span', { class: 'rel' }, h.relation))))));
    }
    const notes = p.notes ? el('p', { class: 'resident-notes' }, p.notes) : null;
    const edit = manage ? el('button', { type: 'button', class: 'btn-secondary', id: 'resident-edit' }, t('tt_edit_resident')) : null;
    edit?.addEventListener('click', () => this.edit(edit));
    const consent = this.ctx.consentChip(r);
    // The name is the room's title already: the summary says what this is, and the short facts.
    const summary = el('summary', {},
      el('span', { class: 'resident-label' }, t('tt_resident_profile')),
      el('span', { class: 'resident-name' }, p.name ?? ''),
      p.kana ? el('span', { class: 'resident-kana' }, p.kana) : null,
      Number.isInteger(p.birth_year) ? el('span', { class: 'resident-age' }, t('tt_age', { age: jstYear() - p.birth_year })) : null,
      consent);
    const empty = !facts.children.length && !notes
      ? el('p', { class: 'hint' }, manage ? t('tt_profile_empty_manage') : t('tt_profile_empty')) : null;
    const details = el('details', { class: 'resident', open }, summary, el('div', { class: 'resident-body' }, facts, notes, empty, edit));
    details.setAttribute('aria-label', t('tt_resident_profile'));
    this.box.replaceChildren(details);
  }

  edit(trigger) {
    const r = this.ctx.store.rooms.get(this.roomId);
    if (!r) return;
    const p = r.resident ?? {};
    const err = formError();
    const name = el('input', { type: 'text', maxlength: 100, value: p.name ?? '', autocomplete: 'off' });
    const kana = el('input', { type: 'text', maxlength: 100, value: p.kana ?? '', autocomplete: 'off' });
    const birth = el('input', { type: 'number', min: 1900, max: jstYear(), value: p.birth_year ?? '', inputmode: 'numeric' });
    const notes = el('textarea', { rows: 4, maxlength: 2000 });
    notes.value = p.notes ?? '';
    const household = householdEditor(p.household ?? []);
    const save = el('button', { type: 'submit', class: 'btn-primary' }, t('tt_save'));
    const form = el('form', { class: 'tool-form', novalidate: true },
      el('div', { class: 'row' }, field('rs-name', t('tt_resident_name'), name), field('rs-kana', t('tt_kana'), kana, t('tt_kana_hint')),
        field('rs-birth', t('tt_birth_year'), birth)),
      el('fieldset', { class: 'household-box' }, el('legend', {}, t('tt_household')), household.node),
      field('rs-notes', t('tt_notes'), notes, t('tt_notes_hint')),
      err,
      el('div', { class: 'form-actions' }, save));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const profile = profileFromForm({ name, kana, birth, household, notes });
      if (profile.error) { err.textContent = profile.error; profile.focus?.focus(); return; }
      save.disabled = true;
      try {
        await townApi.putResident(this.ctx.token(), r.id, profile.value);
        this.dialog.close();
        await this.ctx.refreshRoom(r.id);
        this.ctx.announce(t('tt_resident_saved'));
      } catch (ex) {
        err.textContent = errorText(ex);
      } finally {
        save.disabled = false;
      }
    });
    this.dialog.body.replaceChildren(form);
    this.dialog.show(t('tt_edit_resident'), trigger);
    name.focus();
  }
}
