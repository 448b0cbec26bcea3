// The controller: signs in, runs the connection, keeps the store in step with the hub's frames,
// and tells the views what changed. Everything here speaks PROTOCOL.md and nothing else.
import { t, getLang, setLang, applyStatic, onLangChange, profession } from './i18n.js';
import { Connection } from './connection.js';
import { Store } from './store.js';
import { api } from './api.js';
import { takeTokenFromFragment, storedToken, storeToken, clearSession, claimsOf } from './auth.js';
import { saveDraft } from './drafts.js';
import { RoomListView } from './views/roomlist.js';
import { RoomView } from './views/roomview.js';
import { ReadersDialog } from './views/readers.js';
import { ConfirmsDialog } from './views/confirms.js';
import { ImageViewer } from './views/viewer.js';
import { SignInView } from './views/signin.js';
import { blobUrl, forgetBlobs, DEFAULT_MAX_BYTES } from './attachments.js';
import { el } from './views/dom.js';
import { registerServiceWorker, closeRoomNotifications } from './pwa.js';
import { TownTools } from './town.js';
import { setupPush } from './notify.js';

const TRANSIENT = new Set(['disconnected', 'timeout', 'unavailable', 'rate_limited', 'internal', 'stopped']);
const HISTORY_PAGE = 50;
const UNREAD_PAGE = 200; // the hub's largest history page
const CONTEXT_ABOVE = 5; // read notes loaded above the first unread one, for context
const MAX_UNREAD_LOAD = 1000; // more unread than this: the room opens at the oldest of these

const store = new Store();
let conn = null;
let token = null;
let demoUsers = null;
let hubConfig = null;
let refreshTimer = null;
let bannerTimer = null;
const detailsFetched = new Set();
const sessionTag = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 10);
let clientCounter = 0;

const $ = (id) => document.getElementById(id);

const actions = {
  loadOlder,
  send,
  read: markRead,
  showReaders(room, msg, btn) {
    readers.open(room, msg, btn);
    // Fresh positions, with each reader's profession and organization, and (with `seq`) who
    // has not read it yet: whom to phone. In a town room only its posters may ask that (the
    // list is the town's directory); others get the readers alone.
    const r = store.rooms.get(room);
    const poster = store.user?.role === 'coordinator' || store.user?.role === 'admin';
    loadReceipts(room, r?.kind === 'team' || poster ? msg.seq : undefined);
  },
  confirm,
  showConfirms(room, seq, btn) {
    confirms.open(room, seq, btn);
    loadConfirms(room, seq, true);
  },
  loadConfirms,
  revise,
  openImage(att, btn) { viewer.open(att, btn); },
  openPdf,
  token: () => token,
  maxBytes: () => hubConfig?.max_attachment_bytes ?? DEFAULT_MAX_BYTES,
  retry(clientId) {
    const item = store.outbox.get(clientId);
    if (!item) return;
    item.status = 'pending';
    item.error = null;
    store.saveOutbox();
    renderRoom();
    flush(item);
  },
  discard(clientId) {
    store.outbox.delete(clientId);
    store.saveOutbox();
    renderRoom();
    $('composer-input').focus();
  },
};

const roomList = new RoomListView(store);
const roomView = new RoomView(store, actions);
const readers = new ReadersDialog(store);
const confirms = new ConfirmsDialog(store);
const viewer = new ImageViewer(() => token);
const signin = new SignInView((tok) => signIn(tok));
const push = setupPush({ getToken: () => token, getConfig: () => hubConfig, onError: (m) => showBanner(m) });
const town = new TownTools({
  store,
  token: () => token,
  config: () => hubConfig,
  jumpTo,
  roomsChanged: () => roomList.render(),
  roomChanged(id) {
    roomList.render();
    if (roomView.roomId === id) roomView.renderHead();
  },
  banner: (text) => showBanner(text),
  announce(text) { $('announcer').textContent = text; },
  displayName: (r) => roomList.displayName(r),
  /** A post over the WebSocket (the scan of a consent); null when not connected. */
  post: (frame) => (conn?.connected ? conn.request({ type: 'post', ...frame }) : null),
});
roomView.onHead = (r) => town.onHead(r);
roomView.sendBlock = (r) => town.sendBlock(r);
setInterval(() => roomList.render(), 60000); // a mute that ends takes its icon with it

// ---------------------------------------------------------------- session

