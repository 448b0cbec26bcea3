// Web Push in the page (PROTOCOL.md 5.6): with the permission granted, the 通知 button
// subscribes this browser with the hub's VAPID key from /api/config and gives the subscription
// to the hub (POST /api/me/push, 201); pressing it again unsubscribes (DELETE, 204), and so
// does signing out.
//
// Headless Chromium has no push service (pushManager.subscribe is refused with "permission
// denied" whatever the permission), so the page's PushManager is replaced by a stand-in that
// makes a real P-256 key and auth secret and records the applicationServerKey it was given;
// everything else (the button, the permission, the hub's answers) is real.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hub, launchBrowser, openPage, signInDemo, assertNoErrors } from './helpers.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

function standInPushManager() {
  const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  let current = null;
  window.__push = { keys: [], unsubscribed: 0 };
  PushManager.prototype.getSubscription = async function getSubscription() { return current; };
  PushManager.prototype.subscribe = async function subscribe(options) {
    const key = new Uint8Array(options.applicationServerKey);
    window.__push.keys.push(b64url(key));
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const p256dh = b64url(await crypto.subtle.exportKey('raw', pair.publicKey));
    const auth = b64url(crypto.getRandomValues(new Uint8Array(16)));
    const endpoint = `https://push.example/send/${Math.random().toString(36).slice(2)}`;
    current = {
      endpoint,
      options: { userVisibleOnly: options.userVisibleOnly, applicationServerKey: key.buffer },
      toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh, auth } }),
      unsubscribe: async () => { current = null; window.__push.unsubscribed += 1; return true; },
    };
    return current;
  };
}

test('the 通知 button subscribes with the hub\'s VAPID key and gives the subscription to the hub; again, or signing out, unsubscribes', async () => {
  const page = await openPage(browser);
  await page.context().grantPermissions(['notifications'], { origin: hub.url });
  await page.addInitScript(standInPushManager);
  const calls = [];
  page.on('response', async (res) => {
    const req = res.request();
    if (new URL(req.url()).pathname === '/api/me/push') calls.push({ method: req.method(), status: res.status(), body: req.postDataJSON() });
  });
  await signInDemo(page, hub, 'ns-sato');
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: 20000 });
  const config = await (await fetch(`${hub.url}/api/config`)).json();
  assert.match(config.vapid_public_key, /^[A-Za-z0-9_-]{87}$/);

  const button = page.locator('#push-toggle');
  await button.waitFor();
  assert.equal(await button.textContent(), '通知: オフ');
  await button.click();
  await page.waitForFunction(() => document.getElementById('push-toggle').getAttribute('aria-pressed') === 'true');
  assert.equal(await button.textContent(), '通知: オン');
  const pushed = await page.evaluate(() => window.__push);
  assert.deepEqual(pushed.keys, [config.vapid_public_key], 'subscribed with the key of /api/config');
  const post = calls.find((c) => c.method === 'POST');
  assert.ok(post, JSON.stringify(calls));
  assert.equal(post.status, 201, 'the hub took the subscription');
  assert.match(post.body.endpoint, /^https:\/\/push\.example\/send\//);
  assert.match(post.body.keys.p256dh, /^[A-Za-z0-9_-]{87}$/);
  assert.match(post.body.keys.auth, /^[A-Za-z0-9_-]{22}$/);

  // Off again: the hub forgets it, the browser drops it.
  await button.click();
  await page.waitForFunction(() => document.getElementById('push-toggle').getAttribute('aria-pressed') === 'false');
  const del = calls.find((c) => c.method === 'DELETE');
  assert.deepEqual({ status: del?.status, endpoint: del?.body?.endpoint }, { status: 204, endpoint: post.body.endpoint });
  assert.equal(await page.evaluate(() => window.__push.unsubscribed), 1);

  // On, then sign out: unsubscribed with the token still valid.
  await button.click();
  await page.waitForFunction(() => document.getElementById('push-toggle').getAttribute('aria-pressed') === 'true');
  await page.locator('#signout').click();
  await page.waitForFunction(() => window.__push.unsubscribed === 2);
  const dels = calls.filter((c) => c.method === 'DELETE');
  assert.equal(dels.length, 2);
  assert.equal(dels[1].status, 204);
  assert.ok(await button.isHidden(), 'no button when signed out');
  assertNoErrors(null, page);
  await page.context().close();
});

test('a denied permission subscribes nothing and says so', async () => {
  const page = await openPage(browser);
  await page.addInitScript(standInPushManager);
  await page.addInitScript(() => { Notification.requestPermission = async () => 'denied'; });
  await signInDemo(page, hub, 'ns-sato');
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: 20000 });
  const button = page.locator('#push-toggle');
  await button.click();
  await page.locator('#banner:not([hidden])', { hasText: '通知はブラウザで拒否されています' }).waitFor();
  assert.deepEqual(await page.evaluate(() => window.__push.keys), []);
  assert.equal(await button.getAttribute('aria-pressed'), 'false');
  await page.context().close();
});
