// Drafts of the composer, one per user and room, in sessionStorage: they survive a reload (and a
// crash of the tab's page) but not the closing of the tab, and signing out forgets them, as it
// forgets the token and the outbox: a shared device at the station keeps no care note behind.

const PREFIX = 'yui.draft:';

const keyOf = (user, room) => PREFIX + JSON.stringify([user, room]);

export function loadDraft(user, room) {
  if (!user || !room) return '';
  try { return sessionStorage.getItem(keyOf(user, room)) ?? ''; } catch { return ''; }
}

/** Saves the draft; an empty one is removed. */
export function saveDraft(user, room, text) {
  if (!user || !room) return;
  try {
    if (text) sessionStorage.setItem(keyOf(user, room), text);
    else sessionStorage.removeItem(keyOf(user, room));
  } catch { /* storage full or refused: the draft lives in the page only */ }
}

export function clearDrafts() {
  try {
    for (let i = sessionStorage.length - 1; i >= 0; i--) {
      const k = sessionStorage.key(i);
      if (k?.startsWith(PREFIX)) sessionStorage.removeItem(k);
    }
  } catch { /* ignore */ }
}