async function boot() {
  applyStatic();
  $('lang-toggle').addEventListener('click', () => setLang(getLang() === 'ja' ? 'en' : 'ja'));
  $('signout').addEventListener('click', () => signOut());
  $('back-link').addEventListener('click', (e) => { e.preventDefault(); location.hash = ''; });
  onLangChange(relabel);
  window.addEventListener('hashchange', onHashChange);
  registerServiceWorker({
    onOpenRoom(room) { location.hash = `#room/${encodeURIComponent(room)}`; },
    onUpdated() { showBanner(t('app_updated')); },
  });

  const fromFragment = takeTokenFromFragment();
  if (fromFragment) {
    const prev = storedToken();
    if (prev && claimsOf(prev)?.sub !== claimsOf(fromFragment)?.sub) clearSession();
    storeToken(fromFragment);
  }
  token = storedToken();
  // The hub says what it is; only a demo hub is asked for its users (no 404 elsewhere).
  try { hubConfig = await api.config(); } catch { hubConfig = null; }
  try { demoUsers = hubConfig?.demo ? await api.demoUsers() : null; } catch { demoUsers = null; }
  if (token) startSession(); else showSignIn();
}

function showSignIn(message) {
  $('app-view').hidden = true;
  $('conn').hidden = true;
  $('me').hidden = true;
  $('signout').hidden = true;
  signin.show(demoUsers, message);
}

function signIn(tok) {
  clearSession();
  token = tok;
  storeToken(tok);
  startSession();
}

function startSession() {
  signin.hide();
  $('app-view').hidden = false;
  $('conn').hidden = false;
  $('signout').hidden = false;
  conn = new Connection({
    getToken: () => token,
    onWelcome,
    onEvent,
    onState: renderConnState,
    onAuthFailure(reason) {
      endSession();
      showSignIn(reason === 'expired' ? t('session_expired') : t('token_invalid'));
    },
  });
  conn.start();
  push.signedIn();
  roomList.render(); // before the welcome: the rooms are on their way (shown offline)
  route();
}

function endSession() {
  if (conn) conn.stop();
  conn = null;
  clearTimeout(refreshTimer);
  clearSession();
  token = null;
  store.user = null;
  store.rooms.clear();
  store.outbox.clear();
  detailsFetched.clear();
  roomView.attach.forget();
  for (const d of ['readers-dialog', 'confirms-dialog', 'viewer-dialog']) if ($(d).open) $(d).close();
  forgetBlobs(); // no photo or PDF of the care record stays in the page
  town.reset();
  roomView.close();
  roomList.render();
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
}

function signOut() {
  push.signingOut(token);
  endSession();
  showSignIn();
}

/** A fresh token for the same user is swapped in with `refresh`; another user's starts over. */
async function useNewToken(tok) {
  const sub = claimsOf(tok)?.sub;
  if (conn && store.user && sub === store.user.id && conn.connected) {
    try {
      await conn.request({ type: 'refresh', token: tok });
      token = tok;
      storeToken(tok);
      scheduleRefresh();
    } catch (e) {
      showBanner(t('reload_needed'));
    }
    return;
  }
  endSession();
  signIn(tok);
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const exp = claimsOf(token)?.exp;
  if (!exp) return;
  const ms = exp * 1000 - Date.now() - 120000;
  if (ms > 2 ** 31 - 1) return;
  refreshTimer = setTimeout(async () => {
    // In demo mode the hub hands out fresh tokens; a real identity provider would redirect back
    // here with #token=…, which onHashChange turns into a `refresh`.
    const users = hubConfig?.demo ? await api.demoUsers().catch(() => null) : null;
    const mine = users?.find((u) => u.id === store.user?.id);
    if (mine && mine.token !== token) useNewToken(mine.token);
    else showBanner(t('refresh_prompt'));
  }, Math.max(0, ms));
}

function onHashChange() {
  const tok = takeTokenFromFragment();
  if (tok) { useNewToken(tok); return; }
  route();
}

// ---------------------------------------------------------------- hub frames

