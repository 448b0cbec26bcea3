// What the client knows: rooms, their messages, read positions and members. One owner (the
// app); views only read it.

export class Room {
  constructor(summary) {
    this.id = summary.room;
    this.kind = summary.kind;
    this.title = summary.title;
    this.town = summary.town;
    this.lastSeq = summary.last_seq;
    this.readSeq = summary.read_seq;
    this.resident = null;
    this.members = [];
    this.messages = new Map(); // seq -> message
    this.lowest = null; // lowest seq loaded
    this.more = summary.last_seq > 0; // older messages may exist on the hub
    this.receipts = new Map(); // user id -> { user, seq, at }
    this.audience = 0;
    this.subscribed = false;
  }

  update(summary) {
    this.title = summary.title;
    this.lastSeq = Math.max(this.lastSeq, summary.last_seq);
    this.readSeq = Math.max(this.readSeq, summary.read_seq);
  }

  /** The highest seq received on the subscription (what `since` resumes from). */
  get seen() {
    let max = 0;
    for (const s of this.messages.keys()) if (s > max) max = s;
    return max;
  }

  get unread() {
    return Math.max(0, this.lastSeq - this.readSeq);
  }

  add(m) {
    const isNew = !this.messages.has(m.seq);
    this.messages.set(m.seq, m);
    if (this.lowest === null || m.seq < this.lowest) this.lowest = m.seq;
    if (m.seq > this.lastSeq) this.lastSeq = m.seq;
    if (this.lowest <= 1) this.more = false;
    return isNew;
  }

  sorted() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  last() {
    let best = null;
    for (const m of this.messages.values()) if (!best || m.seq > best.seq) best = m;
    return best;
  }

  /** Who (other than the author) has read message `m`. */
  readersOf(m) {
    return [...this.receipts.values()].filter((r) => r.user.id !== m.author.id && r.seq >= m.seq);
  }

  setReceipt(user, seq, at) {
    const old = this.receipts.get(user.id);
    if (!old || seq > old.seq) {
      // Receipt events carry id and name only; keep the profession known from members.
      const member = this.members.find((x) => x.id === user.id);
      this.receipts.set(user.id, { user: { ...(old?.user ?? {}), ...(member ?? {}), ...user }, seq, at });
    }
  }
}
