// The installable client: the service worker installs and controls the page, precaching the
// whole shell and nothing of the hub's answers; the manifest parses and its icons load; a
// reload with the hub killed shows the app offline (and a post written offline goes out when
// the hub is back); a push delivered over the DevTools protocol shows a notification with the
// room's title, which opens the room; a new version takes over on the next load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, cpSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import {
  Hub, launchBrowser, openPage, signInDemo, openRoom, post, msgLocator, screenshot, publish,
  assertNoErrors, uniq, demoToken, WEB_DIR, DESKTOP, PHONE,
} from './helpers.mjs';
import { shellUrls, shellVersion, stampedVersion, stamp } from '../stamp-sw.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

// While the hub is down, Chromium itself reports the refused WebSocket and fetch; not app errors.
const allowDown = [/WebSocket connection to .* failed/, /ERR_CONNECTION_REFUSED/, /Failed to load resource/];

/** Signs in and waits until the service worker controls the page. */
async function controlledPage(user, opts = {}) {
  const page = await openPage(browser, opts);
  await signInDemo(page, hub, user);
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: 20000 });
  return page;
}

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile())
    .map((d) => '/' + relative(WEB_DIR, join(d.parentPath ?? d.path, d.name)).split('\\').join('/'));
}

test('the service worker is installed at /, controls the page and precaches the whole shell, nothing of the hub', async () => {
  const page = await controlledPage('ns-sato');
  const reg = await page.evaluate(async () => {
    const r = await navigator.serviceWorker.getRegistration('/');
    return { scope: r?.scope, active: r?.active?.scriptURL, controller: navigator.serviceWorker.controller?.scriptURL };
  });
  assert.equal(reg.scope, `${hub.url}/`);
  assert.equal(reg.active, `${hub.url}/sw.js`);
  assert.equal(reg.controller, `${hub.url}/sw.js`);

  // Every module, stylesheet and icon the app loads is in the shell list, and the stamp is current.
  const shell = shellUrls();
  for (const f of [...filesUnder(join(WEB_DIR, 'js')), ...filesUnder(join(WEB_DIR, 'icons')).filter((f) => f.endsWith('.png'))]) {
    assert.ok(shell.includes(f), `${f} is missing from SHELL in sw.js`);
  }
  for (const f of ['/', '/index.html', '/style.css', '/favicon.svg', '/manifest.webmanifest']) assert.ok(shell.includes(f), f);
  assert.equal(stampedVersion(), shellVersion(), 'sw.js VERSION is stale: run `node web-client/stamp-sw.mjs`');

  // The page (rooms listed, a room opened: /api/ and /ws used) has one cache, holding the shell.
  await openRoom(page, 'res-nakamura');
  await page.locator('#messages .msg').first().waitFor();
  const caches = await page.evaluate(async () => {
    const out = {};
    for (const name of await caches.keys()) {
      const c = await caches.open(name);
      out[name] = (await c.keys()).map((r) => new URL(r.url).pathname + new URL(r.url).search);
    }
    return out;
  });
  assert.deepEqual(Object.keys(caches), [`yui-shell-${stampedVersion()}`]);
  assert.deepEqual([...Object.values(caches)[0]].sort(), [...shell].sort());

  // The modules of this very page came from the worker, the hub's answers did not.
  const fromSw = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((e) => ({ path: new URL(e.name).pathname, sw: e.workerStart > 0 })));
  const app = fromSw.find((e) => e.path === '/js/app.js');
  assert.ok(app, 'app.js was loaded');
  await page.reload();
  await page.locator('#conn[data-state="connected"]').waitFor();
  const nav = await page.evaluate(() => performance.getEntriesByType('navigation')[0].workerStart > 0);
  assert.ok(nav, 'the reload was answered by the worker');
  const entries = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => ({ path: new URL(e.name).pathname, sw: e.workerStart > 0 })));
  assert.ok(entries.find((e) => e.path === '/js/app.js')?.sw, 'app.js came through the worker');
  assertNoErrors(null, page);
  await page.context().close();
});

