// Without --demo: no demo list, a pasted token or one from the URL fragment (an identity
// provider's redirect), kept in sessionStorage and gone from the URL; `refresh` with a fresh
// token; rooms added and removed live.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hub, launchBrowser, openPage, screenshot, assertNoErrors, DESKTOP, PHONE } from './helpers.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start({ secret: 'web-client-test-secret' }); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('pasted token: bad ones refused with a message, a good one signs in; rooms come and go live', async () => {
  const coord = hub.mint({ sub: 'coord-1', name: '町 調整', profession: 'municipal', org: 'テスト町役場', role: 'coordinator' });
  const nurse = hub.mint({ sub: 'nurse-1', name: '看護 一子' });
  // The page asks /api/demo/users, which is 404 here: Chromium logs that failed resource load.
  const p = await openPage(browser, { viewport: DESKTOP, allow: [/Failed to load resource.*404/] });
  await p.goto(hub.url + '/');
  await p.locator('#token-form').waitFor();
  assert.equal(await p.locator('#demo-users').isVisible(), false, 'no demo list without --demo');

  await p.locator('#token-form button[type="submit"]').click();
  await p.locator('#token-error', { hasText: 'トークンを入力' }).waitFor();
  await p.locator('#token-input').fill('not a token');
  await p.locator('#token-form button[type="submit"]').click();
  await p.locator('#token-error', { hasText: '確認できません' }).waitFor();

  // Well-formed but signed with another key: the hub says unauthorized, the client says so.
  const [h, c] = nurse.split('.');
  await p.locator('#token-input').fill(`${h}.${c}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`);
  await p.locator('#token-form button[type="submit"]').click();
  await p.locator('#signin-error:not([hidden])', { hasText: '確認できません' }).waitFor();
  await screenshot(p, 'desktop-signin-token-refused');
  assert.equal(await p.evaluate(() => sessionStorage.getItem('yui.token')), null, 'a refused token is not kept');

  await p.locator('#token-input').fill(nurse);
  await p.locator('#token-form button[type="submit"]').click();
  await p.locator('#conn[data-state="connected"]').waitFor();
  await p.locator('#no-rooms:not([hidden])').waitFor();

  // A coordinator creates a team room and adds the nurse: it appears live (room_added).
  await hub.api('PUT', '/api/rooms/res-test', coord, { kind: 'team', title: '試験 太郎 さん（退院直後）', town: 't1', resident: { id: 'R-9', name: '試験 太郎' } });
  await hub.api('PUT', '/api/rooms/res-test/members/nurse-1', coord, { role: 'member' });
  const item = p.locator('.room-item[data-room="res-test"]');
  await item.locator('.room-name', { hasText: '試験 太郎' }).waitFor();
  await item.click();
  await p.locator('#room-title', { hasText: '試験 太郎' }).waitFor();
  // Removed: the room goes away at once and the user is told.
  await hub.api('DELETE', '/api/rooms/res-test/members/nurse-1', coord);
  await item.waitFor({ state: 'detached' });
  await p.locator('#banner:not([hidden])').waitFor();
  await p.locator('#room-pane').waitFor({ state: 'hidden' });
  assertNoErrors(null, p);
  await p.context().close();
});

test('token from the URL fragment: signed in, removed from the URL, refreshed in place', async () => {
  const first = hub.mint({ sub: 'nurse-2', name: '看護 二郎', ttl: 3600 });
  const p = await openPage(browser, { viewport: PHONE, allow: [/Failed to load resource.*404/] });
  await p.goto(`${hub.url}/#token=${first}`);
  await p.locator('#conn[data-state="connected"]').waitFor();
  assert.equal(await p.evaluate(() => location.href.includes('token')), false, 'the token left the address bar');
  assert.equal(await p.evaluate(() => sessionStorage.getItem('yui.token')), first);
  assert.equal(await p.evaluate(() => localStorage.getItem('yui.token')), null, 'never in localStorage');

  // Survives a reload (sessionStorage), without the token in the URL.
  await p.reload();
  await p.locator('#conn[data-state="connected"]').waitFor();

  // The identity provider redirects back with a fresh token for the same user: `refresh`.
  await sleep(1100); // a different iat, so a different token
  const second = hub.mint({ sub: 'nurse-2', name: '看護 二郎', ttl: 7200 });
  assert.notEqual(first, second);
  await p.evaluate((tok) => { location.hash = `#token=${tok}`; }, second);
  // The client keeps the new token only once the hub has acked its `refresh`.
  await p.waitForFunction((tok) => sessionStorage.getItem('yui.token') === tok, second);
  assert.equal(await p.evaluate(() => location.hash), '');
  assert.equal(await p.locator('#conn').getAttribute('data-state'), 'connected', 'same connection, no reconnect');
  assert.equal(await p.locator('#banner').isVisible(), false);

  await p.locator('#signout').click();
  await p.locator('#token-form').waitFor();
  assert.equal(await p.evaluate(() => sessionStorage.getItem('yui.token')), null, 'signed out: token gone');
  assertNoErrors(null, p);
  await p.context().close();
});

test('a user in 60 rooms: every room subscribed at connect within the rate limit, all live', async () => {
  const coord = hub.mint({ sub: 'coord-2', name: '町 調整二', profession: 'municipal', org: 'テスト町役場', role: 'coordinator' });
  const nurse = hub.mint({ sub: 'nurse-many', name: '多忙 看護' });
  const ids = Array.from({ length: 60 }, (_, i) => `res-many-${String(i).padStart(2, '0')}`);
  for (const [i, id] of ids.entries()) {
    await hub.api('PUT', `/api/rooms/${id}`, coord, { kind: 'team', title: `利用者 ${i} さん`, town: 't1', resident: { id: `R-${i}`, name: `利用者 ${i}` } });
    await hub.api('PUT', `/api/rooms/${id}/members/nurse-many`, coord, {});
    await hub.api('POST', `/api/rooms/${id}/messages`, coord, { client_id: `many-${i}`, body: `初回の連絡 ${i}` });
  }
  const p = await openPage(browser, { viewport: DESKTOP, allow: [/Failed to load resource.*404/] });
  const hubErrors = [];
  p.on('websocket', (ws) => ws.on('framereceived', (f) => {
    if (typeof f.payload === 'string' && f.payload.includes('"error"')) hubErrors.push(f.payload);
  }));
  await p.goto(`${hub.url}/#token=${nurse}`);
  await p.locator('#conn[data-state="connected"]').waitFor();
  await p.waitForFunction(() => document.querySelectorAll('#team-rooms .room-item').length === 60);
  // Every room got its preview through its subscription, and the last one is live.
  await p.waitForFunction(() => [...document.querySelectorAll('#team-rooms .room-preview')].every((n) => n.textContent.includes('初回の連絡')));
  await hub.api('POST', `/api/rooms/${ids[59]}/messages`, coord, { client_id: 'many-live', body: '追加の連絡' });
  await p.locator(`.room-item[data-room="${ids[59]}"] .room-preview`, { hasText: '追加の連絡' }).waitFor();
  assert.deepEqual(hubErrors, [], 'no error frame from the hub (no rate_limited)');
  assertNoErrors(null, p);
  await p.context().close();
});
