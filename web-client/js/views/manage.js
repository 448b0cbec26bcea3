// Rooms and members (PROTOCOL.md 4, 5.4), for a town's coordinators, admins and a room's owners:
// a new team room for a resident or a household, its title, members added from the town's
// directory, roles changed, a member removed after a confirmation. Every change goes through the
// HTTP API; the room list and the room follow it (room_added / removed events, a fresh GET).
import { t, profession } from '../i18n.js';
import { townApi } from '../townapi.js';
import { managesRoom, managesTown, byKana } from '../roles.js';
import { Dialog, confirmAction, field, formError, errorText } from './dialog.js';
import { el, setChildren } from './dom.js';
import { fullTime } from '../format.js';
import { householdEditor, profileFromForm } from './resident.js';

const DIRECTORY_DELAY = 250; // ms of quiet typing before the directory is asked

function randomTag(n = 6) {
  const a = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(a, (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
}

/** A fresh room id (`team-YYYYMMDD-xxxxxx`): never one of another town's rooms by chance. */
export function newRoomId() {
  const d = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date()).replaceAll('-', '');
  return `team-${d}-${randomTag()}`;
}

export class CreateRoomDialog {
  constructor(ctx) {
    this.ctx = ctx;
    this.d = new Dialog('create-room-dialog', { wide: true });
  }

  open(trigger) {
    const me = this.ctx.store.user;
    const err = formError();
    const kindResident = el('input', { type: 'radio', name: 'cr-kind', value: 'resident', checked: true });
    const kindHousehold = el('input', { type: 'radio', name: 'cr-kind', value: 'household' });
    const title = el('input', { type: 'text', maxlength: 200, required: true, autocomplete: 'off' });
    const name = el('input', { type: 'text', maxlength: 100, required: true, autocomplete: 'off' });
    const kana = el('input', { type: 'text', maxlength: 100, autocomplete: 'off' });
    const birth = el('input', { type: 'number', min: 1900, max: new Date().getFullYear(), inputmode: 'numeric' });
    const residentId = el('input', { type: 'text', maxlength: 64, autocomplete: 'off' });
    const town = el('input', { type: 'text', maxlength: 64, value: me?.town ?? '', autocomplete: 'off', pattern: '[a-z0-9-]+' });
    if (me?.role !== 'admin') town.readOnly = true;
    const household = householdEditor([]);
    const householdBox = el('fieldset', { class: 'household-box', hidden: true },
      el('legend', {}, t('tt_household_members')), el('p', { class: 'hint' }, t('tt_household_hint')), household.node);
    const syncKind = () => {
      householdBox.hidden = !kindHousehold.checked;
      title.placeholder = kindHousehold.checked ? t('tt_title_ph_household') : t('tt_title_ph_resident');
    };
    kindResident.addEventListener('change', syncKind);
    kindHousehold.addEventListener('change', syncKind);
    // The title follows the resident's name until the user writes one of its own.
    let titleTouched = false;
    title.addEventListener('input', () => { titleTouched = true; });
    name.addEventListener('input', () => {
      if (!titleTouched) title.value = name.value.trim() ? t(kindHousehold.checked ? 'tt_title_auto_household' : 'tt_title_auto', { name: name.value.trim() }) : '';
    });
    const submit = el('button', { type: 'submit', class: 'btn-primary' }, t('tt_create'));
    const form = el('form', { class: 'tool-form', novalidate: true },
      el('fieldset', { class: 'kind-choice' }, el('legend', {}, t('tt_room_for')),
        el('label', {}, kindResident, t('tt_for_resident')),
        el('label', {}, kindHousehold, t('tt_for_household'))),
      el('div', { class: 'row' }, field('cr-name', t('tt_resident_name'), name), field('cr-kana', t('tt_kana'), kana, t('tt_kana_hint'))),
      el('div', { class: 'row' }, field('cr-birth', t('tt_birth_year'), birth),
        field('cr-resident-id', t('tt_resident_id'), residentId, t('tt_resident_id_hint'))),
      householdBox,
      el('div', { class: 'row' }, field('cr-title', t('tt_room_title'), title), field('cr-town', t('tt_town'), town)),
      err,
      el('div', { class: 'form-actions' }, submit));
    syncKind();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const profile = profileFromForm({ name, kana, birth, household: kindHousehold.checked ? household : null });
      if (profile.error) { err.textContent = profile.error; profile.focus?.focus(); return; }
      if (!title.value.trim()) { err.textContent = t('tt_need_title'); title.focus(); return; }
      if (!/^[a-z0-9-]{1,64}$/.test(town.value)) { err.textContent = t('tt_need_town'); town.focus(); return; }
      if (kindHousehold.checked && !profile.value.household?.length) { err.textContent = t('tt_need_household'); household.focusFirst(); return; }
      submit.disabled = true;
      const room = newRoomId();
      try {
        await townApi.putRoom(this.ctx.token(), room, {
          kind: 'team',
          title: title.value.trim(),
          town: town.value,
          resident: { id: residentId.value.trim() || `r-${randomTag(10)}`, name: profile.value.name },
        });
      } catch (ex) {
        submit.disabled = false;
        err.textContent = errorText(ex);
        return;
      }
      // The room exists (its owner is this user: room_added brings it to the list).
      try {
        await townApi.putResident(this.ctx.token(), room, profile.value);
      } catch (ex) {
        this.ctx.banner(t('tt_resident_not_saved', { msg: errorText(ex) }));
      }
      this.d.close();
      await this.ctx.refreshRoom(room);
      this.ctx.openRoom(room, { members: true });
    });
    this.d.body.replaceChildren(form);
    this.d.show(t('tt_new_room'), trigger);
    name.focus();
  }
}