test('the manifest parses, Chromium finds the app installable, and every icon loads at its size', async () => {
  const page = await controlledPage('ns-sato');
  const href = await page.locator('link[rel="manifest"]').evaluate((l) => l.href);
  assert.equal(href, `${hub.url}/manifest.webmanifest`);
  const res = await fetch(href);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/manifest\+json/);
  const m = JSON.parse(await res.text());
  assert.equal(m.name, '結 Yui');
  assert.match(m.short_name, /\p{Script=Han}/u, 'a Japanese short name');
  assert.equal(m.start_url, '/');
  assert.equal(m.scope, '/');
  assert.equal(m.display, 'standalone');
  // Colours as in style.css: the brand for the bar, the page's background for the splash.
  const css = await page.evaluate(() => {
    const s = getComputedStyle(document.documentElement);
    return { brand: s.getPropertyValue('--brand').trim(), bg: s.getPropertyValue('--bg').trim() };
  });
  assert.equal(m.theme_color, css.brand);
  assert.equal(m.background_color, css.bg);
  assert.equal(await page.locator('meta[name="theme-color"]').getAttribute('content'), css.brand);
  for (const name of ['apple-mobile-web-app-capable', 'mobile-web-app-capable', 'apple-mobile-web-app-title']) {
    assert.ok(await page.locator(`meta[name="${name}"]`).count(), name);
  }

  // Chromium's own reading of the manifest, and its verdict on installability.
  const cdp = await page.context().newCDPSession(page);
  const got = await cdp.send('Page.getAppManifest');
  assert.deepEqual(got.errors, [], JSON.stringify(got.errors));
  // Test contexts are incognito, where Chromium never offers an install; nothing else may be wrong.
  const inst = (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors.filter((e) => e.errorId !== 'in-incognito');
  assert.deepEqual(inst, [], JSON.stringify(inst));

  const icons = [...m.icons, { src: '/icons/apple-touch-icon.png', sizes: '180x180', type: 'image/png', purpose: 'any' }];
  assert.ok(m.icons.some((i) => i.sizes === '192x192' && i.type === 'image/png' && i.purpose.includes('any')));
  assert.ok(m.icons.some((i) => i.sizes === '512x512' && i.type === 'image/png' && i.purpose.includes('any')));
  assert.ok(m.icons.some((i) => i.sizes === '512x512' && i.purpose.includes('maskable')));
  for (const icon of icons) {
    const size = await page.evaluate((src) => new Promise((res, rej) => {
      const img = new Image();
      img.onload = () => res({ w: img.naturalWidth, h: img.naturalHeight });
      img.onerror = () => rej(new Error(`icon ${src} did not load`));
      img.src = src;
    }), icon.src);
    if (icon.sizes !== 'any') assert.equal(`${size.w}x${size.h}`, icon.sizes, icon.src);
    else assert.ok(size.w > 0, icon.src);
  }
  // A maskable icon is opaque to its edges (the platform cuts its own shape out of it).
  const corner = await page.evaluate(() => new Promise((res) => {
    const img = new Image();
    img.onload = () => {
      const c = new OffscreenCanvas(img.naturalWidth, img.naturalHeight);
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      res(g.getImageData(0, 0, 1, 1).data[3]);
    };
    img.src = '/icons/maskable-512.png';
  }));
  assert.equal(corner, 255);
  assertNoErrors(null, page);
  await page.context().close();
});

test('with the hub killed, a reload shows the app offline (no error page), and a post written offline goes out when the hub is back', async () => {
  const page = await controlledPage('ns-sato', { allow: allowDown });
  await openRoom(page, 'res-nakamura');
  const tag = uniq();
  await post(page, `停止前 ${tag}`);
  await msgLocator(page, `停止前 ${tag}`).and(page.locator('[data-seq]')).waitFor();

  await hub.kill();
  try {
    await offlineThenBack(page, tag);
  } finally {
    // Up again for the tests after this one, whatever happened here.
    if (hub.proc.exitCode !== null || hub.proc.signalCode !== null) await hub.spawn();
  }
});

