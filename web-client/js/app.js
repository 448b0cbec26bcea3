// Yui browser client: sign-in, rooms, timelines, 既読, notices. Speaks only the public protocol.
import { Connection, ProtocolError } from './connection.js';
import { Room } from './state.js';
import { t, profession, toggleLang, applyStatic, onLangChange } from './i18n.js';
import { time, day, dayKey, dateTime, codePoints, isBlank } from './format.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'yui.token';
const MAX_BODY = 4000;

const app = {
  conn: null,
  me: null,
  rooms: new Map(),
  current: null,
  posts: new Map(), // client_id -> { room, body, state, at }
  clientPrefix: `web-${Math.random().toString(36).slice(2, 10)}`,
  postCounter: 0,
  demo: false,
  readTimer: null,
};

// ---- sign-in -------------------------------------------------------------------------------

function takeTokenFromUrl() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    // The token never stays in the URL (history, screenshots, referrers).
    history.replaceState(null, '', location.pathname + location.search);
  }
}

function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return null;
  }
}

async function loadDemoUsers() {
  try {
    const r = await fetch('/api/demo/users');
    if (!r.ok) return null;
    return (await r.json()).users;
  } catch {
    return null;
  }
}

async function showSignIn(message) {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signout').hidden = true;
  $('me').textContent = '';
  $('signin-error').textContent = message ?? '';
  const users = await loadDemoUsers();
  app.demo = !!users;
  const list = $('demo-list');
  list.replaceChildren();
  $('demo-users').hidden = !users;
  for (const u of users ?? []) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'demo-user';
    b.dataset.user = u.id;
    b.innerHTML = `<strong></strong><span></span>`;
    b.querySelector('strong').textContent = u.name;
    b.querySelector('span').textContent = `${profession(u.profession)} · ${u.org}${u.role !== 'member' ? ` · ${u.role}` : ''}`;
    b.addEventListener('click', () => signIn(u.token));
    li.append(b);
    list.append(li);
  }
}

function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  start();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  app.conn?.stop();
  app.conn = null;
  app.rooms.clear();
  app.posts.clear();
  app.current = null;
  showSignIn();
}

// ---- connection ----------------------------------------------------------------------------

function start() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    showSignIn();
    return;
  }
  $('signin').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const conn = new Connection(`${proto}://${location.host}/ws`, token);
  app.conn = conn;
  renderConn('connecting');
  conn.addEventListener('state', (e) => renderConn(e.detail));
  conn.addEventListener('unauthorized', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(t('badToken'));
  });
  conn.addEventListener('expired', () => refreshToken(true));
  conn.addEventListener('welcome', (e) => onWelcome(e.detail));
  conn.addEventListener('message', (e) => onMessage(e.detail));
  conn.addEventListener('receipt', (e) => onReceipt(e.detail));
  conn.addEventListener('room_added', (e) => onRoomAdded(e.detail.room));
  conn.addEventListener('unsubscribed', (e) => onRemoved(e.detail.room));
  conn.start();
  scheduleRefresh(token);
}

function scheduleRefresh(token) {
  const claims = tokenClaims(token);
  if (!claims?.exp) return;
  const ms = claims.exp * 1000 - Date.now() - 60_000;
  setTimeout(() => refreshToken(false), Math.max(5_000, ms));
}

/** A fresh token: the demo hub hands them out; a town's identity provider would redirect. */
async function refreshToken(expired) {
  if (!app.demo || !app.me) {
    if (expired) signOut();
    return;
  }
  const users = await loadDemoUsers();
  const fresh = users?.find((u) => u.id === app.me.id)?.token;
  if (!fresh) return;
  sessionStorage.setItem(TOKEN_KEY, fresh);
  try {
    await app.conn.refresh(fresh);
  } catch {
    // Reconnecting: the next hello uses the fresh token.
  }
  scheduleRefresh(fresh);
}

