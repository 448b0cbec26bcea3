// The installable app's side in the page: registers the service worker (sw.js, scope /) once
// the page has loaded, tells of a new version, opens the room a clicked notification names, and
// closes a room's notifications when the room is opened here.

const supported = () => 'serviceWorker' in navigator && window.isSecureContext;
const roomTag = (room) => `yui-room:${room}`; // as in sw.js
const UPDATE_CHECK_MS = 60 * 60 * 1000; // a tab open all day still learns of a new version

/**
 * @param {object} o
 * @param {(room: string) => void} o.onOpenRoom  a notification of this room was clicked
 * @param {() => void} o.onUpdated               a new version took over (used from the next load)
 */
export function registerServiceWorker({ onOpenRoom, onUpdated }) {
  if (!supported()) return;
  const sw = navigator.serviceWorker;
  sw.addEventListener('message', (e) => {
    const m = e.data;
    if (m && m.type === 'open-room' && typeof m.room === 'string' && m.room) onOpenRoom(m.room);
    // A new version took over this page (sw.js says so only to pages an older one loaded; a
    // controllerchange would be missed when the takeover comes before this code runs).
    else if (m && m.type === 'updated') onUpdated();
  });
  const register = async () => {
    try {
      const reg = await sw.register('/sw.js', { scope: '/', updateViaCache: 'none' });
      // Look for a new version at every load, now: the browser's own check after a navigation
      // is put off for as long as the page keeps fetching.
      reg.update().catch(() => { /* offline: the next load or check */ });
      let checked = Date.now();
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState !== 'visible' || Date.now() - checked < UPDATE_CHECK_MS) return;
        checked = Date.now();
        reg.update().catch(() => { /* offline: the next check */ });
      });
    } catch (e) {
      console.warn('service worker not registered', e);
    }
  };
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}

/** The room is open here: its notifications have done their work. */
export async function closeRoomNotifications(room) {
  if (!supported()) return;
  try {
    const reg = await navigator.serviceWorker.getRegistration('/');
    for (const n of (await reg?.getNotifications({ tag: roomTag(room) })) ?? []) n.close();
  } catch { /* nothing to close */ }
}
