// The town tools (issue 12, browser side): the controller that app.js hands its hooks to. It owns
// the tools above the room list (search, a new team room, the access log), the room's menu
// (members, resident, consent, export, mute), the resident panel and the consent warning, and
// keeps them in step with the session. Each feature lives in its own module; this only wires.
import { t, onLangChange } from './i18n.js';
import './strings-town.js';
import { townApi } from './townapi.js';
import { managesRoom, isCoordinator } from './roles.js';
import { CreateRoomDialog, MembersDialog } from './views/manage.js';
import { ResidentPanel } from './views/resident.js';
import { Consents } from './views/consent.js';
import { SearchView } from './views/search.js';
import { AuditView } from './views/audit.js';
import { ExportDialog } from './export.js';
import { errorText } from './views/dialog.js';
import { el } from './views/dom.js';
import { isMuted, mutedLabel, mutedIcon, tomorrowMorning, forever, HOUR } from './mute.js';

export class TownTools {
  /**
   * @param {object} app {store, token(), config(), jumpTo(room, seq), roomChanged(room),
   *   refreshRoom(room) → Promise, banner(text), announce(text), displayName(r)}
   */
  constructor(app) {
    this.app = app;
    this.store = app.store;
    try { this.store.teamOrder = localStorage.getItem('yui.teamOrder') === 'kana' ? 'kana' : 'recent'; } catch { this.store.teamOrder = 'recent'; }
    this.roomId = null;
    const ctx = {
      store: app.store,
      token: app.token,
      config: app.config,
      banner: app.banner,
      announce: app.announce,
      displayName: app.displayName,
      jumpTo: app.jumpTo,
      // Over the WebSocket when connected (a refusal is a frame, not a failed request), else HTTP.
      postNote: (room, note) => app.post({ room, ...note }) ?? townApi.postNote(app.token(), room, note),
      refreshRoom: (id) => this.refreshRoom(id),
      openRoom: (id, opts) => this.openRoom(id, opts),
      consentChip: (r) => this.consents.chip(r),
      consentChanged: (id) => this.consentChanged(id),
    };
    this.ctx = ctx;
    this.create = new CreateRoomDialog(ctx);
    this.members = new MembersDialog(ctx);
    this.resident = new ResidentPanel(ctx);
    this.consents = new Consents(ctx);
    this.search = new SearchView(ctx);
    this.audit = new AuditView(ctx);
    this.exporter = new ExportDialog(ctx);
    this.toolsBox = document.getElementById('town-tools');
    this.roomTools = document.getElementById('room-tools');
    this.pendingOpen = null; // {room, members}: a room just created, opened once it is listed
    document.addEventListener('click', (e) => {
      const menu = this.roomTools.querySelector('details.room-menu[open]');
      if (menu && !menu.contains(e.target)) menu.open = false;
    });
    document.addEventListener('keydown', (e) => {
      const menu = this.roomTools.querySelector('details.room-menu[open]');
      if (e.key === 'Escape' && menu) { menu.open = false; menu.querySelector('summary').focus(); }
    });
    onLangChange(() => this.relabel());
    this.renderTools();
  }

  // ---- hooks from app.js ----

  /** A welcome: the user (and so its role) is known, or known again. */
  onSession() {
    this.renderTools();
    if (this.roomId) this.onRoomOpened(this.roomId);
  }

  reset() {
    this.consents.reset();
    this.roomId = null;
    this.resident.close();
    this.renderTools();
    this.roomTools.replaceChildren();
  }

  onRoomOpened(id) {
    this.roomId = id;
    this.resident.open(id);
    this.renderRoomTools();
    this.consents.load(id);
    this.renderWarning();
  }

  onRoomClosed() {
    this.roomId = null;
    this.resident.close();
    this.roomTools.replaceChildren();
    document.getElementById('consent-warning').hidden = true;
  }

  /** The room's head was drawn again (members, resident, title came or changed). */
  onHead(r) {
    if (r.id !== this.roomId) return;
    this.resident.render();
    this.renderRoomTools();
    this.renderWarning();
    this.members.refresh(r.id);
  }

  /** A room was added to this user's list (room_added / welcome). */
  onRoomListed(id) {
    if (this.pendingOpen?.room === id) {
      const { members } = this.pendingOpen;
      this.pendingOpen = null;
      location.hash = `#room/${encodeURIComponent(id)}`;
      if (members) setTimeout(() => this.members.open(id, document.getElementById('room-title')), 0);
    }
  }

  /** Why the composer may not send now, or null (the hub decides all the same). */
  sendBlock(r) { return this.consents.blockReason(r) ? t('tt_consent_block_short') : null; }

  relabel() {
    this.renderTools();
    if (this.roomId) { this.resident.render(); this.renderRoomTools(); this.renderWarning(); }
  }

  // ---- wiring ----

  async refreshRoom(id) {
    try {
      const d = await townApi.room(this.app.token(), id);
      const r = this.store.rooms.get(id);
      if (r) {
        r.title = d.title;
        r.resident = d.resident ?? null;
        r.members = d.members ?? r.members;
        this.app.roomChanged(id);
      }
      return d;
    } catch {
      return null;
    }
  }

  openRoom(id, { members = false } = {}) {
    if (this.store.rooms.has(id)) {
      location.hash = `#room/${encodeURIComponent(id)}`;
      if (members) setTimeout(() => this.members.open(id, document.getElementById('room-title')), 0);
    } else {
      this.pendingOpen = { room: id, members }; // room_added is on its way
    }
  }