async function onWelcome(w) {
  app.me = w.user;
  $('me').textContent = `${w.user.name}（${profession(w.user.profession)}）`;
  const listed = new Set(w.rooms.map((r) => r.room));
  for (const id of [...app.rooms.keys()]) if (!listed.has(id)) app.rooms.delete(id);
  for (const s of w.rooms) {
    const room = app.rooms.get(s.room);
    if (room) room.update(s);
    else app.rooms.set(s.room, new Room(s));
  }
  renderRooms();
  if (app.current && !app.rooms.has(app.current)) closeRoom();
  await Promise.all([...app.rooms.values()].map((r) => subscribe(r)));
  resendPosts();
  if (app.current) {
    await loadReceipts(app.rooms.get(app.current));
    renderRoom();
  }
}

/** Subscribes (again): after a reconnect, from the last seq seen, so nothing is missed or doubled. */
async function subscribe(room) {
  const seen = room.seen;
  const frame = { type: 'subscribe', room: room.id };
  if (seen > 0) frame.since = seen;
  try {
    const s = await app.conn.request(frame);
    room.subscribed = true;
    room.lastSeq = Math.max(room.lastSeq, s.last_seq);
    room.readSeq = Math.max(room.readSeq, s.read_seq);
    if (s.members) room.members = s.members;
    if (seen === 0 && s.last_seq > 0) await loadOlder(room, 30);
    if (room.kind === 'team' && !room.resident) loadResident(room);
  } catch (e) {
    if (e instanceof ProtocolError && e.code === 'not_found') app.rooms.delete(room.id);
  }
  renderRooms();
}

async function loadResident(room) {
  try {
    const r = await fetch(`/api/rooms/${encodeURIComponent(room.id)}`, { headers: { Authorization: `Bearer ${app.conn.token}` } });
    if (!r.ok) return;
    const info = await r.json();
    room.resident = info.resident ?? null;
    room.members = info.members ?? room.members;
    renderRooms();
    if (app.current === room.id) renderRoomHead();
  } catch {
    // Not essential: the title is shown instead.
  }
}

async function loadOlder(room, limit = 50) {
  const frame = { type: 'history', room: room.id, limit };
  if (room.lowest !== null) frame.before = room.lowest;
  const h = await app.conn.request(frame);
  for (const m of h.messages) room.add(m);
  room.more = h.more;
}

async function loadReceipts(room) {
  if (!room) return;
  try {
    const r = await app.conn.request({ type: 'receipts', room: room.id });
    room.audience = r.audience;
    for (const x of r.readers) room.setReceipt(x.user, x.seq, x.at);
  } catch {
    // Shown again after the next receipt event or reconnect.
  }
}

function onMessage(m) {
  const room = app.rooms.get(m.room);
  if (!room) return;
  room.add(m);
  if (m.author.id === app.me?.id) {
    room.readSeq = Math.max(room.readSeq, m.seq);
    room.setReceipt(m.author, m.seq, m.at);
    for (const [cid, p] of app.posts) if (cid === m.client_id) app.posts.delete(cid);
  }
  renderRooms();
  if (app.current === m.room) {
    const nearBottom = isNearBottom();
    renderMessages();
    if (nearBottom || m.author.id === app.me?.id) scrollToBottom();
    if (m.author.id !== app.me?.id) announce(t('newMessage', m.author.name));
  }
}

function onReceipt(r) {
  const room = app.rooms.get(r.room);
  if (!room) return;
  room.setReceipt(r.user, r.seq, r.at);
  if (r.user.id === app.me?.id) room.readSeq = Math.max(room.readSeq, r.seq);
  renderRooms();
  if (app.current === r.room) renderMessages();
}

function onRoomAdded(s) {
  if (!app.rooms.has(s.room)) {
    const room = new Room(s);
    app.rooms.set(s.room, room);
    subscribe(room);
  }
  renderRooms();
}

function onRemoved(id) {
  app.rooms.delete(id);
  if (app.current === id) closeRoom();
  renderRooms();
}

// ---- posting -------------------------------------------------------------------------------

function validate(body) {
  if (isBlank(body)) return t('empty');
  const n = codePoints(body);
  if (n > MAX_BODY) return t('tooLong', n);
  return null;
}

