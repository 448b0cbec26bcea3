// Client state: rooms, the loaded window of each timeline, read positions, and the outbox.
// Views read from it; only the controller mutates it, and tells the views what changed.

export class Store {
  constructor() {
    this.user = null;
    this.rooms = new Map();
    this.outbox = new Map(); // client_id -> {client_id, room, body, kind, status, error, created}
    this.loadOutbox();
  }

  // ---- rooms ----

  upsertRoom(summary) {
    let r = this.rooms.get(summary.room);
    if (!r) {
      r = {
        id: summary.room,
        kind: summary.kind,
        title: summary.title,
        town: summary.town,
        last_seq: 0,
        read_seq: 0,
        resident: null,
        members: null,
        messages: new Map(),
        hi: null, // highest seq of the contiguous loaded window (null: nothing subscribed yet)
        lo: null, // lowest loaded seq (window is lo..hi; empty when lo > hi)
        loadingOlder: false,
        readers: new Map(), // user id -> {user, seq, at}
        audience: null,
        receiptsLoaded: false,
        lastMsg: null,
        urgent: 0, // unread urgent notes (PROTOCOL 5.2 RoomSummary.urgent), kept live
        mentions: 0, // unread notes that mention the user
        countedHi: 0, // the last_seq the hub's counts above were taken at
        confirms: new Map(), // seq -> {count, users: Map id -> {user, at} | null, mine}
        pending: null, // {seq, users}: who has not read message seq (receipts with seq)
      };
      this.rooms.set(r.id, r);
    }
    r.kind = summary.kind;
    r.title = summary.title;
    r.town = summary.town;
    r.last_seq = Math.max(r.last_seq, summary.last_seq ?? 0);
    r.read_seq = Math.max(r.read_seq, summary.read_seq ?? 0);
    if (summary.last_seq >= r.countedHi) {
      r.urgent = summary.urgent ?? 0;
      r.mentions = summary.mentions ?? 0;
      r.countedHi = summary.last_seq ?? 0;
    }
    if ('muted_until' in summary) r.muted_until = summary.muted_until; // 5.5
    if (summary.resident && !r.resident) r.resident = summary.resident; // 5.2; the full profile comes with the room
    return r;
  }

  /** A note that mentions the signed-in user. */
  mentionsMe(m) {
    return !!this.user && (m.mentions ?? []).some((x) => x.id === this.user.id);
  }

  /** The user's read position moved from `from` to `r.read_seq`: the urgent and mention counts
   *  lose the notes now read (those held; the hub's next summary corrects the rest). */
  readMoved(r, from) {
    if (r.read_seq >= r.last_seq) { r.urgent = 0; r.mentions = 0; return; }
    for (const m of r.messages.values()) {
      if (m.seq <= from || m.seq > r.read_seq || (m.seq > r.countedHi && m.counted !== true)) continue;
      if (this.user && m.author.id === this.user.id) continue;
      if (m.priority === 'urgent') r.urgent = Math.max(0, r.urgent - 1);
      if (this.mentionsMe(m)) r.mentions = Math.max(0, r.mentions - 1);
    }
  }

  removeRoom(id) {
    this.rooms.delete(id);
    for (const [cid, item] of this.outbox) if (item.room === id) this.outbox.delete(cid);
    this.saveOutbox();
  }

  unread(r) { return Math.max(0, r.last_seq - r.read_seq); }

  /** Where a subscribe should resume: the last seq this client holds, or just before the newest
   *  message on the first subscribe so that the room list gets its preview. */
  sinceFor(r) {
    if (r.hi !== null) return r.hi;
    const since = Math.max(0, r.last_seq - 1);
    r.hi = since;
    r.lo = since + 1;
    return since;
  }

  /** Adds messages; returns the ones that are new to this client, in seq order. */
  addMessages(roomId, msgs) {
    const r = this.rooms.get(roomId);
    if (!r) return [];
    const added = [];
    for (const m of msgs) {
      if (r.messages.has(m.seq)) continue; // never twice
      r.messages.set(m.seq, m);
      added.push(m);
      if (r.hi === null || m.seq > r.hi) r.hi = m.seq;
      if (r.lo === null || m.seq < r.lo) r.lo = m.seq;
      if (m.seq > r.last_seq) r.last_seq = m.seq;
      if (!r.lastMsg || m.seq > r.lastMsg.seq) r.lastMsg = m;
      // `confirms` comes with history pages; a message event (live or catch-up) has none, so
      // its confirmations are asked for (`confirms`) once it is on screen.
      if (typeof m.confirms === 'number') this.setConfirmCount(r, m.seq, m.confirms);
      else this.confirmOf(r, m.seq).unknown = true;
      // Counted live: a note newer than the hub's counts, by someone else, not read yet.
      if (m.seq > r.countedHi && m.seq > r.read_seq && !(this.user && m.author.id === this.user.id)) {
        if (m.priority === 'urgent') r.urgent += 1;
        if (this.mentionsMe(m)) r.mentions += 1;
        m.counted = true;
      }
      // Posting moves the author's read position to the new message.
      this.applyRead(r, m.author, m.seq, m.at);
      if (this.user && m.author.id === this.user.id) r.read_seq = Math.max(r.read_seq, m.seq);
      if (m.client_id && this.outbox.has(m.client_id) && this.user && m.author.id === this.user.id) {
        this.outbox.delete(m.client_id);
        this.saveOutbox();
      }
    }
    added.sort((a, b) => a.seq - b.seq);
    return added;
  }

