// Who may do what (PROTOCOL.md 2, 4, 5.4), as the UI needs to know it: the hub decides, this only
// keeps buttons away from those who would be refused. And the one collation for Japanese lists.

/** Coordinators of the town and admins manage a town's rooms. */
export function managesTown(user, town) {
  return user?.role === 'admin' || (user?.role === 'coordinator' && user.town === town);
}

/** A team room's managers: its owners, the coordinators of its town, admins. */
export function managesRoom(user, r) {
  if (!user || !r || r.kind !== 'team') return false;
  return managesTown(user, r.town) || (r.members ?? []).some((m) => m.id === user.id && m.role === 'owner');
}

/** Coordinators and admins: new rooms, the directory, the access log. */
export function isCoordinator(user) {
  return user?.role === 'admin' || user?.role === 'coordinator';
}

const collator = new Intl.Collator('ja');

/** Residents, household members and team members in 五十音 order: by kana when given, else name. */
export function byKana(a, b) {
  return collator.compare(a.kana || a.name || '', b.kana || b.name || '') || collator.compare(a.name || '', b.name || '');
}

export function compareJa(a, b) { return collator.compare(a, b); }