function send(e) {
  e?.preventDefault();
  const room = app.rooms.get(app.current);
  const input = $('body');
  const body = input.value;
  const problem = validate(body);
  $('compose-error').textContent = problem ?? '';
  if (problem || !room) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  input.removeAttribute('aria-invalid');
  const clientId = `${app.clientPrefix}-${++app.postCounter}`;
  app.posts.set(clientId, { room: room.id, body, state: 'pending', at: new Date().toISOString() });
  input.value = '';
  updateCount();
  renderMessages();
  scrollToBottom();
  deliver(clientId);
}

/** Sends (or re-sends, with the same client_id) until the hub acks. */
async function deliver(clientId) {
  const p = app.posts.get(clientId);
  if (!p || p.inFlight) return;
  p.inFlight = true;
  try {
    await app.conn.request({ type: 'post', room: p.room, client_id: clientId, body: p.body });
    const still = app.posts.get(clientId);
    if (still) still.state = 'sent';
  } catch (e) {
    const retryable = !(e instanceof ProtocolError) || ['unavailable', 'internal', 'rate_limited'].includes(e.code);
    if (retryable) {
      p.state = 'failed';
      setTimeout(() => deliver(clientId), 1500 + Math.random() * 1500);
    } else {
      app.posts.delete(clientId);
      if (app.current === p.room) $('compose-error').textContent = e.message;
    }
  } finally {
    p.inFlight = false;
  }
  if (app.current === p.room) renderMessages();
}

function resendPosts() {
  for (const id of app.posts.keys()) deliver(id);
}

// ---- reading -------------------------------------------------------------------------------

const observer = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) scheduleRead();
}, { threshold: 0.6 });

/** Marks read what is actually on screen, while the page is visible. */
function scheduleRead() {
  clearTimeout(app.readTimer);
  app.readTimer = setTimeout(markVisibleRead, 300);
}

async function markVisibleRead() {
  const room = app.rooms.get(app.current);
  if (!room || document.visibilityState !== 'visible' || app.conn?.state !== 'connected') return;
  const box = $('timeline').getBoundingClientRect();
  let max = 0;
  for (const li of $('messages').querySelectorAll('li[data-seq]')) {
    const r = li.getBoundingClientRect();
    const visible = r.bottom > box.top && r.top < box.bottom && r.height > 0;
    if (visible) max = Math.max(max, Number(li.dataset.seq));
  }
  if (max > room.readSeq) {
    try {
      const ack = await app.conn.request({ type: 'read', room: room.id, seq: max });
      room.readSeq = Math.max(room.readSeq, ack.seq);
      room.setReceipt(app.me, ack.seq, new Date().toISOString());
      renderRooms();
    } catch {
      // Tried again when more becomes visible or after reconnect.
    }
  }
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') scheduleRead();
});

// ---- views ---------------------------------------------------------------------------------

function renderConn(state) {
  const el = $('conn');
  el.dataset.state = state;
  el.textContent = t(state);
}

function roomName(room) {
  return room.resident?.name ? `${room.resident.name}` : room.title;
}

function renderRooms() {
  for (const [listId, kind] of [['town-rooms', 'town'], ['team-rooms', 'team']]) {
    const ul = $(listId);
    ul.replaceChildren();
    const rooms = [...app.rooms.values()].filter((r) => r.kind === kind).sort((a, b) => (b.last()?.seq ? Date.parse(b.last().at) : 0) - (a.last()?.seq ? Date.parse(a.last().at) : 0) || a.id.localeCompare(b.id));
    for (const room of rooms) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'room-item';
      b.dataset.room = room.id;
      if (app.current === room.id) b.setAttribute('aria-current', 'true');
      const last = room.last();
      b.innerHTML = '<span class="room-line"><strong class="room-name"></strong><time class="room-time"></time></span><span class="room-line"><span class="preview"></span><span class="badge"></span></span>';
      b.querySelector('.room-name').textContent = room.title;
      b.querySelector('.room-time').textContent = last ? time(last.at) : '';
      b.querySelector('.preview').textContent = last ? `${last.author.name}: ${last.body.replace(/\s+/g, ' ')}` : t('noMessages');
      const badge = b.querySelector('.badge');
      if (room.unread > 0) {
        badge.textContent = room.unread;
        badge.setAttribute('aria-label', t('unread', room.unread));
      } else badge.remove();
      b.addEventListener('click', () => openRoom(room.id));
      li.append(b);
      ul.append(li);
    }
  }
}

