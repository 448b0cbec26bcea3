// "Who confirmed this" (確認しました): a modal dialog with each confirmation's name, profession,
// organization and time, from the `confirms` reply, updated by live `confirmed` events.
import { t, profession } from '../i18n.js';
import { fullTime } from '../format.js';
import { el } from './dom.js';

export class ConfirmsDialog {
  constructor(store) {
    this.store = store;
    this.dialog = document.getElementById('confirms-dialog');
    this.trigger = null;
    this.current = null; // {roomId, seq}
    document.getElementById('confirms-close').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      this.current = null;
      if (this.trigger?.isConnected) this.trigger.focus();
    });
  }

  open(roomId, seq, trigger) {
    this.current = { roomId, seq };
    this.trigger = trigger;
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  refresh(roomId, seq) {
    if (this.current && this.current.roomId === roomId && (seq === undefined || this.current.seq === seq) && this.dialog.open) this.render();
  }

  render() {
    const { roomId, seq } = this.current;
    const r = this.store.rooms.get(roomId);
    if (!r) { this.dialog.close(); return; }
    const c = this.store.confirmOf(r, seq);
    document.getElementById('confirms-title').textContent = t('confirms_title');
    document.getElementById('confirms-summary').textContent = t('confirmed_by', { n: c.count });
    const list = document.getElementById('confirms-list');
    if (!c.users) {
      list.replaceChildren(el('li', { class: 'none' }, t('loading')));
      return;
    }
    const users = [...c.users.values()].sort((a, b) => (a.at < b.at ? -1 : 1));
    if (!users.length) {
      list.replaceChildren(el('li', { class: 'none' }, t('confirms_none')));
      return;
    }
    list.replaceChildren(...users.map(({ user, at }) => {
      const p = this.store.memberProfile(r, user.id);
      const prof = user.profession ?? p?.profession;
      const org = user.org ?? p?.org ?? '';
      const me = user.id === this.store.user?.id;
      return el('li', { 'data-user': user.id },
        el('span', {}, el('span', { class: 'who' }, user.name, me ? ` (${t('you')})` : ''), prof ? el('span', { class: 'prof' }, profession(prof)) : null),
        el('time', { class: 'when', datetime: at }, t('confirmed_at', { t: fullTime(at) })),
        el('span', { class: 'org' }, org));
    }));
  }
}