function onWelcome(w) {
  store.user = w.user;
  renderMe();
  const listed = new Set(w.rooms.map((r) => r.room));
  for (const id of [...store.rooms.keys()]) {
    if (!listed.has(id)) removedFromRoom(id); // removed while we were away
  }
  for (const s of w.rooms) store.upsertRoom(s);
  roomList.render();
  town.onSession();
  for (const r of store.rooms.values()) subscribe(r);
  for (const r of store.rooms.values()) fetchDetails(r);
  for (const item of store.outbox.values()) if (item.status === 'sent' || item.status === 'waiting') item.status = 'pending';
  for (const item of store.outbox.values()) flush(item);
  if (roomView.roomId) loadReceipts(roomView.roomId);
  route();
  roomView.maybeMarkRead(); // a read that the outage interrupted
  scheduleRefresh();
}

function subscribe(r) {
  const since = store.sinceFor(r);
  conn.request({ type: 'subscribe', room: r.id, since }).then((rep) => {
    r.last_seq = Math.max(r.last_seq, rep.last_seq);
    r.read_seq = Math.max(r.read_seq, rep.read_seq);
    if (rep.members) r.members = rep.members;
    roomList.render();
    if (roomView.roomId === r.id) { roomView.renderHead(); roomView.render(); }
  }).catch((e) => {
    if (e.code === 'not_found' || e.code === 'forbidden') removedFromRoom(r.id);
  });
}

async function fetchDetails(r) {
  if (r.kind !== 'team' || detailsFetched.has(r.id)) return;
  detailsFetched.add(r.id);
  try {
    const d = await api.room(token, r.id);
    r.resident = d.resident ?? null;
    if (!r.members) r.members = d.members;
    roomList.render();
    if (roomView.roomId === r.id) roomView.renderHead();
  } catch {
    detailsFetched.delete(r.id);
  }
}

function onEvent(ev) {
  switch (ev.type) {
    case 'message': return onMessage(ev);
    case 'receipt': return onReceipt(ev);
    case 'confirmed': return onConfirmed(ev);
    case 'room_added': {
      const r = store.upsertRoom(ev.room);
      roomList.render();
      subscribe(r);
      fetchDetails(r);
      town.onRoomListed(r.id);
      return;
    }
    case 'room_updated': { // a team room's title or resident changed (town tools)
      if (!store.rooms.has(ev.room.room)) return;
      store.upsertRoom(ev.room);
      roomList.render();
      town.refreshRoom(ev.room.room); // the whole profile and the members, then the views
      return;
    }
    case 'unsubscribed':
      if (ev.reason === 'removed') removedFromRoom(ev.room);
      return;
    case 'error':
      console.warn('hub error', ev.code, ev.message);
      return;
    default:
      return;
  }
}

function onMessage(ev) {
  const r = store.rooms.get(ev.room);
  if (!r) return;
  const { type, ...msg } = ev; // eslint-disable-line no-unused-vars
  const gap = store.gapBefore(r, msg.seq);
  const added = store.addMessages(r.id, [msg]);
  if (gap) healGap(r, gap); // never expected (the hub is gapless); healed all the same
  if (!added.length) return;
  roomList.render();
  if (roomView.roomId === r.id) {
    roomView.render();
    roomView.noticeNew(added);
    readers.refresh(r.id);
  }
}

async function healGap(r, gap) {
  try {
    const rep = await conn.request({ type: 'history', room: r.id, before: gap.to + 1, limit: Math.min(200, gap.to - gap.from + 1) });
    store.addMessages(r.id, rep.messages);
    roomList.render();
    if (roomView.roomId === r.id) roomView.render();
  } catch { /* the next resume fills it */ }
}

function onReceipt(ev) {
  const r = store.rooms.get(ev.room);
  if (!r) return;
  store.applyRead(r, ev.user, ev.seq, ev.at);
  if (r.pending && ev.seq >= r.pending.seq) r.pending.users = r.pending.users.filter((u) => u.id !== ev.user.id);
  if (store.user && ev.user.id === store.user.id) {
    const from = r.read_seq;
    r.read_seq = Math.max(r.read_seq, ev.seq);
    store.readMoved(r, from);
    scheduleSummaries(r);
    roomList.render();
  }
  if (roomView.roomId === r.id) {
    roomView.render();
    readers.refresh(r.id);
  }
}

function onConfirmed(ev) {
  const r = store.rooms.get(ev.room);
  if (!r || !store.addConfirm(r, ev.seq, ev.user, ev.at)) return;
  if (roomView.roomId === r.id) roomView.render();
  confirms.refresh(r.id, ev.seq);
}