async function openRoom(id) {
  const room = app.rooms.get(id);
  if (!room) return;
  app.current = id;
  $('app').classList.add('show-room');
  $('room-pane').hidden = false;
  $('placeholder').hidden = true;
  $('compose-error').textContent = '';
  renderRooms();
  renderRoom();
  scrollToBottom();
  $('room-title').focus();
  await loadReceipts(room);
  if (app.current === id) {
    renderMessages();
    scheduleRead();
  }
}

function closeRoom() {
  app.current = null;
  $('app').classList.remove('show-room');
  $('room-pane').hidden = true;
  $('placeholder').hidden = false;
  renderRooms();
}

function canPost(room) {
  if (room.kind === 'team') return true;
  return app.me && (app.me.role === 'admin' || (app.me.role === 'coordinator' && app.me.town === room.town));
}

function renderRoomHead() {
  const room = app.rooms.get(app.current);
  if (!room) return;
  $('room-title').textContent = room.title;
  $('room-sub').textContent = room.kind === 'town' ? t('noticeBoard') : room.resident ? `${t('resident')}: ${room.resident.name}` : '';
  const ul = $('member-list');
  ul.replaceChildren();
  for (const m of room.members) {
    const li = document.createElement('li');
    li.textContent = `${m.name}（${profession(m.profession)}・${m.org}）${m.role === 'owner' ? ` ★${t('owner')}` : ''}`;
    ul.append(li);
  }
  $('members-toggle').hidden = room.kind !== 'team';
}

function renderRoom() {
  const room = app.rooms.get(app.current);
  if (!room) return;
  renderRoomHead();
  const postable = canPost(room);
  $('composer').hidden = !postable;
  $('readonly-note').hidden = postable;
  renderMessages();
}

function readLabel(room, m) {
  const n = room.readersOf(m).length;
  if (room.kind === 'town') {
    const m2 = Math.max(room.audience - 1, n);
    return t('readOf', n, m2);
  }
  return t('read', n);
}

function renderMessages() {
  const room = app.rooms.get(app.current);
  if (!room) return;
  const ol = $('messages');
  ol.replaceChildren();
  let lastDay = null;
  for (const m of room.sorted()) {
    const k = dayKey(m.at);
    if (k !== lastDay) {
      lastDay = k;
      const sep = document.createElement('li');
      sep.className = 'day';
      sep.setAttribute('role', 'separator');
      sep.textContent = day(m.at);
      ol.append(sep);
    }
    const li = document.createElement('li');
    li.className = `msg${m.author.id === app.me?.id ? ' mine' : ''}${m.kind === 'notice' ? ' notice' : ''}`;
    li.dataset.seq = m.seq;
    li.dataset.id = m.id;
    li.innerHTML = '<div class="meta"><strong class="author"></strong><span class="who"></span><time></time></div><p class="body"></p><button type="button" class="read-count"></button>';
    li.querySelector('.author').textContent = m.author.name;
    li.querySelector('.who').textContent = `${profession(m.author.profession)}・${m.author.org}`;
    const tm = li.querySelector('time');
    tm.dateTime = m.at;
    tm.textContent = time(m.at);
    li.querySelector('.body').textContent = m.body;
    const rc = li.querySelector('.read-count');
    rc.textContent = readLabel(room, m);
    rc.addEventListener('click', (e) => showReaders(room, m, e.currentTarget));
    ol.append(li);
    observer.observe(li);
  }
  for (const [cid, p] of app.posts) {
    if (p.room !== room.id) continue;
    const li = document.createElement('li');
    li.className = `msg mine pending ${p.state}`;
    li.dataset.clientId = cid;
    li.innerHTML = '<div class="meta"><strong class="author"></strong><span class="state"></span></div><p class="body"></p>';
    li.querySelector('.author').textContent = app.me?.name ?? '';
    li.querySelector('.state').textContent = t(p.state === 'failed' ? 'failed' : p.state === 'sent' ? 'sent' : 'pending');
    li.querySelector('.body').textContent = p.body;
    ol.append(li);
  }
  $('history-status').textContent = room.more ? '' : room.messages.size ? t('allLoaded') : t('noMessages');
}

