// Care notes are records: nothing is erased. An edit (`replaces`) or a retraction (`retracts`)
// is a message of its own (PROTOCOL.md 5.2), shown in its original's place with the latest
// version's text and a mark (編集済み / 取り消し); the earlier versions on request.

export const isRevision = (m) => m.replaces != null || m.retracts != null;
export const targetOf = (m) => m.replaces ?? m.retracts ?? null;

/**
 * The notes of a timeline, in seq order (`msgs` sorted): each original with its revisions,
 * oldest first. A revision whose original is not loaded yet is left out: the original, when
 * loaded (scrolling up), carries it.
 * @returns {{msg: object, revisions: object[]}[]}
 */
export function notesOf(msgs) {
  const revs = new Map();
  for (const m of msgs) {
    const t = targetOf(m);
    if (t === null) continue;
    if (!revs.has(t)) revs.set(t, []);
    revs.get(t).push(m);
  }
  const out = [];
  for (const m of msgs) if (targetOf(m) === null) out.push({ msg: m, revisions: revs.get(m.seq) ?? [] });
  return out;
}

/** What a note shows: the latest version's text, its mark, and the earlier versions (the
 *  original first). `seq` is the version the note now stands for (confirmations go to it). */
export function stateOf({ msg, revisions }) {
  const latest = revisions.length ? revisions[revisions.length - 1] : null;
  const retracted = latest !== null && latest.retracts != null;
  return {
    latest,
    retracted,
    edited: latest !== null && !retracted,
    body: latest ? latest.body : msg.body,
    seq: latest ? latest.seq : msg.seq,
    versions: latest ? [msg, ...revisions.slice(0, -1)] : [],
    // The hub says a revision exists that this client has not loaded (never expected: a
    // revision is newer than its original, and the loaded window reaches the newest message).
    revisedUnseen: !latest && msg.revised != null,
  };
}
