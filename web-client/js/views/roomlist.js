// The room list: the town's notice board(s) and the user's team rooms, with unread badges,
// the last message's preview and time. Updated in place, so keyboard focus survives updates.
import { t } from '../i18n.js';
import { listTime } from '../format.js';
import { el } from './dom.js';
import { isMuted, mutedIcon, mutedLabel } from '../mute.js';
import { byKana } from '../roles.js';

/** The room list's line for a note: its text, or what it is (an edit, a retraction, files). */
function preview(m) {
  const text = m.body.replace(/\s+/g, ' ').slice(0, 80);
  const files = m.attachments?.length ? `[${t('preview_files', { n: m.attachments.length })}] ` : '';
  const urgent = m.priority === 'urgent' ? `【${t('urgent')}】` : '';
  if (m.retracts != null) return `${t('preview_retracted')}${text ? `: ${text}` : ''}`;
  if (m.replaces != null) return `${t('preview_edited')}: ${text}`;
  return `${urgent}${files}${text}`.trim();
}

export class RoomListView {
  constructor(store) {
    this.store = store;
    this.noticeList = document.getElementById('notice-rooms');
    this.teamList = document.getElementById('team-rooms');
    this.empty = document.getElementById('no-rooms');
    this.items = new Map(); // room id -> <li>
    this.current = null;
  }

  setCurrent(id) {
    this.current = id;
    this.render();
  }

  displayName(r) {
    if (r.kind === 'team' && r.resident?.name) return r.resident.name;
    return r.title;
  }

  render() {
    const rooms = [...this.store.rooms.values()];
    const notices = rooms.filter((r) => r.kind === 'town').sort((a, b) => a.title.localeCompare(b.title));
    const kana = (r) => ({ kana: r.resident?.kana, name: this.displayName(r) });
    // 五十音順 (the town tools' toggle): residents by the kana of their name. Otherwise rooms
    // with unread urgent notes first, then the newest activity.
    const byReading = this.store.teamOrder === 'kana';
    const teams = rooms.filter((r) => r.kind === 'team').sort((a, b) => {
      if (byReading) return byKana(kana(a), kana(b));
      const ua = a.urgent > 0 ? 1 : 0;
      const ub = b.urgent > 0 ? 1 : 0;
      if (ua !== ub) return ub - ua;
      const ta = a.lastMsg?.at ?? '';
      const tb = b.lastMsg?.at ?? '';
      if (ta !== tb) return ta < tb ? 1 : -1;
      return byKana(kana(a), kana(b));
    });
    for (const id of [...this.items.keys()]) {
      if (!this.store.rooms.has(id)) { this.items.get(id).remove(); this.items.delete(id); }
    }
    const active = document.activeElement;
    this.place(this.noticeList, notices);
    this.place(this.teamList, teams);
    if (active && active !== document.activeElement && active.isConnected) active.focus();
    // Before the hub's welcome (a reload while it is unreachable) the rooms are not known yet,
    // not absent; posts written offline are kept and say so.
    const waiting = !this.store.user;
    this.empty.hidden = !waiting && teams.length > 0;
    const kept = this.store.outbox.size;
    this.empty.textContent = waiting
      ? [t('rooms_waiting'), kept ? t('outbox_kept', { n: kept }) : ''].filter(Boolean).join(' ')
      : t('no_rooms');
    const total = rooms.reduce((n, r) => n + this.store.unread(r), 0);
    document.title = total > 0 ? `(${total}) Yui 結` : 'Yui 結';
  }

  place(list, rooms) {
    let prev = null;
    for (const r of rooms) {
      let li = this.items.get(r.id);
      if (!li) {
        li = this.create(r);
        this.items.set(r.id, li);
      }
      this.update(li, r);
      const want = prev ? prev.nextSibling : list.firstChild;
      if (li.parentNode !== list || want !== li) list.insertBefore(li, want);
      prev = li;
    }
  }

  create(r) {
    const a = el('a', { class: 'room-item', href: `#room/${encodeURIComponent(r.id)}`, 'data-room': r.id });
    a.append(
      el('span', { class: 'room-name' }),
      el('span', { class: 'room-time' }),
      el('span', { class: 'room-title-sub' }),
      el('span', { class: 'room-preview' }),
      el('span', { class: 'badges' },
        el('span', { class: 'urgent-badge' }),
        el('span', { class: 'mention-badge' }),
        el('span', { class: 'unread-badge' })),
    );
    return el('li', {}, a);
  }

  update(li, r) {
    const a = li.firstChild;
    const unread = this.store.unread(r);
    const name = this.displayName(r);
    const [nameEl, timeEl, subEl, prevEl, badges] = a.children;
    const [urgentBadge, mentionBadge, badge] = badges.children;
    const muted = isMuted(r); // the unread badge stays: muting only silences notifications
    nameEl.replaceChildren(name, ...(muted ? [' ', el('span', { class: 'muted-icon', title: mutedLabel(r) }, mutedIcon())] : []));
    a.classList.toggle('muted', muted);
    const last = r.lastMsg;
    timeEl.textContent = last ? listTime(last.at) : '';
    if (last) timeEl.setAttribute('title', last.at); else timeEl.removeAttribute('title');
    const sub = r.kind === 'team' && r.title !== name ? r.title : '';
    subEl.textContent = sub;
    subEl.hidden = !sub;
    prevEl.textContent = last ? `${last.author.name}: ${preview(last)}` : t('no_messages');
    badge.textContent = unread > 99 ? '99+' : String(unread);
    badge.hidden = unread === 0;
    badge.setAttribute('aria-hidden', 'true');
    const urgent = Math.min(r.urgent ?? 0, unread);
    const mentions = Math.min(r.mentions ?? 0, unread);
    urgentBadge.textContent = `${t('urgent')} ${urgent > 99 ? '99+' : urgent}`;
    urgentBadge.hidden = urgent === 0;
    urgentBadge.setAttribute('aria-hidden', 'true');
    mentionBadge.textContent = `@${mentions > 99 ? '99+' : mentions}`;
    mentionBadge.hidden = mentions === 0;
    mentionBadge.setAttribute('aria-hidden', 'true');
    a.classList.toggle('has-unread', unread > 0);
    a.classList.toggle('has-urgent', urgent > 0);
    a.setAttribute('aria-label', [name, muted ? mutedLabel(r) : '', sub,
      urgent ? t('urgent_count', { n: urgent }) : '',
      mentions ? t('mention_count', { n: mentions }) : '',
      unread ? t('unread_count', { n: unread }) : '', prevEl.textContent].filter(Boolean).join('、'));
    if (this.current === r.id) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}