/** 確認しました: the explicit acknowledgement of a note (apart from the passive 既読). */
const confirmsSent = new Set(); // room\nseq: a second click while the first is on its way sends nothing

async function confirm(roomId, seq) {
  const r = store.rooms.get(roomId);
  if (!r || !conn?.connected || !store.user) { showBanner(t('confirm_offline')); return; }
  const key = `${roomId}\n${seq}`;
  if (confirmsSent.has(key)) return;
  confirmsSent.add(key);
  try {
    await conn.request({ type: 'confirm', room: roomId, seq });
    store.addConfirm(r, seq, { id: store.user.id, name: store.user.name, profession: store.user.profession, org: store.user.org }, new Date().toISOString());
    if (roomView.roomId === roomId) roomView.render();
    confirms.refresh(roomId, seq);
    roomView.announcer.textContent = t('confirmed_announce');
    loadConfirms(roomId, seq, true); // the hub's list (a confirmation from another device counts once)
  } catch (e) {
    confirmsSent.delete(key);
    showBanner(t('confirm_failed', { msg: e.message || e.code }));
  }
}

const confirmsInFlight = new Set();

/** Who confirmed message seq (`confirms`); `force`: again even when known. */
async function loadConfirms(roomId, seq, force = false) {
  const r = store.rooms.get(roomId);
  const key = `${roomId}\n${seq}`;
  if (!r || !conn?.connected || confirmsInFlight.has(key)) return;
  if (!force && r.confirms.get(seq)?.users) return;
  confirmsInFlight.add(key);
  try {
    const rep = await conn.request({ type: 'confirms', room: roomId, seq });
    store.setConfirmUsers(r, seq, rep.users);
    if (roomView.roomId === roomId) roomView.render();
    confirms.refresh(roomId, seq);
  } catch { /* asked again when shown again */ } finally {
    confirmsInFlight.delete(key);
  }
}

/** An edit (`replaces`) or a retraction (`retracts`, the body its reason) of one's own note:
 *  a post of its own, through the outbox like any other (retried with its client_id). It keeps
 *  the original's priority: a corrected urgent note is urgent news again. */
function revise(roomId, msg, mode, body, mentions) {
  const r = store.rooms.get(roomId);
  if (!r) return;
  const item = newItem(r, body, { priority: msg.priority ?? 'normal', mentions, attachments: [] });
  if (mode === 'edit') item.replaces = msg.seq; else item.retracts = msg.seq;
  store.addOutbox(item);
  renderRoom();
  flush(item);
}

/** A PDF in a new tab, from a blob: URL (the download needs the bearer token). The tab is
 *  opened at the click, so no popup blocker stops it, and pointed at the PDF once fetched. */