async function offlineThenBack(page, tag) {
  await page.locator('#conn:is([data-state="reconnecting"],[data-state="offline"])').waitFor();
  await post(page, `オフラインで記入 ${tag}`);
  const pending = msgLocator(page, `オフラインで記入 ${tag}`);
  await pending.and(page.locator('[data-status="waiting"]')).waitFor();
  const clientId = await pending.getAttribute('data-client-id');

  // Without a service worker the same address is the browser's error page: the control.
  const bare = await browser.newContext({ serviceWorkers: 'block' });
  const barePage = await bare.newPage();
  await assert.rejects(barePage.goto(hub.url + '/'), /ERR_CONNECTION_REFUSED/);
  await bare.close();

  const res = await page.reload();
  assert.ok(res, 'the reload has a response');
  assert.equal(res.status(), 200);
  assert.ok(res.fromServiceWorker(), 'answered by the service worker');
  assert.equal(new URL(page.url()).origin, hub.url);
  await page.locator('#app-view:not([hidden])').waitFor();
  await page.locator('#conn:is([data-state="reconnecting"],[data-state="offline"])').waitFor();
  assert.match(await page.locator('#conn').innerText(), /再接続中|オフライン/);
  assert.equal(await page.locator('.brand-name').innerText(), 'Yui');
  // The list says why it is empty, and that the note written offline is kept.
  const note = page.locator('#no-rooms');
  assert.ok(await note.isVisible(), 'the waiting note is shown');
  assert.equal(await note.innerText(), 'ハブにつながるとルームが表示されます。 送信待ちの記録 1 件は、つながると送信されます。');
  // The styles came too (the top bar has the brand colour), not a bare page.
  assert.equal(await page.locator('.topbar').evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(31, 95, 91)');
  // The token and the outbox survived the reload (sessionStorage lives as long as the tab).
  const outbox = await page.evaluate(() => JSON.parse(sessionStorage.getItem('yui.outbox') || '[]'));
  assert.deepEqual(outbox.map((x) => x.client_id), [clientId]);
  publish(await screenshot(page, 'desktop-offline-reload'), 'desktop-offline-reload.png');
  // On a phone too (one pane: the room is not known yet, so the list, not a blank page).
  await page.setViewportSize(PHONE);
  assert.ok(await note.isVisible(), 'the waiting note is shown on a phone');
  publish(await screenshot(page, 'phone-offline-reload'), 'phone-offline-reload.png');
  await page.setViewportSize(DESKTOP);

  await hub.spawn();
  await page.locator('#conn[data-state="connected"]').waitFor({ timeout: 30000 });
  await page.locator('#room-pane:not([hidden])').waitFor(); // #room/res-nakamura, kept over the reload
  const sent = msgLocator(page, `オフラインで記入 ${tag}`).and(page.locator('[data-seq][data-status="sent"]'));
  await sent.waitFor();
  assert.equal(await sent.getAttribute('data-client-id'), clientId, 'sent with the client_id it was given offline');
  const tok = await demoToken(hub, 'dr-tanaka');
  const hist = await hub.api('GET', '/api/rooms/res-nakamura/messages?limit=50', tok);
  assert.equal(hist.messages.filter((x) => x.body === `オフラインで記入 ${tag}`).length, 1, 'posted exactly once');
  await page.waitForFunction(() => JSON.parse(sessionStorage.getItem('yui.outbox') || '[]').length === 0);
  assertNoErrors(null, page);
  await page.context().close();
}

/** The registration id of the worker at the hub's scope, from the DevTools protocol. */
async function registrationId(cdp) {
  const found = new Promise((res) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const r = registrations.find((x) => x.scopeURL === `${hub.url}/` && !x.isDeleted);
      if (r) res(r.registrationId);
    });
  });
  await cdp.send('ServiceWorker.enable');
  return found;
}

async function notifications(page) {
  return page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, renotify: n.renotify, data: n.data }));
  });
}