  consentChanged(id) {
    if (id !== this.roomId) return;
    this.resident.render();
    this.renderWarning();
  }

  renderWarning() {
    const r = this.roomId ? this.store.rooms.get(this.roomId) : null;
    if (r) this.consents.renderWarning(r);
  }

  renderTools() {
    const me = this.store.user;
    if (!me) { this.toolsBox.replaceChildren(); this.toolsBox.hidden = true; return; }
    this.toolsBox.hidden = false;
    const kept = this.toolsBox.querySelector('#search-input')?.value ?? '';
    const search = this.search.form();
    search.querySelector('#search-input').value = kept;
    const order = el('select', { id: 'team-order', 'aria-label': t('tt_order_label') },
      el('option', { value: 'recent', selected: this.store.teamOrder !== 'kana' }, t('tt_order_recent')),
      el('option', { value: 'kana', selected: this.store.teamOrder === 'kana' }, t('tt_order_kana')));
    order.addEventListener('change', () => {
      this.store.teamOrder = order.value;
      try { localStorage.setItem('yui.teamOrder', order.value); } catch { /* ignore */ }
      this.app.roomsChanged();
    });
    const parts = [search, el('label', { class: 'order-choice' }, el('span', {}, t('tt_order_label')), order)];
    if (isCoordinator(me)) {
      const create = el('button', { type: 'button', class: 'btn-secondary', id: 'new-room' }, t('tt_new_room'));
      create.addEventListener('click', () => this.create.open(create));
      const audit = el('button', { type: 'button', class: 'btn-secondary', id: 'open-audit' }, t('tt_audit_title'));
      audit.addEventListener('click', () => this.audit.open(audit));
      parts.push(el('div', { class: 'tool-buttons' }, create, audit));
    }
    this.toolsBox.replaceChildren(...parts);
  }

  renderRoomTools() {
    const r = this.roomId ? this.store.rooms.get(this.roomId) : null;
    if (!r) { this.roomTools.replaceChildren(); return; }
    const me = this.store.user;
    const wasOpen = this.roomTools.querySelector('details.room-menu')?.open ?? false;
    const items = [];
    const item = (key, fn, id) => {
      const b = el('button', { type: 'button', class: 'menu-item', id }, t(key));
      b.addEventListener('click', () => { this.closeMenu(); fn(this.roomTools.querySelector('summary')); });
      items.push(b);
    };
    if (r.kind === 'team' && managesRoom(me, r)) {
      item('tt_menu_members', (tr) => this.members.open(r.id, tr), 'menu-members');
      item('tt_edit_resident', (tr) => this.resident.edit(tr), 'menu-resident');
    }
    if (r.kind === 'team') item('tt_consent_title', (tr) => this.consents.open(r.id, tr), 'menu-consent');
    item('tt_export_title', (tr) => this.exporter.open(r.id, tr), 'menu-export');
    const muted = isMuted(r);
    const mute = el('div', { class: 'menu-group', role: 'group', 'aria-label': t('tt_mute') },
      el('p', { class: 'menu-label' }, muted ? mutedLabel(r) : t('tt_mute')),
      ...[['1h', 'tt_mute_1h'], ['8h', 'tt_mute_8h'], ['tomorrow', 'tt_mute_tomorrow'], ['forever', 'tt_mute_forever']]
        .map(([v, k]) => {
          const b = el('button', { type: 'button', class: 'menu-item', 'data-mute': v }, t(k));
          b.addEventListener('click', () => { this.closeMenu(); this.setMute(r.id, v); });
          return b;
        }),
      muted ? el('button', { type: 'button', class: 'menu-item', 'data-mute': 'off', onclick: () => { this.closeMenu(); this.setMute(r.id, 'off'); } }, t('tt_mute_off')) : null);
    const menu = el('details', { class: 'room-menu', open: wasOpen },
      el('summary', { 'aria-label': t('tt_menu_label') }, el('span', { 'aria-hidden': 'true' }, '⋯'), el('span', { class: 'menu-text' }, t('tt_menu'))),
      el('div', { class: 'menu-body' }, ...items, mute));
    const icon = muted ? el('span', { class: 'muted-flag', title: mutedLabel(r), role: 'img', 'aria-label': mutedLabel(r) }, mutedIcon()) : null;
    this.roomTools.replaceChildren(...[icon, menu].filter(Boolean));
  }

  closeMenu() {
    const m = this.roomTools.querySelector('details.room-menu');
    if (m) m.open = false;
  }

  async setMute(id, choice) {
    const now = Date.now();
    const until = {
      '1h': () => new Date(now + HOUR).toISOString(),
      '8h': () => new Date(now + 8 * HOUR).toISOString(),
      tomorrow: () => tomorrowMorning().toISOString(),
      forever: () => forever(now).toISOString(),
      off: () => null,
    }[choice]();
    try {
      const rep = await townApi.mute(this.app.token(), id, until);
      const r = this.store.rooms.get(id);
      if (r) {
        r.muted_until = rep && 'muted_until' in rep ? rep.muted_until : until;
        this.app.roomChanged(id);
        this.renderRoomTools();
        this.app.announce(isMuted(r) ? mutedLabel(r) : t('tt_unmuted'));
      }
    } catch (e) {
      this.app.banner(errorText(e));
    }
  }
}