function showReaders(room, m, anchor) {
  const list = $('readers-list');
  list.replaceChildren();
  const readers = room.readersOf(m);
  if (!readers.length) {
    const li = document.createElement('li');
    li.textContent = t('noReaders');
    list.append(li);
  }
  for (const r of readers) {
    const li = document.createElement('li');
    const p = r.user.profession ? `（${profession(r.user.profession)}）` : '';
    li.textContent = `${r.user.name}${p} ${dateTime(r.at)}`;
    list.append(li);
  }
  $('readers-title').textContent = readLabel(room, m);
  const dlg = $('readers');
  dlg.hidden = false;
  const rect = anchor.getBoundingClientRect();
  dlg.style.top = `${Math.min(window.innerHeight - 200, rect.bottom + 6)}px`;
  dlg.style.left = `${Math.max(8, Math.min(window.innerWidth - 300, rect.left))}px`;
  dlg.dataset.returnFocus = '1';
  app.readersAnchor = anchor;
  $('readers-close').focus();
}

function hideReaders() {
  $('readers').hidden = true;
  app.readersAnchor?.focus();
}

function isNearBottom() {
  const tl = $('timeline');
  return tl.scrollHeight - tl.scrollTop - tl.clientHeight < 80;
}

function scrollToBottom() {
  const tl = $('timeline');
  tl.scrollTop = tl.scrollHeight;
}

function announce(text) {
  // The timeline is an aria-live log; the connection badge a status. Nothing more needed here.
  document.title = document.visibilityState === 'visible' ? 'Yui 結' : `● ${text}`;
}

function updateCount() {
  const n = codePoints($('body').value);
  const el = $('count');
  el.textContent = `${n} / ${MAX_BODY}`;
  el.classList.toggle('over', n > MAX_BODY);
}

async function onScroll() {
  const room = app.rooms.get(app.current);
  const tl = $('timeline');
  if (!room || !room.more || room.loading || tl.scrollTop > 40) return;
  room.loading = true;
  $('history-status').textContent = t('loadingOlder');
  const before = tl.scrollHeight;
  try {
    await loadOlder(room);
  } catch {
    // Next scroll tries again.
  }
  room.loading = false;
  renderMessages();
  tl.scrollTop = tl.scrollHeight - before;
}

// ---- wiring --------------------------------------------------------------------------------

function wire() {
  applyStatic();
  onLangChange(() => {
    renderConn(app.conn?.state ?? 'offline');
    renderRooms();
    renderRoom();
    if (app.me) $('me').textContent = `${app.me.name}（${profession(app.me.profession)}）`;
  });
  $('lang').addEventListener('click', toggleLang);
  $('signout').addEventListener('click', signOut);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('token-input').value.trim();
    if (v) signIn(v);
  });
  $('composer').addEventListener('submit', send);
  $('body').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) send(e);
  });
  $('body').addEventListener('input', () => {
    updateCount();
    const problem = codePoints($('body').value) > MAX_BODY ? t('tooLong', codePoints($('body').value)) : '';
    $('compose-error').textContent = problem;
  });
  $('back').addEventListener('click', closeRoom);
  $('members-toggle').addEventListener('click', () => {
    const m = $('members');
    m.hidden = !m.hidden;
    $('members-toggle').setAttribute('aria-expanded', String(!m.hidden));
  });
  $('timeline').addEventListener('scroll', () => {
    onScroll();
    scheduleRead();
  });
  $('readers-close').addEventListener('click', hideReaders);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('readers').hidden) hideReaders();
  });
  renderConn('offline');
  takeTokenFromUrl();
  start();
}

wire();
