// "Who has read this": a modal dialog with each reader's name, profession, organization and
// time, "read by N of M", and who has not read it yet (with their organization: whom to phone).
import { t, profession } from '../i18n.js';
import { fullTime } from '../format.js';
import { el } from './dom.js';

export class ReadersDialog {
  constructor(store) {
    this.store = store;
    this.dialog = document.getElementById('readers-dialog');
    this.trigger = null;
    this.current = null; // {roomId, msg}
    document.getElementById('readers-close').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      this.current = null;
      if (this.trigger?.isConnected) this.trigger.focus();
    });
  }

  open(roomId, msg, trigger) {
    this.current = { roomId, msg };
    this.trigger = trigger;
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  refresh(roomId) {
    if (this.current && this.current.roomId === roomId && this.dialog.open) this.render();
  }

  render() {
    const { roomId, msg } = this.current;
    const r = this.store.rooms.get(roomId);
    if (!r) { this.dialog.close(); return; }
    const readers = this.store.readersOf(r, msg);
    const total = this.store.audienceFor(r, msg);
    document.getElementById('readers-title').textContent = t('readers_title');
    document.getElementById('readers-summary').textContent = total !== null
      ? t('read_by_of', { n: readers.length, m: total })
      : t('read_by', { n: readers.length });
    const list = document.getElementById('readers-list');
    if (!readers.length) {
      list.replaceChildren(el('li', { class: 'none' }, t('readers_none')));
    } else {
      list.replaceChildren(...readers.map((rd) => {
        const prof = rd.user.profession ?? this.store.memberProfile(r, rd.user.id)?.profession;
        const org = rd.user.org ?? this.store.memberProfile(r, rd.user.id)?.org ?? '';
        return el('li', { 'data-user': rd.user.id },
          el('span', {}, el('span', { class: 'who' }, rd.user.name), prof ? el('span', { class: 'prof' }, profession(prof)) : null),
          el('time', { class: 'when', datetime: rd.at }, rd.at ? t('read_at', { t: fullTime(rd.at) }) : ''),
          el('span', { class: 'org' }, org));
      }));
    }
    // Who has not read it yet: the hub's `pending` (receipts with seq, PROTOCOL 5.2: the whole
    // audience, town rooms too), else, in a team room, the members not among the readers.
    const block = document.getElementById('unread-block');
    const readIds = new Set(readers.map((x) => x.user.id));
    let unread = null;
    if (r.pending && r.pending.seq === msg.seq) {
      unread = r.pending.users.map((u) => u.user ?? u).filter((u) => u.id !== msg.author.id && !readIds.has(u.id));
    } else if (r.kind === 'team' && r.members) {
      unread = r.members.filter((m) => m.id !== msg.author.id && !readIds.has(m.id));
    }
    block.hidden = !unread || unread.length === 0;
    document.getElementById('unread-heading').textContent = unread ? t('unread_members_n', { n: unread.length }) : t('unread_members');
    document.getElementById('unread-list').replaceChildren(...(unread ?? []).map((m) => el('li', { 'data-user': m.id },
      el('span', {}, el('span', { class: 'who' }, m.name), m.profession ? el('span', { class: 'prof' }, profession(m.profession)) : null),
      el('span', { class: 'org' }, m.org ?? this.store.memberProfile(r, m.id)?.org ?? ''))));
  }
}