  sortedMessages(r) {
    return [...r.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The highest seq that reading `seq` covers: it and the revisions right after it, which are
   *  shown in their original's place, not as notes of their own (so they are read with it). */
  readThrough(r, seq) {
    let s = seq;
    while (r.hi !== null && s < r.hi) {
      const next = r.messages.get(s + 1);
      if (!next || !(next.replaces || next.retracts)) break;
      s += 1;
    }
    return s;
  }

  // ---- confirmations (確認しました) ----

  confirmOf(r, seq) {
    let c = r.confirms.get(seq);
    if (!c) { c = { count: 0, users: null, mine: false }; r.confirms.set(seq, c); }
    return c;
  }

  setConfirmCount(r, seq, count) {
    const c = this.confirmOf(r, seq);
    if (!c.users) c.count = Math.max(c.count, count);
  }

  /** The `confirms` reply: every confirmation of message seq. */
  setConfirmUsers(r, seq, users) {
    const c = this.confirmOf(r, seq);
    c.users = new Map(users.map((x) => [x.user.id, x]));
    c.count = c.users.size;
    c.unknown = false;
    c.mine = !!this.user && c.users.has(this.user.id);
  }

  /** A `confirmed` event (or the ack of one's own `confirm`); returns true when it is new. */
  addConfirm(r, seq, user, at) {
    const c = this.confirmOf(r, seq);
    const mine = !!this.user && user.id === this.user.id;
    if (c.users) {
      if (c.users.has(user.id)) return false;
      c.users.set(user.id, { user, at });
      c.count = c.users.size;
    } else {
      c.seen ??= new Set();
      if (c.seen.has(user.id) || (mine && c.mine)) return false;
      c.seen.add(user.id);
      c.count += 1;
    }
    if (mine) c.mine = true;
    return true;
  }

  /** A gap between the window's top and a newly arrived seq (should never happen; healed). */
  gapBefore(r, seq) {
    if (r.hi === null) return null;
    return seq > r.hi + 1 ? { from: r.hi + 1, to: seq - 1 } : null;
  }

  // ---- read positions ----

  applyRead(r, user, seq, at) {
    const cur = r.readers.get(user.id);
    if (cur) cur.user = { ...cur.user, ...user }; // profiles fill in (receipt events carry only the name)
    if (cur && (cur.seq > seq || (cur.seq === seq && (cur.at || !at)))) return false;
    r.readers.set(user.id, { user: cur?.user ?? { ...user }, seq, at });
    return true;
  }

  setReceipts(roomId, audience, readers) {
    const r = this.rooms.get(roomId);
    if (!r) return;
    r.audience = audience;
    for (const rd of readers) this.applyRead(r, rd.user, rd.seq, rd.at);
    r.receiptsLoaded = true;
  }

  /** Readers of message m: every user whose read position reaches it, but not its author. */
  readersOf(r, m) {
    const out = [];
    for (const rd of r.readers.values()) {
      if (rd.seq >= m.seq && rd.user.id !== m.author.id) out.push(rd);
    }
    out.sort((a, b) => (a.at < b.at ? -1 : 1));
    return out;
  }

  /** "read by N of M": M counts everyone who may read the room except the author. */
  audienceFor(r, m) {
    const audience = r.audience ?? (r.kind === 'team' && r.members ? r.members.length : null);
    if (audience == null) return null;
    const authorCounted = r.kind === 'team'
      ? (r.members ?? []).some((x) => x.id === m.author.id) || r.readers.has(m.author.id)
      : r.readers.has(m.author.id);
    return Math.max(0, audience - (authorCounted ? 1 : 0));
  }

  memberProfile(r, userId) {
    return (r.members ?? []).find((x) => x.id === userId) ?? null;
  }

  // ---- outbox ----

  addOutbox(item) {
    this.outbox.set(item.client_id, item);
    this.saveOutbox();
  }

  outboxFor(roomId) {
    return [...this.outbox.values()].filter((x) => x.room === roomId).sort((a, b) => a.created - b.created);
  }

  saveOutbox() {
    try {
      sessionStorage.setItem('yui.outbox', JSON.stringify([...this.outbox.values()]));
    } catch { /* ignore */ }
  }

  loadOutbox() {
    try {
      const items = JSON.parse(sessionStorage.getItem('yui.outbox') || '[]');
      for (const it of items) {
        if (it.status !== 'failed') it.status = 'pending';
        it.inflight = false;
        this.outbox.set(it.client_id, it);
      }
    } catch { /* ignore */ }
  }
}
