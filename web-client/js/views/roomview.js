// One room: header with the resident and the members, the timeline (day separators, 既読 N / M,
// pending posts, the 「ここから未読」 divider), history on scrolling up, the composer (a draft per
// room), and marking read what is really shown.
import { t, profession } from '../i18n.js';
import { dayKey, dayLabel, timeOf, fullTime, codePoints, validateBody, MAX_BODY } from '../format.js';
import { loadDraft, saveDraft } from '../drafts.js';
import { el } from './dom.js';

const mq = (q) => window.matchMedia?.(q).matches ?? false;

/** A phone or tablet: its on-screen keyboard's Enter key is the only way to a new line, so there
 *  Enter makes a new line and the send button sends. A desktop with a mouse keeps Enter sends. */
export function isTouchDevice() {
  return mq('(pointer: coarse)') || mq('(hover: none)') || ('ontouchstart' in window && !mq('(pointer: fine)'));
}

const SCROLL_MARGIN = 8; // px left above a note scrolled to the top
const DIVIDER_MARGIN = 56; // px above the divider: the end of the last note already read

export class RoomView {
  /**
   * @param {import('../store.js').Store} store
   * @param {object} actions {loadOlder(room), send(room, body), read(room, seq), showReaders(room, msg, btn),
   *                          retry(client_id), discard(client_id)}
   */
  constructor(store, actions) {
    this.store = store;
    this.actions = actions;
    this.roomId = null;
    this.nodes = new Map(); // key -> element, for the open room
    this.visible = new Set(); // seqs shown on screen now
    // Until the controller has loaded the room down to its first unread note and called
    // position(), the view neither scrolls by itself nor marks anything read.
    this.positioned = false;
    this.readFloor = null; // read_seq when the room was opened with unread notes: the divider's place
    this.renderedHi = 0; // highest seq rendered so far: newer nodes are arrivals
    this.$ = (id) => document.getElementById(id);
    this.pane = this.$('room-pane');
    this.timeline = this.$('timeline');
    this.list = this.$('messages');
    this.input = this.$('composer-input');
    this.count = this.$('composer-count');
    this.error = this.$('composer-error');
    this.jump = this.$('jump-new');
    this.olderBtn = this.$('load-older');
    this.historyState = this.$('history-state');
    this.announcer = this.$('announcer');

    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), {
      root: this.timeline,
      threshold: [0, 0.5, 1],
    });
    this.timeline.addEventListener('scroll', () => this.onScroll(), { passive: true });
    document.addEventListener('visibilitychange', () => this.maybeMarkRead());
    window.addEventListener('focus', () => this.maybeMarkRead());
    this.olderBtn.addEventListener('click', () => this.actions.loadOlder(this.roomId));
    this.jump.addEventListener('click', () => {
      this.scrollToBottom();
      this.jump.hidden = true;
      this.timeline.focus();
    });

    const form = this.$('composer');
    form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.input.addEventListener('keydown', (e) => {
      // Never while an IME is composing (Japanese input): that Enter confirms the conversion.
      if (e.key !== 'Enter' || e.isComposing || e.keyCode === 229) return;
      // Ctrl/Cmd+Enter sends everywhere (a tablet with a keyboard too). Otherwise, on a desktop,
      // Enter sends and Shift+Enter is a new line; on a touch device Enter is a new line.
      if (e.ctrlKey || e.metaKey || (!e.shiftKey && !isTouchDevice())) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => {
      this.autosize();
      this.updateCount();
      if (this.error.textContent) this.showError('');
      saveDraft(this.store.user?.id, this.roomId, this.input.value);
    });
    for (const q of ['(pointer: coarse)', '(hover: none)']) {
      window.matchMedia?.(q).addEventListener?.('change', () => this.renderHead());
    }
  }

  get room() { return this.roomId ? this.store.rooms.get(this.roomId) : null; }

  open(roomId) {
    if (this.roomId !== roomId) {
      for (const n of this.nodes.values()) this.observer.unobserve(n);
      this.nodes.clear();
      this.visible.clear();
      this.list.replaceChildren();
      this.roomId = roomId;
      this.input.value = loadDraft(this.store.user?.id, roomId);
      requestAnimationFrame(() => this.autosize());
      this.showError('');
      this.jump.hidden = true;
      this.positioned = false;
      this.readFloor = null;
      this.renderedHi = 0;
    }
    this.pane.hidden = false;
    this.renderHead();
    this.render();
    this.$('room-title').focus();
  }

  close() {
    for (const n of this.nodes.values()) this.observer.unobserve(n);
    this.nodes.clear();
    this.visible.clear();
    this.list.replaceChildren();
    this.roomId = null;
    this.positioned = false;
    this.readFloor = null;
    this.pane.hidden = true;
  }

  /**
   * The room's notes are loaded down to the first unread one (or as far as they could be):
   * scroll to it, with the 「ここから未読」 divider above it, or, with nothing unread, to the end,
   * but never past the start of the newest note. From here on the view follows new notes and
   * marks read what is shown.
   */
  position() {
    const r = this.room;
    if (!r || this.positioned) return;
    this.readFloor = r.last_seq > r.read_seq ? r.read_seq : null;
    this.render();
    const divider = this.nodes.get('u:divider');
    if (divider) {
      this.scrollToStart(divider, DIVIDER_MARGIN);
    } else {
      const msgs = this.store.sortedMessages(r);
      this.follow(msgs.length ? this.nodes.get(`m:${msgs[msgs.length - 1].seq}`) : null);
    }
    this.positioned = true;
    this.jump.hidden = this.atBottom();
    // The observer's reports so far are of where the notes were before the scroll (and the scroll
    // may change nothing when all fits): measure what is on screen now.
    this.measureVisible();
    this.maybeMarkRead();
  }

  /** Opened at a note (a search result): scroll to it and flash it, instead of the first
   *  unread; marking read goes on from what is then shown. */
  positionAt(seq) {
    const r = this.room;
    if (!r) return;
    this.readFloor = r.last_seq > r.read_seq ? r.read_seq : null;
    this.render();
    const n = this.nodes.get(`m:${seq}`);
    if (!n) { this.positioned = false; this.position(); return; }
    this.scrollToStart(n, DIVIDER_MARGIN);
    this.positioned = true;
    this.jump.hidden = this.atBottom();
    n.classList.remove('flash');
    void n.offsetWidth; // restart the animation when the same note is found again
    n.classList.add('flash');
    n.setAttribute('tabindex', '-1');
    n.focus({ preventScroll: true });
    this.measureVisible();
    this.maybeMarkRead();
  }

  /** Language switched: rebuild the nodes (labels, dates), keeping the scroll position. */
  relabel() {
    if (!this.roomId) return;
    const top = this.timeline.scrollTop;
    for (const n of this.nodes.values()) this.observer.unobserve(n);
    this.nodes.clear();
    this.list.replaceChildren();
    this.renderHead();
    this.render();
    this.timeline.scrollTop = top;
  }

  isShown() {
    return this.roomId !== null && !this.pane.hidden && this.pane.offsetParent !== null;
  }

  // ---- header and members ----

  renderHead() {
    const r = this.room;
    if (!r) return;
    const me = this.store.user;
    const title = r.kind === 'team' && r.resident?.name ? r.resident.name : r.title;
    this.$('room-title').textContent = title;
    this.$('room-sub').textContent = r.kind === 'team'
      ? [r.title !== title ? r.title : '', r.resident?.id ? `${t('resident')} ${r.resident.id}` : ''].filter(Boolean).join(' · ')
      : t('notice_kind');
    this.timeline.setAttribute('aria-label', t('timeline_label', { room: title }));

    const members = this.$('members');
    members.hidden = r.kind !== 'team' || !r.members;
    if (r.kind === 'team' && r.members) {
      this.$('members-summary').textContent = t('members_count', { n: r.members.length });
      const items = [...r.members].sort((a, b) => a.name.localeCompare(b.name, 'ja')).map((m) => el('li', {},
        el('span', { class: 'who' }, m.name, m.id === me?.id ? ` (${t('you')})` : ''),
        el('span', { class: 'prof' }, profession(m.profession)),
        m.role === 'owner' ? el('span', { class: 'badge-role' }, t('role_owner')) : null,
        el('span', { class: 'org' }, m.org)));
      this.$('member-list').replaceChildren(...items);
    }

    const canPost = r.kind === 'team' || me?.role === 'coordinator' || me?.role === 'admin';
    this.$('composer').hidden = !canPost;
    this.$('readonly-note').hidden = canPost;
    this.$('readonly-note').textContent = canPost ? '' : t('notice_readonly');
    const touch = isTouchDevice();
    this.input.placeholder = t(`${r.kind === 'town' ? 'notice' : 'composer'}_placeholder${touch ? '_touch' : ''}`);
    this.input.setAttribute('enterkeyhint', touch ? 'enter' : 'send');
    this.updateCount();
    this.onHead?.(r); // the town tools (resident panel, room menu) follow the head
  }

  // ---- timeline ----

  render() {
    const r = this.room;
    if (!r) return;
    const wasAtBottom = this.atBottom();
    const anchor = wasAtBottom ? null : this.topAnchor();

    const msgs = this.store.sortedMessages(r);
    const pending = this.store.outboxFor(r.id);
    const me = this.store.user?.id;
    const dividerAt = this.readFloor === null ? null
      : msgs.find((m) => m.seq > this.readFloor && m.author.id !== me)?.seq ?? null;
    const want = [];
    let lastDay = null;
    for (const m of msgs) {
      const d = dayKey(m.at);
      if (m.seq === dividerAt) {
        if (d !== lastDay) { want.push([`d:${d}`, () => this.dayNode(m.at)]); lastDay = d; }
        want.push(['u:divider', () => this.dividerNode()]);
      }
      if (d !== lastDay) { want.push([`d:${d}`, () => this.dayNode(m.at)]); lastDay = d; }
      want.push([`m:${m.seq}`, () => this.messageNode(r, m), (n) => this.updateMessage(n, r, m)]);
    }
    for (const p of pending) {
      want.push([`p:${p.client_id}`, () => this.pendingNode(p), (n) => this.updatePending(n, p)]);
    }
    const keep = new Set(want.map((w) => w[0]));
    // Notes this page is sending (shown as pending until now): their arrival keeps the end in view.
    const sentHere = new Set([...this.nodes.keys()].filter((k) => k.startsWith('p:')).map((k) => k.slice(2)));
    for (const [k, n] of this.nodes) {
      if (!keep.has(k)) { this.observer.unobserve(n); n.remove(); this.nodes.delete(k); }
    }
    let prev = null;
    let arrival = null; // the first note (not sent from here) that came after what was shown
    for (const [key, make, update] of want) {
      let n = this.nodes.get(key);
      if (!n) {
        n = make();
        this.nodes.set(key, n);
        if (key.startsWith('m:')) {
          this.observer.observe(n);
          if (!arrival && Number(n.dataset.seq) > this.renderedHi && !sentHere.has(n.dataset.clientId)) arrival = n;
        }
      }
      if (update) update(n);
      const next = prev ? prev.nextSibling : this.list.firstChild;
      if (next !== n) this.list.insertBefore(n, next);
      prev = n;
    }

    const older = r.lo !== null && r.lo > 1;
    this.olderBtn.hidden = !older || r.loadingOlder;
    this.historyState.textContent = r.loadingOlder ? t('loading') : (!older && msgs.length ? t('beginning') : (!msgs.length && !older ? t('no_messages') : ''));

    if (msgs.length) this.renderedHi = Math.max(this.renderedHi, msgs[msgs.length - 1].seq);
    if (!this.positioned) {
      // Still loading down to the first unread note: position() scrolls.
    } else if (wasAtBottom) {
      this.follow(arrival);
    } else if (anchor) {
      const n = this.nodes.get(anchor.key);
      if (n) this.timeline.scrollTop = n.offsetTop - anchor.offset;
    }
    // Not enough to scroll: fetch older messages so the user can see some context.
    if (older && !r.loadingOlder && this.timeline.scrollHeight <= this.timeline.clientHeight + 40) {
      this.actions.loadOlder(r.id);
    }
  }

  atBottom() {
    const tl = this.timeline;
    return tl.scrollHeight - tl.scrollTop - tl.clientHeight < 48;
  }

  scrollToBottom() { this.timeline.scrollTop = this.timeline.scrollHeight; }

  /** Top of a node in the timeline's scrolled content. */
  contentTop(n) {
    return this.timeline.scrollTop + n.getBoundingClientRect().top - this.timeline.getBoundingClientRect().top;
  }

  scrollToStart(n, margin = SCROLL_MARGIN) { this.timeline.scrollTop = Math.max(0, this.contentTop(n) - margin); }

  /** To the end, but never past the start of `n` (a note taller than the screen is read from
   *  its start, not its end). */
  follow(n) {
    const tl = this.timeline;
    const end = tl.scrollHeight - tl.clientHeight;
    tl.scrollTop = n ? Math.min(end, Math.max(0, this.contentTop(n) - SCROLL_MARGIN)) : end;
  }

  topAnchor() {
    const top = this.timeline.scrollTop;
    for (const [key, n] of this.nodes) {
      if (n.offsetTop >= top) return { key, offset: n.offsetTop - top };
    }
    return null;
  }

  onScroll() {
    const r = this.room;
    if (!r) return;
    if (this.positioned && this.timeline.scrollTop < 80 && r.lo > 1 && !r.loadingOlder) this.actions.loadOlder(r.id);
    if (this.atBottom()) this.jump.hidden = true;
  }

  dayNode(at) {
    return el('li', { class: 'day' }, el('h3', {}, dayLabel(at)));
  }

  dividerNode() {
    return el('li', { class: 'unread-divider', role: 'separator', 'aria-label': t('unread_from_here') },
      el('span', {}, t('unread_from_here')));
  }

  messageNode(r, m) {
    const mine = m.author.id === this.store.user?.id;
    const li = el('li', {
      class: `msg${mine ? ' mine' : ''}${r.kind === 'town' ? ' notice' : ''}`,
      'data-seq': m.seq, 'data-id': m.id, 'data-client-id': m.client_id, 'data-status': 'sent',
      'data-author': m.author.id,
    });
    const time = el('time', { class: 'msg-time', datetime: m.at, title: fullTime(m.at) }, timeOf(m.at));
    const meta = el('div', { class: 'msg-meta' },
      el('span', { class: 'msg-author' }, m.author.name),
      el('span', { class: 'msg-prof' }, profession(m.author.profession)),
      el('span', { class: 'msg-org' }, m.author.org),
      time);
    const body = el('div', { class: 'msg-body' }, m.body);
    const btn = el('button', { type: 'button', class: 'receipt-btn' });
    btn.addEventListener('click', () => this.actions.showReaders(r.id, m, btn));
    const foot = el('div', { class: 'msg-foot' }, btn);
    if (mine) foot.append(el('span', { class: 'msg-status' }, t('status_sent')));
    li.append(meta, body, foot);
    return li;
  }

  updateMessage(li, r, m) {
    const btn = li.querySelector('.receipt-btn');
    const n = this.store.readersOf(r, m).length;
    const total = this.store.audienceFor(r, m);
    const text = total !== null ? t('read_by_of', { n, m: total }) : t('read_by', { n });
    if (btn.textContent !== text) {
      btn.textContent = text;
      btn.dataset.count = String(n);
      btn.setAttribute('aria-label', total !== null ? t('read_by_of_label', { n, m: total }) : t('read_by_label', { n }));
    }
  }

  pendingNode(p) {
    const me = this.store.user;
    const li = el('li', { class: `msg mine${this.room?.kind === 'town' ? ' notice' : ''}`, 'data-client-id': p.client_id });
    li.append(
      el('div', { class: 'msg-meta' },
        el('span', { class: 'msg-author' }, me?.name ?? ''),
        el('span', { class: 'msg-prof' }, profession(me?.profession)),
        el('span', { class: 'msg-org' }, me?.org ?? '')),
      el('div', { class: 'msg-body' }, p.body),
      el('div', { class: 'msg-foot' }, el('span', { class: 'msg-status', role: 'status' }), el('span', { class: 'msg-actions' })));
    return li;
  }

  updatePending(li, p) {
    if (li.dataset.status === p.status && li.dataset.err === (p.error ?? '')) return;
    li.dataset.status = p.status;
    li.dataset.err = p.error ?? '';
    const status = li.querySelector('.msg-status');
    status.textContent = t(`status_${p.status}`) + (p.status === 'failed' && p.error ? `: ${p.error}` : '');
    const actions = li.querySelector('.msg-actions');
    actions.replaceChildren();
    if (p.status === 'failed') {
      actions.append(
        el('button', { type: 'button', class: 'btn-link', onclick: () => this.actions.retry(p.client_id) }, t('retry')),
        el('button', { type: 'button', class: 'btn-link', onclick: () => this.actions.discard(p.client_id) }, t('discard')));
    }
  }

  /** New messages from others in the open room: told to screen readers, and offered below. */
  noticeNew(added) {
    const me = this.store.user?.id;
    const others = added.filter((m) => m.author.id !== me);
    if (!others.length) return;
    const last = others[others.length - 1];
    this.announcer.textContent = t('announce_new', { name: last.author.name, body: last.body.slice(0, 140) });
    // Offered when a new note is out of sight below (not for the rest of a long one being read).
    const n = this.nodes.get(`m:${last.seq}`);
    if (this.positioned && n && this.contentTop(n) >= this.timeline.scrollTop + this.timeline.clientHeight) this.jump.hidden = false;
  }

  // ---- read marking: only what is on screen, in a visible tab ----

  onIntersect(entries) {
    for (const e of entries) {
      const seq = Number(e.target.dataset.seq);
      const root = e.rootBounds;
      const enough = e.isIntersecting && (e.intersectionRatio >= 0.5 || (root && e.intersectionRect.height >= root.height * 0.5));
      if (enough) this.visible.add(seq); else this.visible.delete(seq);
    }
    this.maybeMarkRead();
  }

  /** Shown enough to count as read: at least half of the note, or half of the timeline. */
  shownNow(n, root) {
    const b = n.getBoundingClientRect();
    const h = Math.min(b.bottom, root.bottom) - Math.max(b.top, root.top);
    return h > 0 && (h >= b.height * 0.5 || h >= root.height * 0.5);
  }

  measureVisible() {
    const root = this.timeline.getBoundingClientRect();
    this.visible.clear();
    for (const [k, n] of this.nodes) {
      if (k.startsWith('m:') && this.shownNow(n, root)) this.visible.add(Number(n.dataset.seq));
    }
  }

  maybeMarkRead() {
    const r = this.room;
    if (!r || !this.positioned || document.visibilityState !== 'visible' || !this.isShown() || !this.visible.size) return;
    // The observer's reports can lag behind a scroll (one queued before it arrives after it):
    // the highest seq is checked against where its note is now before it is marked read.
    const root = this.timeline.getBoundingClientRect();
    for (const seq of [...this.visible].sort((a, b) => b - a)) {
      if (seq <= r.read_seq) return;
      const n = this.nodes.get(`m:${seq}`);
      if (n && this.shownNow(n, root)) { this.actions.read(r.id, seq); return; }
      this.visible.delete(seq);
    }
  }

  // ---- composer ----

  /** The composer grows with its text (up to the CSS max-height), so a note of several lines
   *  can be read over before it is sent, on a phone too. */
  autosize() {
    const i = this.input;
    const stick = this.roomId !== null && this.positioned && this.atBottom();
    i.style.height = 'auto';
    if (i.value) i.style.height = `${i.scrollHeight + i.offsetHeight - i.clientHeight}px`;
    if (stick) this.scrollToBottom(); // the timeline got shorter: keep its end in view
  }

  updateCount() {
    const n = codePoints(this.input.value);
    this.count.textContent = t('char_count', { n, max: MAX_BODY });
    this.count.classList.toggle('over', n > MAX_BODY);
  }

  showError(msg) {
    this.error.textContent = msg;
    if (msg) this.input.setAttribute('aria-invalid', 'true'); else this.input.removeAttribute('aria-invalid');
  }

  submit() {
    const r = this.room;
    if (!r) return;
    const body = this.input.value;
    const err = validateBody(body) ?? this.sendBlock?.(r) ?? null; // sendBlock: e.g. no consent
    if (err) {
      this.showError(err);
      this.input.focus();
      return;
    }
    this.showError('');
    this.actions.send(r.id, body);
    this.input.value = '';
    saveDraft(this.store.user?.id, r.id, '');
    this.autosize();
    this.updateCount();
    this.input.focus();
    this.scrollToBottom();
  }
}