export class MembersDialog {
  constructor(ctx) {
    this.ctx = ctx;
    this.d = new Dialog('members-dialog', { wide: true });
    this.roomId = null;
    this.timer = null;
    this.seq = 0;
    this.d.onClose = () => { this.roomId = null; clearTimeout(this.timer); };
  }

  get room() { return this.roomId ? this.ctx.store.rooms.get(this.roomId) : null; }

  async open(roomId, trigger) {
    this.roomId = roomId;
    this.build();
    this.d.show(t('tt_manage_title'), trigger);
    this.search.focus();
    await this.ctx.refreshRoom(roomId);
    this.renderMembers();
    this.lookUp();
  }

  refresh(roomId) {
    if (this.d.isOpen && this.roomId === roomId) this.renderMembers();
  }

  build() {
    const r = this.room;
    this.err = formError();
    this.titleInput = el('input', { type: 'text', maxlength: 200, value: r?.title ?? '', autocomplete: 'off' });
    const saveTitle = el('button', { type: 'submit', class: 'btn-secondary' }, t('tt_save_title'));
    const titleForm = el('form', { class: 'inline-form', novalidate: true }, field('mg-title', t('tt_room_title'), this.titleInput), saveTitle);
    titleForm.addEventListener('submit', (e) => { e.preventDefault(); this.saveTitle(); });
    this.memberList = el('ul', { class: 'manage-members', 'aria-live': 'polite' });
    this.rows = null;
    this.search = el('input', { type: 'search', autocomplete: 'off', maxlength: 100 });
    this.results = el('ul', { class: 'directory-results', 'aria-live': 'polite' });
    this.dirState = el('p', { class: 'hint', role: 'status' });
    this.search.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.lookUp(), DIRECTORY_DELAY);
    });
    this.search.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); clearTimeout(this.timer); this.lookUp(); } });
    const canDirectory = managesTown(this.ctx.store.user, r?.town);
    this.d.body.replaceChildren(
      titleForm,
      el('h3', {}, t('tt_members_heading')),
      this.memberList,
      el('h3', {}, t('tt_add_member')),
      canDirectory
        ? el('div', { class: 'directory' }, field('mg-search', t('tt_directory_search'), this.search, t('tt_directory_hint')), this.dirState, this.results)
        : this.byIdForm(),
      this.err);
    this.results.replaceChildren();
  }

  /** For an owner who may not search the directory (5.4): add a user by the id the hub knows. */
  byIdForm() {
    const id = el('input', { type: 'text', maxlength: 64, autocomplete: 'off', spellcheck: 'false' });
    const go = el('button', { type: 'submit', class: 'btn-secondary' }, t('tt_add'));
    const f = el('form', { class: 'inline-form', novalidate: true }, field('mg-user-id', t('tt_add_by_id'), id, t('tt_directory_coordinators')), go);
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = id.value.trim();
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(v)) { this.err.textContent = t('tt_bad_user_id'); id.focus(); return; }
      this.change(async () => {
        await townApi.putMember(this.ctx.token(), this.roomId, v, {});
        this.ctx.announce(t('tt_added', { name: v }));
        id.value = '';
      }, go);
    });
    return f;
  }

  renderMembers() {
    const r = this.room;
    if (!r) return;
    const me = this.ctx.store.user;
    if (document.activeElement !== this.titleInput) this.titleInput.value = r.title;
    const members = [...(r.members ?? [])].sort(byKana);
    const owners = members.filter((m) => m.role === 'owner').length;
    // A row that has not changed is kept, not rebuilt: a refresh landing mid-click (the hub's
    // room_updated after one's own change) must not swallow the click on its buttons.
    const rows = new Map();
    setChildren(this.memberList, members.map((m) => {
      // The last owner keeps the room managed by someone: not demoted from here.
      const locked = m.role === 'owner' && owners === 1 && !managesTown(me, r.town);
      const key = JSON.stringify([m.name, m.role, m.profession, m.org, m.id === me?.id, locked]);
      const kept = this.rows?.get(m.id);
      if (kept?.key === key) { rows.set(m.id, kept); return kept.li; }
      const role = el('select', { 'aria-label': t('tt_role_of', { name: m.name }), 'data-user': m.id },
        el('option', { value: 'member', selected: m.role !== 'owner' }, t('tt_role_member')),
        el('option', { value: 'owner', selected: m.role === 'owner' }, t('role_owner')));
      role.addEventListener('change', () => this.setRole(m, role.value, role));
      const remove = el('button', { type: 'button', class: 'btn-link danger', 'data-remove': m.id }, t('tt_remove'));
      remove.addEventListener('click', () => this.remove(m, remove));
      if (locked) role.disabled = true;
      const li = el('li', { 'data-user': m.id },
        el('span', { class: 'who' }, m.name, m.id === me?.id ? ` (${t('you')})` : ''),
        el('span', { class: 'prof' }, profession(m.profession)),
        el('span', { class: 'org' }, m.org),
        el('span', { class: 'member-actions' }, role, remove));
      rows.set(m.id, { key, li });
      return li;
    }));
    this.rows = rows;
    if (!managesRoom(me, r)) this.d.close();
    this.markResults();
  }

  async lookUp() {
    const r = this.room;
    const q = this.search.value.trim();
    const seq = ++this.seq;
    if (!r || !managesTown(this.ctx.store.user, r.town)) return;
    // No query: the town's users (the hub lists the first 50 by reading).
    this.dirState.textContent = t('loading');
    try {
      const rep = await townApi.directory(this.ctx.token(), r.town, q || undefined);
      if (seq !== this.seq) return; // a newer query is on its way
      const users = [...(rep.users ?? [])].sort(byKana);
      this.dirState.textContent = users.length ? t('tt_directory_found', { n: `${users.length}${rep.more ? '+' : ''}` }) : t('tt_directory_none');
      this.results.replaceChildren(...users.map((u) => {
        const add = el('button', { type: 'button', class: 'btn-secondary', 'data-add': u.id }, t('tt_add'));
        add.addEventListener('click', () => this.add(u, add));
        return el('li', { 'data-user': u.id },
          el('span', { class: 'who' }, u.name),
          el('span', { class: 'prof' }, profession(u.profession)),
          el('span', { class: 'org' }, u.org, ' · ', u.last_seen ? t('tt_last_seen', { t: fullTime(u.last_seen) }) : t('tt_never_seen')),
          el('span', { class: 'member-actions' }, el('span', { class: 'already', hidden: true }, t('tt_already_member')), add));
      }));
      this.markResults();
    } catch (e) {
      if (seq === this.seq) this.dirState.textContent = errorText(e);
    }
  }

  markResults() {
    const ids = new Set((this.room?.members ?? []).map((m) => m.id));
    for (const li of this.results.children) {
      const member = ids.has(li.dataset.user);
      li.querySelector('[data-add]').hidden = member;
      li.querySelector('.already').hidden = !member;
    }
  }

  async change(fn, control) {
    this.err.textContent = '';
    if (control) control.disabled = true;
    const roomId = this.roomId;
    try {
      await fn();
      await this.ctx.refreshRoom(roomId);
      this.refresh(roomId);
      return true;
    } catch (e) {
      this.err.textContent = errorText(e);
      this.rows = null; // rebuilt: a select the hub refused shows what the hub has again
      this.renderMembers();
      return false;
    } finally {
      if (control?.isConnected) control.disabled = false;
    }
  }

  async saveTitle() {
    const r = this.room;
    const title = this.titleInput.value.trim();
    if (!r) return;
    if (!title) { this.err.textContent = t('tt_need_title'); this.titleInput.focus(); return; }
    if (await this.change(() => townApi.putRoom(this.ctx.token(), r.id, { kind: r.kind, title, town: r.town }))) {
      this.ctx.announce(t('tt_title_saved'));
    }
  }

  add(u, btn) {
    const r = this.room;
    return this.change(async () => {
      await townApi.putMember(this.ctx.token(), r.id, u.id, { role: 'member', name: u.name, profession: u.profession, org: u.org });
      this.ctx.announce(t('tt_added', { name: u.name }));
    }, btn);
  }

  setRole(m, role, select) {
    const r = this.room;
    return this.change(() => townApi.putMember(this.ctx.token(), r.id, m.id, { role }), select);
  }

  async remove(m, btn) {
    const r = this.room;
    if (!r) return;
    const ok = await confirmAction(t('tt_remove_confirm', { name: m.name, room: this.ctx.displayName(r) }), t('tt_remove'));
    if (!ok || this.roomId !== r.id) return;
    await this.change(async () => {
      await townApi.removeMember(this.ctx.token(), r.id, m.id);
      this.ctx.announce(t('tt_removed', { name: m.name }));
    }, btn);
  }
}
