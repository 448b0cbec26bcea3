// Web Push in the page (PROTOCOL.md 5.6): a 通知 button in the top bar. When the user allows
// notifications, the browser subscribes with the hub's VAPID key (`GET /api/config`,
// `vapid_public_key`) and the subscription is given to the hub (`POST /api/me/push`); the
// button then turns them off again (`DELETE /api/me/push`, and the browser's subscription is
// dropped). Signing out unsubscribes, so a shared tablet stops showing the last user's rooms.
// Nothing here is shown before a sign-in, nor where the browser cannot do Web Push.

import { getLang, onLangChange } from './i18n.js';

const TEXT = {
  ja: { on: '通知: オン', off: '通知: オフ', denied: '通知はブラウザで拒否されています', failed: '通知を設定できませんでした' },
  en: { on: 'Notifications: on', off: 'Notifications: off', denied: 'Notifications are blocked in this browser', failed: 'Could not set up notifications' },
};
const tr = (k) => (TEXT[getLang()] ?? TEXT.ja)[k];

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window && window.isSecureContext;

/** base64url (no padding) to bytes, for `applicationServerKey`. */
export function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function call(method, token, body) {
  const res = await fetch('/api/me/push', {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok && res.status !== 204) throw new Error(`push ${method}: ${res.status}`);
}

async function registration() {
  return navigator.serviceWorker.ready;
}

/**
 * @param {object} o
 * @param {() => string|null} o.getToken
 * @param {() => object|null} o.getConfig   the hub's `/api/config` answer
 * @param {(message: string) => void} o.onError
 */
export function setupPush({ getToken, getConfig, onError }) {
  const button = document.createElement('button');
  button.type = 'button';
  button.id = 'push-toggle';
  button.className = 'btn-ghost';
  button.hidden = true;
  const signout = document.getElementById('signout');
  signout?.parentNode?.insertBefore(button, signout);
  let subscribed = false;
  const label = () => {
    button.textContent = subscribed ? tr('on') : tr('off');
    button.setAttribute('aria-pressed', String(subscribed));
  };
  onLangChange(label);

  async function current() {
    const reg = await registration();
    return reg.pushManager.getSubscription();
  }

  async function enable() {
    const key = getConfig()?.vapid_public_key;
    const token = getToken();
    if (!key || !token) return;
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      onError(tr('denied'));
      return;
    }
    const reg = await registration();
    let sub = await reg.pushManager.getSubscription();
    const want = keyBytes(key);
    const same = (a) => a && new Uint8Array(a).every((b, i) => b === want[i]) && a.byteLength === want.length;
    if (sub && !same(sub.options?.applicationServerKey)) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: want });
    const json = sub.toJSON();
    await call('POST', token, { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } });
    subscribed = true;
  }

  async function disable(token = getToken()) {
    const sub = await current();
    if (!sub) { subscribed = false; return; }
    if (token) await call('DELETE', token, { endpoint: sub.endpoint }).catch(() => { /* the hub forgets it on 404/410 */ });
    await sub.unsubscribe();
    subscribed = false;
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      if (subscribed) await disable(); else await enable();
    } catch (e) {
      console.warn('push', e);
      onError(tr('failed'));
    } finally {
      button.disabled = false;
      label();
    }
  });

  return {
    /** Signed in: show the button, and say whether this browser is subscribed (re-sent to the
     *  hub, which may have forgotten it). */
    async signedIn() {
      if (!supported() || !getConfig()?.vapid_public_key) return;
      button.hidden = false;
      try {
        const sub = Notification.permission === 'granted' ? await current() : null;
        subscribed = Boolean(sub);
        if (sub) {
          const json = sub.toJSON();
          await call('POST', getToken(), { endpoint: json.endpoint, keys: json.keys });
        }
      } catch { subscribed = false; }
      label();
    },
    /** Signing out (with the token still valid): this browser stops getting the user's pushes. */
    async signingOut(token) {
      button.hidden = true;
      if (!supported()) return;
      try { await disable(token); } catch { /* nothing to undo */ }
      label();
    },
  };
}
