// One room: header with the resident and the members, the timeline (day separators, 既読 N / M,
// pending posts, the 「ここから未読」 divider), history on scrolling up, the composer (a draft per
// room, attachments, 至急, @mentions), and marking read what is really shown. Each note shows its
// latest version (編集済み / 取り消し, earlier versions on request), its attachments, its
// mentions, and 確認しました with who confirmed.
import { t, profession } from '../i18n.js';
import { dayKey, dayLabel, timeOf, fullTime, codePoints, validateBody, isBlank, MAX_BODY } from '../format.js';
import { loadDraft, saveDraft } from '../drafts.js';
import { blobUrl, formatSize, isImage } from '../attachments.js';
import { MentionCompleter, mentionedIds, highlighted } from '../mentions.js';
import { notesOf, stateOf, targetOf } from '../revisions.js';
import { AttachBar } from './attachbar.js';
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
   * @param {object} actions {loadOlder(room), send(room, body, extra), read(room, seq),
   *   showReaders(room, msg, btn), retry(client_id), discard(client_id), confirm(room, seq),
   *   showConfirms(room, seq, btn), loadConfirms(room, seq), revise(room, msg, mode, body, mentions),
   *   openImage(att, btn), openPdf(att, btn), token(), maxBytes()}
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
    this.urgentBtn = this.$('urgent-toggle');
    this.editing = null; // {seq, mode: 'edit'|'retract'}: the note whose revision form is open
    this.attach = new AttachBar({
      token: () => this.actions.token(),
      maxBytes: () => this.actions.maxBytes(),
      showError: (msg) => this.showError(msg),
      changed: () => {},
    });
    this.mention = new MentionCompleter({
      input: this.input,
      list: this.$('mention-list'),
      members: () => (this.room?.kind === 'team' ? this.room.members : null),
      selfId: () => this.store.user?.id,
    });
    this.urgentBtn.addEventListener('click', () => this.setUrgent(this.urgentBtn.getAttribute('aria-pressed') !== 'true'));

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
      if (this.mention.keydown(e)) return; // the @completion's arrows, Enter/Tab and Esc
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
      this.editing = null;
      this.setUrgent(false);
      this.mention.close();
      this.attach.open(roomId);
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
    this.editing = null;
    this.mention.close();
    this.attach.open(null);
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
      const notes = notesOf(this.store.sortedMessages(r));
      this.follow(notes.length ? this.nodes.get(`m:${notes[notes.length - 1].msg.seq}`) : null);
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
    this.attach.box.replaceChildren(); // the chips' texts too
    this.attach.render();
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
    const notes = notesOf(msgs);
    const shownSeqs = new Set(notes.map((e) => e.msg.seq));
    // Pending edits and retractions are shown at their original; the others as pending notes.
    const pending = [];
    const revising = new Map(); // original seq -> outbox item
    for (const p of this.store.outboxFor(r.id)) {
      const target = targetOf(p);
      if (target !== null && shownSeqs.has(target)) revising.set(target, p); else pending.push(p);
    }
    const me = this.store.user?.id;
    const dividerAt = this.readFloor === null ? null
      : notes.find((e) => e.msg.seq > this.readFloor && e.msg.author.id !== me)?.msg.seq ?? null;
    const want = [];
    let lastDay = null;
    for (const entry of notes) {
      const m = entry.msg;
      const d = dayKey(m.at);
      if (m.seq === dividerAt) {
        if (d !== lastDay) { want.push([`d:${d}`, () => this.dayNode(m.at)]); lastDay = d; }
        want.push(['u:divider', () => this.dividerNode()]);
      }
      if (d !== lastDay) { want.push([`d:${d}`, () => this.dayNode(m.at)]); lastDay = d; }
      const rev = revising.get(m.seq) ?? null;
      want.push([`m:${m.seq}`, () => this.messageNode(r, m), (n) => this.updateMessage(n, r, entry, rev)]);
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
    const urgent = m.priority === 'urgent';
    const forMe = !mine && this.store.mentionsMe(m);
    const li = el('li', {
      class: `msg${mine ? ' mine' : ''}${r.kind === 'town' ? ' notice' : ''}${urgent ? ' urgent' : ''}${forMe ? ' mentions-me' : ''}`,
      'data-seq': m.seq, 'data-id': m.id, 'data-client-id': m.client_id, 'data-status': 'sent',
      'data-author': m.author.id,
    });
    const time = el('time', { class: 'msg-time', datetime: m.at, title: fullTime(m.at) }, timeOf(m.at));
    const flags = [];
    // Not colour alone: the band is red, and the label says 至急 (an icon and the word).
    if (urgent) flags.push(el('span', { class: 'flag flag-urgent' }, el('span', { 'aria-hidden': 'true' }, '⚠ '), t('urgent')));
    if (forMe) flags.push(el('span', { class: 'flag flag-mention' }, el('span', { 'aria-hidden': 'true' }, '@ '), t('mentions_you')));
    const meta = el('div', { class: 'msg-meta' },
      ...flags,
      el('span', { class: 'msg-author' }, m.author.name),
      el('span', { class: 'msg-prof' }, profession(m.author.profession)),
      el('span', { class: 'msg-org' }, m.author.org),
      time);
    const body = el('div', { class: 'msg-body' });
    const mark = el('p', { class: 'msg-mark', hidden: true });
    const files = this.filesNode(m.attachments);
    const versions = el('details', { class: 'msg-versions', hidden: true }, el('summary', {}), el('ol', {}));
    const edit = el('div', { class: 'msg-edit', hidden: true });
    const revStatus = el('p', { class: 'msg-rev-status', role: 'status', hidden: true });
    const confirm = el('span', { class: 'confirm-box' });
    const btn = el('button', { type: 'button', class: 'receipt-btn' });
    btn.addEventListener('click', () => {
      const st = stateOf({ msg: m, revisions: this.revisionsOf(r, m.seq) });
      this.actions.showReaders(r.id, st.latest ?? m, btn);
    });
    const foot = el('div', { class: 'msg-foot' }, confirm, btn);
    if (mine) {
      foot.append(el('span', { class: 'own-actions' },
        el('button', { type: 'button', class: 'btn-link edit-btn', onclick: () => this.startRevision(m.seq, 'edit') }, t('edit')),
        el('button', { type: 'button', class: 'btn-link retract-btn', onclick: () => this.startRevision(m.seq, 'retract') }, t('retract'))));
      foot.append(el('span', { class: 'msg-status' }, t('status_sent')));
    }
    li.append(meta, body, mark, files ?? '', versions, edit, revStatus, foot);
    return li;
  }

  revisionsOf(r, seq) {
    return this.store.sortedMessages(r).filter((x) => targetOf(x) === seq);
  }

  /** The attachments of a note: image thumbnails (opening the viewer) and PDFs (a new tab). */
  filesNode(atts) {
    if (!atts?.length) return null;
    const token = this.actions.token();
    return el('ul', { class: 'msg-files' }, ...atts.map((a) => {
      if (isImage(a.type)) {
        const img = el('img', { class: 'thumb-img', alt: a.name, width: a.width && a.height ? Math.min(160, Math.round(160 * a.width / Math.max(a.width, a.height))) : null });
        const b = el('button', { type: 'button', class: 'thumb', 'data-attachment': a.id, 'aria-label': t('open_image', { name: a.name }) },
          img, el('span', { class: 'thumb-loading', 'aria-hidden': 'true' }, '…'));
        b.addEventListener('click', () => this.actions.openImage(a, b));
        blobUrl(token, a.id, true).then((url) => { img.src = url; b.classList.add('loaded'); }, () => b.classList.add('broken'));
        return el('li', {}, b);
      }
      const b = el('button', { type: 'button', class: 'file-pdf', 'data-attachment': a.id, 'aria-label': t('open_pdf', { name: a.name }) },
        el('span', { class: 'file-icon', 'aria-hidden': 'true' }, 'PDF'),
        el('span', { class: 'file-name' }, a.name),
        el('span', { class: 'file-size' }, formatSize(a.size)));
      b.addEventListener('click', () => this.actions.openPdf(a, b));
      return el('li', {}, b);
    }));
  }

  updateMessage(li, r, entry, rev) {
    const m = entry.msg;
    const st = stateOf(entry);
    const me = this.store.user?.id;
    const mine = m.author.id === me;
    const sig = `${st.seq}:${st.retracted}:${entry.revisions.length}`;
    if (li.dataset.sig !== sig) {
      li.dataset.sig = sig;
      li.classList.toggle('retracted', st.retracted);
      li.classList.toggle('edited', st.edited);
      li.dataset.version = String(st.seq);
      const body = li.querySelector('.msg-body');
      if (st.retracted) {
        body.replaceChildren(el('span', { class: 'retract-label' }, t('retract_reason')),
          st.body ? st.body : el('span', { class: 'muted' }, t('retract_no_reason')));
      } else {
        body.replaceChildren(...highlighted(st.body, (st.latest ?? m).mentions, me));
      }
      body.hidden = !st.body && !st.retracted && !!m.attachments?.length;
      const mark = li.querySelector('.msg-mark');
      mark.hidden = !st.latest && !st.revisedUnseen;
      mark.replaceChildren();
      if (st.latest) {
        mark.append(el('span', { class: `mark ${st.retracted ? 'mark-retracted' : 'mark-edited'}` }, t(st.retracted ? 'retracted' : 'edited')),
          ' ', el('time', { datetime: st.latest.at, title: fullTime(st.latest.at) }, fullTime(st.latest.at)));
      } else if (st.revisedUnseen) {
        mark.append(el('span', { class: 'mark mark-edited' }, t('edited')));
      }
      const versions = li.querySelector('.msg-versions');
      versions.hidden = st.versions.length === 0;
      if (st.versions.length) {
        versions.querySelector('summary').textContent = t('earlier_versions', { n: st.versions.length });
        versions.querySelector('ol').replaceChildren(...st.versions.map((v, i) => el('li', { 'data-seq': v.seq },
          el('span', { class: 'v-head' }, el('span', { class: 'v-label' }, t(i === 0 ? 'version_original' : 'version_edit', { n: i })), ' ',
            el('time', { datetime: v.at }, fullTime(v.at))),
          el('div', { class: 'v-body' }, v.body || t('retract_no_reason')))));
      }
      const own = li.querySelector('.own-actions');
      if (own) own.hidden = st.retracted;
      if (st.retracted && this.editing?.seq === m.seq) this.editing = null;
    }

    // The revision form (edit in place, or the retraction's reason).
    const editBox = li.querySelector('.msg-edit');
    const editing = this.editing?.seq === m.seq ? this.editing.mode : '';
    if (editBox.dataset.mode !== editing) {
      editBox.dataset.mode = editing;
      editBox.replaceChildren();
      editBox.hidden = !editing;
      li.querySelector('.msg-body').classList.toggle('being-edited', editing === 'edit');
      if (editing) editBox.append(this.revisionForm(r, m, st, editing));
    }

    // A pending edit or retraction of this note.
    const rs = li.querySelector('.msg-rev-status');
    const rsKey = rev ? `${rev.client_id}:${rev.status}:${rev.error ?? ''}` : '';
    if (rs.dataset.key !== rsKey) {
      rs.dataset.key = rsKey;
      rs.hidden = !rev;
      rs.replaceChildren();
      if (rev) {
        const what = rev.retracts != null ? 'retract' : 'edit';
        rs.dataset.status = rev.status;
        rs.append(t(`rev_${what}_${rev.status === 'failed' ? 'failed' : 'pending'}`) + (rev.status === 'failed' && rev.error ? `: ${rev.error}` : ''));
        if (rev.status === 'failed') {
          rs.append(' ',
            el('button', { type: 'button', class: 'btn-link', onclick: () => this.actions.retry(rev.client_id) }, t('retry')),
            el('button', { type: 'button', class: 'btn-link', onclick: () => this.actions.discard(rev.client_id) }, t('discard')));
        }
      }
    }

    // 確認しました: a button for others' notes, the count (who, when) for every note.
    const box = li.querySelector('.confirm-box');
    const c = this.store.confirmOf(r, st.seq);
    const cKey = `${st.seq}:${c.count}:${c.mine}:${st.retracted}:${c.users ? 1 : 0}`;
    if (box.dataset.key !== cKey) {
      box.dataset.key = cKey;
      box.replaceChildren();
      if (!st.retracted) {
        if (!mine) {
          const cb = el('button', {
            type: 'button', class: `confirm-btn${c.mine ? ' done' : ''}`, 'aria-pressed': c.mine ? 'true' : 'false',
            'aria-label': t(c.mine ? 'confirmed_self_label' : 'confirm_label'),
          }, el('span', { 'aria-hidden': 'true' }, c.mine ? '✓ ' : ''), t(c.mine ? 'confirmed_self' : 'confirm'));
          cb.addEventListener('click', () => { if (!c.mine) this.actions.confirm(r.id, st.seq); });
          box.append(cb);
        }
        if (c.count > 0 || mine) {
          const count = el('button', {
            type: 'button', class: 'confirms-count', 'data-count': String(c.count),
            'aria-label': t('confirms_count_label', { n: c.count }),
          }, t('confirms_count', { n: c.count }));
          count.addEventListener('click', () => this.actions.showConfirms(r.id, st.seq, count));
          box.append(count);
        }
      }
    }

    const btn = li.querySelector('.receipt-btn');
    const shown = st.latest ?? m; // 既読 of the version shown: who has seen the correction
    const n = this.store.readersOf(r, shown).length;
    const total = this.store.audienceFor(r, shown);
    const text = total !== null ? t('read_by_of', { n, m: total }) : t('read_by', { n });
    if (btn.textContent !== text) {
      btn.textContent = text;
      btn.dataset.count = String(n);
      btn.setAttribute('aria-label', total !== null ? t('read_by_of_label', { n, m: total }) : t('read_by_label', { n }));
    }
  }

  startRevision(seq, mode) {
    this.editing = { seq, mode };
    this.render();
    const n = this.nodes.get(`m:${seq}`);
    n?.querySelector('.msg-edit textarea')?.focus();
  }

  cancelRevision() {
    const { seq, mode } = this.editing ?? {};
    this.editing = null;
    this.render();
    this.nodes.get(`m:${seq}`)?.querySelector(mode === 'retract' ? '.retract-btn' : '.edit-btn')?.focus();
  }

  /** Edit in place (the note's latest text, to correct) or retract with a reason. */
  revisionForm(r, m, st, mode) {
    const id = `rev-${m.seq}`;
    const input = el('textarea', { id, rows: mode === 'edit' ? 3 : 2, 'aria-describedby': `${id}-err` });
    input.value = mode === 'edit' ? st.body : '';
    const err = el('p', { id: `${id}-err`, class: 'form-error', role: 'alert' });
    const form = el('form', { class: `rev-form rev-${mode}`, novalidate: true },
      el('label', { for: id }, t(mode === 'edit' ? 'edit_label' : 'retract_label')),
      mode === 'retract' ? el('p', { class: 'hint' }, t('retract_hint')) : null,
      input, err,
      el('div', { class: 'rev-buttons' },
        el('button', { type: 'submit', class: mode === 'edit' ? 'btn-primary' : 'btn-danger' }, t(mode === 'edit' ? 'save_edit' : 'do_retract')),
        el('button', { type: 'button', class: 'btn-ghost', onclick: () => this.cancelRevision() }, t('cancel'))));
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); this.cancelRevision(); }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      let body = input.value;
      if (mode === 'edit') {
        const problem = validateBody(body) ?? (body === st.body ? t('edit_unchanged') : null);
        if (problem) { err.textContent = problem; input.focus(); return; }
      } else {
        if (isBlank(body)) body = '';
        if (codePoints(body) > MAX_BODY) { err.textContent = t('err_too_long', { n: codePoints(body), max: MAX_BODY }); input.focus(); return; }
      }
      const mentions = mode === 'edit' && r.kind === 'team' ? mentionedIds(body, r.members, this.store.user?.id) : [];
      this.editing = null;
      this.actions.revise(r.id, m, mode, body, mentions);
      this.nodes.get(`m:${m.seq}`)?.querySelector('.edit-btn')?.focus();
    });
    return form;
  }

  pendingNode(p) {
    const me = this.store.user;
    const li = el('li', { class: `msg mine${this.room?.kind === 'town' ? ' notice' : ''}${p.priority === 'urgent' ? ' urgent' : ''}`, 'data-client-id': p.client_id });
    const flags = p.priority === 'urgent' ? [el('span', { class: 'flag flag-urgent' }, el('span', { 'aria-hidden': 'true' }, '⚠ '), t('urgent'))] : [];
    const files = p.attachments?.length
      ? el('ul', { class: 'msg-files pending-files' }, ...p.attachments.map((a) => el('li', {}, el('span', { class: 'file-pdf' },
        el('span', { class: 'file-icon', 'aria-hidden': 'true' }, isImage(a.type) ? 'IMG' : 'PDF'), el('span', { class: 'file-name' }, a.name), el('span', { class: 'file-size' }, formatSize(a.size))))))
      : null;
    li.append(
      el('div', { class: 'msg-meta' },
        ...flags,
        el('span', { class: 'msg-author' }, me?.name ?? ''),
        el('span', { class: 'msg-prof' }, profession(me?.profession)),
        el('span', { class: 'msg-org' }, me?.org ?? '')),
      el('div', { class: 'msg-body', hidden: !p.body }, p.body),
      files ?? '',
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
    if (added.some((m) => targetOf(m) !== null)) this.maybeMarkRead(); // shown in a note on screen
    if (!others.length) return;
    const last = others[others.length - 1];
    const target = targetOf(last);
    const urgent = last.priority === 'urgent' ? `${t('urgent')}: ` : '';
    this.announcer.textContent = urgent + (target !== null
      ? t(last.retracts != null ? 'announce_retracted' : 'announce_edited', { name: last.author.name })
      : t('announce_new', { name: last.author.name, body: last.body.slice(0, 140) }));
    // Offered when a new note is out of sight below (not for the rest of a long one being read).
    const n = this.nodes.get(`m:${target ?? last.seq}`);
    if (this.positioned && n && target === null && this.contentTop(n) >= this.timeline.scrollTop + this.timeline.clientHeight) this.jump.hidden = false;
  }

  // ---- read marking: only what is on screen, in a visible tab ----

  onIntersect(entries) {
    for (const e of entries) {
      const seq = Number(e.target.dataset.seq);
      const root = e.rootBounds;
      const enough = e.isIntersecting && (e.intersectionRatio >= 0.5 || (root && e.intersectionRect.height >= root.height * 0.5));
      if (enough) this.visible.add(seq); else this.visible.delete(seq);
      // Whether this user has confirmed a note loaded from history is known only from `confirms`:
      // asked for the notes on screen that others have confirmed.
      if (e.isIntersecting) {
        const version = Number(e.target.dataset.version || seq);
        const r = this.room;
        const c = r?.confirms.get(version);
        if (c && !c.users && !c.mine && (c.count > 0 || c.unknown)) this.actions.loadConfirms(r.id, version);
      }
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
      // Revisions right after the note are shown in their originals (on screen): read with it.
      const through = this.store.readThrough(r, seq);
      if (through <= r.read_seq) return;
      const n = this.nodes.get(`m:${seq}`);
      if (n && this.shownNow(n, root)) { this.actions.read(r.id, through); return; }
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

  setUrgent(on) {
    this.urgentBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    this.$('composer').classList.toggle('is-urgent', on);
  }

  submit() {
    const r = this.room;
    if (!r) return;
    let body = this.input.value;
    const blocked = this.attach.blocker();
    if (blocked) {
      this.showError(blocked);
      return;
    }
    const attachments = this.attach.ready();
    // With an attachment the text may be empty (a photo says enough).
    if (attachments.length && isBlank(body)) body = '';
    const err = (body === '' && attachments.length ? null : validateBody(body)) ?? this.sendBlock?.(r) ?? null; // sendBlock: e.g. no consent
    if (err) {
      this.showError(err);
      this.input.focus();
      return;
    }
    this.showError('');
    this.mention.close();
    const priority = this.urgentBtn.getAttribute('aria-pressed') === 'true' ? 'urgent' : 'normal';
    const mentions = r.kind === 'team' ? mentionedIds(body, r.members, this.store.user?.id) : [];
    this.actions.send(r.id, body, { priority, mentions, attachments });
    this.attach.clear(r.id);
    this.setUrgent(false);
    this.input.value = '';
    saveDraft(this.store.user?.id, r.id, '');
    this.autosize();
    this.updateCount();
    this.input.focus();
    this.scrollToBottom();
  }
}
