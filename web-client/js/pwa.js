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
  // Told once per page, by whichever comes first: the new version's message to the pages it
  // took over (sw.js; it may take over before this code runs, and then this page sees no
  // controllerchange) or the controller changing under this page.
  let told = false;
  const updated = () => {
    if (told) return;
    told = true;
    onUpdated();
  };
  sw.addEventListener('message', (e) => {
    const m = e.data;
    if (m && m.type === 'open-room' && typeof m.room === 'string' && m.room) onOpenRoom(m.room);
    else if (m && m.type === 'updated') updated();
  });
  // The first install also changes the controller (clients.claim): only a change from one
  // version to another is an update.
  let controlled = Boolean(sw.controller);
  sw.addEventListener('controllerchange', () => {
    if (controlled) updated();
    controlled = true;
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