async function waitNotifications(page, pred) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const ns = await notifications(page);
    if (pred(ns)) return ns;
    if (Date.now() > deadline) throw new Error(`notifications not as expected: ${JSON.stringify(ns)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a push delivered to the service worker shows a notification with the room title; a click opens the room', async () => {
  const page = await controlledPage('ns-sato', { viewport: PHONE });
  await page.context().grantPermissions(['notifications'], { origin: hub.url });
  const tok = await demoToken(hub, 'ns-sato');
  const rooms = (await hub.api('GET', '/api/me/rooms', tok)).rooms;
  const team = rooms.find((r) => r.room === 'res-nakamura');
  const other = rooms.find((r) => r.kind === 'team' && r.room !== 'res-nakamura');
  assert.ok(team && other, 'two team rooms');

  const cdp = await page.context().newCDPSession(page);
  const regId = await registrationId(cdp);
  const push = (payload) => cdp.send('ServiceWorker.deliverPushMessage', { origin: hub.url, registrationId: regId, data: JSON.stringify(payload) });

  await push({ room: team.room, title: team.title, unread: 1, urgent: false, mentioned: false });
  let ns = await waitNotifications(page, (x) => x.length === 1);
  assert.equal(ns[0].title, team.title);
  assert.equal(ns[0].body, '新しい記録が 1 件\n1 new note');
  assert.equal(ns[0].tag, `yui-room:${team.room}`);
  assert.equal(ns[0].renotify, false);

  // A second push for the room replaces the first; urgent renotifies and says so.
  await push({ room: team.room, title: team.title, unread: 3, urgent: false, mentioned: false });
  ns = await waitNotifications(page, (x) => x.length === 1 && x[0].body.startsWith('新しい記録が 3 件'));
  assert.equal(ns[0].body, '新しい記録が 3 件\n3 new notes');
  await push({ room: team.room, title: team.title, unread: 4, urgent: true, mentioned: false });
  ns = await waitNotifications(page, (x) => x.length === 1 && x[0].renotify);
  assert.equal(ns[0].body, '至急の記録があります\nAn urgent note');
  // A later ordinary push does not hide the urgent note not yet looked at.
  await push({ room: team.room, title: team.title, unread: 5, urgent: false, mentioned: false });
  ns = await waitNotifications(page, (x) => x.length === 1 && !x[0].renotify);
  assert.equal(ns[0].body, '至急の記録があります\nAn urgent note');

  // Another room: a notification of its own.
  await push({ room: other.room, title: other.title, unread: 2, urgent: false, mentioned: true });
  ns = await waitNotifications(page, (x) => x.length === 2);
  const o = ns.find((n) => n.tag === `yui-room:${other.room}`);
  assert.equal(o.title, other.title);
  assert.equal(o.body, 'あなた宛ての記録があります\nA note for you');
  for (const n of ns) assert.deepEqual(Object.keys(n.data).sort(), ['mentioned', 'room', 'urgent'], 'no message text kept');

  // Not the payload of 5.6: still a notification (a push must show one), naming no room.
  await cdp.send('ServiceWorker.deliverPushMessage', { origin: hub.url, registrationId: regId, data: 'not json' });
  ns = await waitNotifications(page, (x) => x.length === 3);
  const odd = ns.find((n) => n.tag === 'yui');
  assert.equal(odd.title, '結 Yui');
  assert.equal(odd.body, '新しい記録があります\nNew notes');
  await page.evaluate(async () => { for (const n of await (await navigator.serviceWorker.ready).getNotifications({ tag: 'yui' })) n.close(); });
  ns = await waitNotifications(page, (x) => x.length === 2);

  // The click: headless Chromium has no notification to click and the DevTools protocol no
  // command for it, so the test runs, in the worker, the function its notificationclick
  // listener runs, with the notification the push showed.
  assert.equal(await page.evaluate(() => location.hash), '');
  const [sw] = page.context().serviceWorkers();
  assert.ok(sw, 'the worker is running');
  await sw.evaluate(async (tag) => {
    const [n] = await self.registration.getNotifications({ tag });
    await openRoomFromNotification(n); // eslint-disable-line no-undef
  }, `yui-room:${team.room}`);
  await page.waitForFunction((id) => location.hash === `#room/${id}`, team.room);
  await page.locator('#room-pane:not([hidden])').waitFor();
  await page.locator('#room-title', { hasText: /中村/ }).waitFor();
  ns = await notifications(page);
  assert.deepEqual(ns.map((n) => n.tag), [`yui-room:${other.room}`], 'the clicked one is closed');
  await screenshot(page, 'phone-opened-from-notification');

  // Opening the other room in the app closes its notification too.
  await page.locator('#back-link').click();
  await openRoom(page, other.room);
  await waitNotifications(page, (x) => x.length === 0);
  assertNoErrors(null, page);
  await page.context().close();
});

test('a new version takes over on the next load', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yui-web-pwa-'));
  cpSync(WEB_DIR, dir, { recursive: true, filter: (src) => !src.includes('node_modules') && !src.includes('/tests') });
  const own = await Hub.start({ webDir: dir });
  try {
    const page = await openPage(browser, { viewport: DESKTOP });
    await signInDemo(page, own, 'ns-sato');
    await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated', null, { timeout: 20000 });
    const v1 = stampedVersion(dir);

    // A new release: the page changes, the stamp with it.
    const index = join(dir, 'index.html');
    writeFileSync(index, readFileSync(index, 'utf8').replace('<meta name="color-scheme" content="light">', '<meta name="color-scheme" content="light">\n  <meta name="yui-release" content="2">'));
    const v2 = stamp(dir);
    assert.notEqual(v1, v2);

    // This load is still the old version (from its cache); the new one installs meanwhile and
    // says so; the next load is the new one, its old cache gone.
    await page.reload();
    await page.locator('#conn[data-state="connected"]').waitFor();
    assert.equal(await page.locator('meta[name="yui-release"]').count(), 0);
    await page.locator('#banner:not([hidden])', { hasText: '次に開いたときから新しい版になります' }).waitFor({ timeout: 20000 });
    await page.reload();
    await page.locator('#conn[data-state="connected"]').waitFor();
    assert.equal(await page.locator('meta[name="yui-release"]').getAttribute('content'), '2');
    assert.deepEqual(await page.evaluate(() => caches.keys()), [`yui-shell-${v2}`]);
    assertNoErrors(null, page);
    await page.context().close();
  } finally {
    await own.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
