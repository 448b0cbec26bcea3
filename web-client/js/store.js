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
      };
      this.rooms.set(r.id, r);
    }
    r.kind = summary.kind;
    r.title = summary.title;
    r.town = summary.town;
    r.last_seq = Math.max(r.last_seq, summary.last_seq ?? 0);
    r.read_seq = Math.max(r.read_seq, summary.read_seq ?? 0);
    if ('muted_until' in summary) r.muted_until = summary.muted_until; // 5.5
    if (summary.resident && !r.resident) r.resident = summary.resident; // 5.2; the full profile comes with the room
    return r;
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
