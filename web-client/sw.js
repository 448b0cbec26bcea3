// The service worker (scope /): the app shell from the cache, so a reload while the hub is
// unreachable still shows the app (in its offline state, the outbox waiting); notifications for
// Web Push (PROTOCOL.md 5.6). It never touches /api/, /ws or anything that carries a token: the
// hub's answers and care notes are never stored by it.
//
// Update flow: the page asks for an update at every load (registered with updateViaCache
// 'none', so this file comes past the HTTP cache); any change to it installs the new version,
// which precaches the whole shell into a new cache, takes over at once (skipWaiting +
// clients.claim), removes the old caches and tells the pages it took over. A page already open
// keeps the code it has (every module is loaded at start, nothing later); the next load is the
// new version. VERSION is the hash of the shell's files (`node stamp-sw.mjs` after
// changing any of them; a test checks it), so a changed file always makes a new version.

const VERSION = '17bb5def0565';
const CACHE_PREFIX = 'yui-shell-';
const CACHE = CACHE_PREFIX + VERSION;

// Every file the app needs to start. A missing one fails the install (the old version stays).
const SHELL = [
  '/',
  '/index.html',
  '/style.css',
  '/favicon.svg',
  '/manifest.webmanifest',
  '/icons/icon-192.png',
  '/icons/icon-512.png',
  '/icons/maskable-192.png',
  '/icons/maskable-512.png',
  '/icons/apple-touch-icon.png',
  '/js/api.js',
  '/js/app.js',
  '/js/attachments.js',
  '/js/auth.js',
  '/js/connection.js',
  '/js/drafts.js',
  '/js/format.js',
  '/js/i18n.js',
  '/js/mentions.js',
  '/js/notify.js',
  '/js/pwa.js',
  '/js/revisions.js',
  '/js/store.js',
  '/js/views/attachbar.js',
  '/js/views/confirms.js',
  '/js/views/dom.js',
  '/js/views/readers.js',
  '/js/views/roomlist.js',
  '/js/views/roomview.js',
  '/js/views/signin.js',
  '/js/views/viewer.js',
  // town tools (issue 12)
  '/js/town.js',
  '/js/townapi.js',
  '/js/strings-town.js',
  '/js/roles.js',
  '/js/mute.js',
  '/js/export.js',
  '/js/views/dialog.js',
  '/js/views/manage.js',
  '/js/views/resident.js',
  '/js/views/consent.js',
  '/js/views/search.js',
  '/js/views/audit.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // cache: 'reload': past the HTTP cache, so the new version never precaches old files.
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    const old = names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE);
    await Promise.all(old.map((n) => caches.delete(n)));
    await self.clients.claim();
    // An update (an older version's cache was there): the pages just taken over were loaded by
    // the old version, and each is told so (a page whose code runs after the takeover sees no
    // controllerchange).
    if (old.length > 0) {
      for (const c of await self.clients.matchAll({ type: 'window' })) c.postMessage({ type: 'updated' });
    }
  })());
});

/** What the worker must leave to the network, never answering it or storing it. */
function passThrough(request, url) {
  if (request.method !== 'GET') return true;
  if (url.origin !== self.location.origin) return true;
  if (url.pathname.startsWith('/api/') || url.pathname === '/ws' || url.pathname.startsWith('/ws/')) return true;
  if (/token/i.test(url.search) || request.headers.has('Authorization')) return true;
  return false;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (passThrough(request, url)) return;
  if (request.mode === 'navigate') {
    // The app lives at / (routes are in the fragment): every navigation there gets the shell.
    if (url.pathname === '/' || url.pathname === '/index.html') event.respondWith(fromShell('/', request));
    return;
  }
  if (SHELL.includes(url.pathname) && !url.search) event.respondWith(fromShell(url.pathname, request));
  // Anything else (attachments, files not in the shell) goes to the network as without a worker.
});

/** Cache first; the network only when the cache lost the file (it is not stored then: only an
 *  install fills the cache, so one version's files are never mixed with another's). */
async function fromShell(path, request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(path);
  if (hit) return hit.redirected ? unredirected(hit) : hit;
  return fetch(request);
}

/** A navigation may not be answered with a response that was redirected. */
async function unredirected(res) {
  return new Response(await res.blob(), { status: res.status, statusText: res.statusText, headers: res.headers });
}

// ---------------------------------------------------------------- Web Push (PROTOCOL.md 5.6)

/** The push payload, checked: `{"room","title","unread","urgent","mentioned"}` and never any
 *  message text (the hub sends none). Returns null when it is not that. */
function parsePush(data) {
  let p;
  try { p = data ? data.json() : null; } catch { return null; }
  if (!p || typeof p !== 'object' || typeof p.room !== 'string' || !p.room) return null;
  return {
    room: p.room,
    title: typeof p.title === 'string' && p.title ? p.title : '結 Yui',
    unread: Number.isInteger(p.unread) && p.unread > 0 ? p.unread : 0,
    urgent: p.urgent === true,
    mentioned: p.mentioned === true,
  };
}

/** Japanese first, an English line under it. */
function pushBody({ unread, urgent, mentioned }) {
  if (urgent) return '至急の記録があります\nAn urgent note';
  if (mentioned) return 'あなた宛ての記録があります\nA note for you';
  if (unread > 0) return `新しい記録が ${unread} 件\n${unread} new note${unread === 1 ? '' : 's'}`;
  return '新しい記録があります\nNew notes';
}

const roomTag = (room) => `yui-room:${room}`;

async function showPush(data) {
  const p = parsePush(data);
  if (!p) {
    // A push must show something (userVisibleOnly); without a room it names none.
    await self.registration.showNotification('結 Yui', { body: pushBody({ unread: 0 }), tag: 'yui', icon: '/icons/icon-192.png', lang: 'ja' });
    return;
  }
  // A later push for the room replaces the earlier notification (same tag); an urgent note or a
  // mention not yet looked at keeps its wording until the notification is opened or dismissed.
  const [prev] = await self.registration.getNotifications({ tag: roomTag(p.room) });
  const urgent = p.urgent || prev?.data?.urgent === true;
  const mentioned = p.mentioned || prev?.data?.mentioned === true;
  await self.registration.showNotification(p.title, {
    body: pushBody({ unread: p.unread, urgent, mentioned }),
    tag: roomTag(p.room),
    renotify: p.urgent, // an urgent note sounds and vibrates again even when it replaces one
    icon: '/icons/icon-192.png',
    lang: 'ja',
    timestamp: Date.now(),
    data: { room: p.room, urgent, mentioned },
  });
}

self.addEventListener('push', (event) => {
  event.waitUntil(showPush(event.data));
});

/** A notification was clicked: the room opens in the app's window (focused) if one is open,
 *  in a new one otherwise. The window is told by a message, so it changes its route without
 *  a reload (`open-room`, handled in js/pwa.js). */
async function openRoomFromNotification(notification) {
  notification.close();
  const room = typeof notification.data?.room === 'string' ? notification.data.room : null;
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const mine = windows.filter((c) => new URL(c.url).origin === self.location.origin);
  const target = mine.find((c) => c.focused) ?? mine.find((c) => c.visibilityState === 'visible') ?? mine[0];
  if (target) {
    // Focus first: the browser allows it only right after the click.
    const focusing = target.focus().catch(() => { /* refused: the route changes all the same */ });
    if (room) target.postMessage({ type: 'open-room', room });
    await focusing;
    return;
  }
  await self.clients.openWindow(room ? `/#room/${encodeURIComponent(room)}` : '/');
}

self.addEventListener('notificationclick', (event) => {
  event.waitUntil(openRoomFromNotification(event.notification));
});