async function openPdf(att) {
  const w = window.open('', '_blank');
  try {
    const url = await blobUrl(token, att.id, false);
    if (w && !w.closed) {
      w.location.href = url;
      w.opener = null;
    } else {
      const a = el('a', { href: url, download: att.name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    }
  } catch {
    w?.close();
    showBanner(t('attach_load_failed'));
  }
}

let summaryTimer = null;

/** The urgent and mention counts are kept live from the notes held; the hub's own counts
 *  (`GET /api/me/rooms`) correct them a moment after reading leaves some standing. */
function scheduleSummaries(r) {
  if (!(r.urgent > 0 || r.mentions > 0) || summaryTimer) return;
  summaryTimer = setTimeout(async () => {
    summaryTimer = null;
    if (!token || !store.user) return;
    try {
      const rep = await api.myRooms(token);
      for (const s of rep?.rooms ?? []) if (store.rooms.has(s.room)) store.upsertRoom(s);
      roomList.render();
    } catch { /* the next welcome brings them */ }
  }, 2000);
}

function removedFromRoom(id) {
  const wasOpen = roomView.roomId === id;
  saveDraft(store.user?.id, id, ''); // the room is gone for this user: so is the draft
  roomView.attach.forget(id);
  store.removeRoom(id);
  detailsFetched.delete(id);
  roomList.render();
  if (wasOpen) {
    location.hash = '';
    showBanner(t('room_removed'));
  }
}

async function loadReceipts(roomId, seq) {
  if (!conn?.connected) return;
  try {
    const rep = await conn.request(seq ? { type: 'receipts', room: roomId, seq } : { type: 'receipts', room: roomId });
    store.setReceipts(roomId, rep.audience, rep.readers);
    const r = store.rooms.get(roomId);
    if (r && seq && Array.isArray(rep.pending)) r.pending = { seq, users: rep.pending };
    if (roomView.roomId === roomId) roomView.render();
    readers.refresh(roomId);
  } catch { /* shown again on the next receipt or reconnect */ }
}

const olderInFlight = new Map(); // room -> promise of the history page being loaded

/** Loads the page of history just below the loaded window; resolves true when it came. A call
 *  while a page is loading joins it. */
function loadOlder(roomId, limit = HISTORY_PAGE) {
  const r = store.rooms.get(roomId);
  if (olderInFlight.has(roomId)) return olderInFlight.get(roomId);
  if (!r || !(r.lo > 1) || !conn?.connected) return Promise.resolve(false);
  r.loadingOlder = true;
  if (roomView.roomId === r.id) roomView.render();
  const p = (async () => {
    let ok = false;
    try {
      const rep = await conn.request({ type: 'history', room: r.id, before: r.lo, limit });
      store.addMessages(r.id, rep.messages);
      if (!rep.more) r.lo = Math.min(r.lo, 1);
      ok = true;
    } catch { /* the button stays for another try */ }
    olderInFlight.delete(roomId);
    r.loadingOlder = false;
    if (roomView.roomId === r.id) roomView.render();
    roomList.render();
    return ok;
  })();
  olderInFlight.set(roomId, p);
  return p;
}

/** A room just opened: loads its history down to the first unread note (a few read ones above
 *  it), then lets the view scroll there. Nothing is marked read before that. */
async function openAtUnread(roomId) {
  if (pendingJump?.room === roomId) { await runJump(roomId); return; }
  const r = store.rooms.get(roomId);
  if (r && r.lo !== null && r.last_seq > r.read_seq) {
    const target = Math.max(1, r.read_seq + 1 - CONTEXT_ABOVE, r.last_seq - MAX_UNREAD_LOAD + 1);
    while (roomView.roomId === roomId && store.rooms.get(roomId) === r && r.lo > target) {
      const lo = r.lo;
      if (!(await loadOlder(roomId, Math.min(UNREAD_PAGE, r.lo - target))) || r.lo >= lo) break;
    }
  }
  if (roomView.roomId === roomId) roomView.position();
}

let pendingJump = null; // {room, seq}: a search result on its way to being shown

/** Opens a room at a note (a search result): history is loaded down to it, then it is flashed. */
function jumpTo(roomId, seq) {
  if (!store.rooms.has(roomId)) return;
  pendingJump = { room: roomId, seq };
  if (roomView.roomId === roomId) runJump(roomId);
  else location.hash = `#room/${encodeURIComponent(roomId)}`;
}

async function runJump(roomId) {
  const j = pendingJump;
  pendingJump = null;
  const r = store.rooms.get(roomId);
  const target = Math.max(1, j.seq - CONTEXT_ABOVE);
  while (roomView.roomId === roomId && store.rooms.get(roomId) === r && r.lo > target) {
    const lo = r.lo;
    if (!(await loadOlder(roomId, Math.min(UNREAD_PAGE, r.lo - target))) || r.lo >= lo) break;
  }
  if (roomView.roomId === roomId) roomView.positionAt(j.seq);
}

// ---------------------------------------------------------------- reading

const readInFlight = new Map(); // room -> highest seq sent

function markRead(roomId, seq) {
  const r = store.rooms.get(roomId);
  if (!r || !conn?.connected || !store.user) return;
  if ((readInFlight.get(roomId) ?? 0) >= seq || r.read_seq >= seq) return;
  readInFlight.set(roomId, seq);
  conn.request({ type: 'read', room: roomId, seq }).then((ack) => {
    const from = r.read_seq;
    r.read_seq = Math.max(r.read_seq, ack.seq);
    store.readMoved(r, from);
    scheduleSummaries(r);
    store.applyRead(r, store.user, ack.seq, new Date().toISOString());
    roomList.render();
    if (roomView.roomId === roomId) roomView.render();
  }).catch(() => {}).finally(() => {
    if (readInFlight.get(roomId) === seq) readInFlight.delete(roomId);
  });
}

// ---------------------------------------------------------------- posting

function newItem(r, body, { priority = 'normal', mentions = [], attachments = [] } = {}) {
  return {
    client_id: `web-${sessionTag}-${++clientCounter}`,
    room: r.id,
    body,
    kind: r.kind === 'town' ? 'notice' : 'note',
    priority,
    mentions,
    attachments, // Attachment objects (shown while pending); their ids are posted
    status: 'pending',
    error: null,
    attempts: 0,
    created: Date.now(),
  };
}

function send(roomId, body, extra) {
  const r = store.rooms.get(roomId);
  if (!r) return;
  const item = newItem(r, body, extra);
  store.addOutbox(item);
  renderRoom();
  flush(item);
}

/** Posts an outbox item; transient failures retry by themselves with the same client_id. */
async function flush(item) {
  if (!store.outbox.has(item.client_id) || item.inflight) return;
  if (item.status === 'failed' || item.status === 'sent') return;
  if (!conn?.connected) { item.status = 'waiting'; renderRoom(); return; } // the next welcome flushes it
  item.inflight = true;
  try {
    const frame = { type: 'post', room: item.room, client_id: item.client_id, body: item.body, kind: item.kind };
    // Only what a post has (a v1 hub ignores nothing it does not know, but sends no more).
    if (item.priority === 'urgent') frame.priority = 'urgent';
    if (item.mentions?.length) frame.mentions = item.mentions;
    if (item.attachments?.length) frame.attachments = item.attachments.map((a) => a.id);
    if (item.replaces != null) frame.replaces = item.replaces;
    if (item.retracts != null) frame.retracts = item.retracts;
    const ack = await conn.request(frame);
    item.status = 'sent';
    item.seq = ack.seq;
    const r = store.rooms.get(item.room);
    if (r?.messages.has(ack.seq)) store.outbox.delete(item.client_id);
  } catch (e) {
    if (TRANSIENT.has(e.code)) {
      item.status = 'retrying';
      item.attempts += 1;
      if (e.code !== 'disconnected' && e.code !== 'stopped') {
        const delay = Math.min(15000, 500 * 2 ** Math.min(item.attempts, 5)) * (0.5 + Math.random() / 2);
        setTimeout(() => flush(item), delay);
      } // else: the next welcome flushes the outbox
    } else {
      item.status = 'failed';
      item.error = e.message || e.code;
    }
  } finally {
    item.inflight = false;
    store.saveOutbox();
    renderRoom();
  }
}

// ---------------------------------------------------------------- rendering

function renderRoom() {
  if (roomView.roomId) roomView.render();
}

function route() {
  const m = /^#room\/(.+)$/.exec(location.hash);
  const id = m ? decodeURIComponent(m[1]) : null;
  const layout = $('app-view');
  if (id && store.rooms.has(id)) {
    const fresh = roomView.roomId !== id;
    layout.classList.add('in-room');
    roomList.setCurrent(id);
    if (fresh) {
      roomView.open(id);
      closeRoomNotifications(id);
      openAtUnread(id);
      loadReceipts(id);
      fetchDetails(store.rooms.get(id));
      town.onRoomOpened(id);
    }
  } else if (id && !store.user) {
    layout.classList.add('in-room'); // rooms are not known until welcome; route() runs again then
  } else {
    const was = roomView.roomId;
    layout.classList.remove('in-room');
    roomView.close();
    town.onRoomClosed();
    roomList.setCurrent(null);
    if (was) document.querySelector(`.room-item[data-room="${CSS.escape(was)}"]`)?.focus();
  }
}

function renderConnState(state) {
  const box = $('conn');
  box.dataset.state = state;
  box.querySelector('.conn-text').textContent = t(`state_${state === 'idle' ? 'connecting' : state}`);
}

function renderMe() {
  const u = store.user;
  const me = $('me');
  if (!u) { me.hidden = true; return; }
  me.hidden = false;
  me.replaceChildren(el('span', {}, `${u.name} · ${profession(u.profession)}`));
  if (u.role && u.role !== 'member') me.append(el('span', { class: 'role' }, t(`role_${u.role}`)));
}

function showBanner(text) {
  const b = $('banner');
  b.textContent = text;
  b.hidden = false;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { b.hidden = true; }, 10000);
}

function relabel() {
  applyStatic();
  renderMe();
  if (conn) renderConnState(conn.state);
  roomList.render();
  roomView.relabel();
  if (!$('signin-view').hidden) signin.renderUsers();
}

boot();
