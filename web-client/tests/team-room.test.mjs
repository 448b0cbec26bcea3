// Two users in two browser contexts in one team room: live delivery, 既読 when really shown,
// who read it, pending → sent, bad input refused, history on scrolling up, phone and English.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Hub, launchBrowser, openPage, signInDemo, openRoom, post, msgLocator, screenshot, publish,
  assertNoErrors, uniq, DESKTOP, PHONE,
} from './helpers.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

/** Records every data-status a message node in #messages takes, in order. */
async function recordStatuses(page) {
  await page.evaluate(() => {
    window.__statuses = [];
    const list = document.getElementById('messages');
    new MutationObserver((muts) => {
      for (const m of muts) {
        if (m.type === 'childList') {
          for (const n of m.addedNodes) if (n.dataset?.status) window.__statuses.push(n.dataset.status);
        } else if (m.target.dataset?.status) {
          window.__statuses.push(m.target.dataset.status);
        }
      }
    }).observe(list, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-status'] });
  });
}

test('A posts, B sees it live, B reads it when shown, A sees 既読 1 and who', async () => {
  // A's browser is set to New York: times must still show in Japan time.
  const a = await openPage(browser, { viewport: DESKTOP, timezoneId: 'America/New_York' });
  const b = await openPage(browser, { viewport: DESKTOP });
  await a.goto(hub.url + '/');
  await a.locator('.demo-user').first().waitFor();
  publish(await screenshot(a, 'desktop-signin'), 'desktop-signin.png');

  await signInDemo(a, hub, 'ns-sato');
  await signInDemo(b, hub, 'dr-tanaka');
  await openRoom(a, 'res-nakamura');
  await recordStatuses(a);

  const text = `訪問しました。血圧 128/76、食事は半分。${uniq()}`;
  await post(a, text);
  const mine = msgLocator(a, text);
  await mine.and(a.locator('[data-status="sent"][data-seq]')).waitFor();
  const statuses = await a.evaluate(() => window.__statuses);
  assert.equal(statuses[0], 'pending', `first status: ${statuses}`);
  assert.equal(statuses.at(-1), 'sent');
  assert.equal(await a.locator('#composer-input').inputValue(), '', 'composer cleared');
  const at = await mine.locator('time').getAttribute('datetime');
  const jst = new Intl.DateTimeFormat('ja-JP', { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit', hour12: false }).format(new Date(at));
  assert.equal(await mine.locator('time').innerText(), jst, `shown in JST (${at})`);

  // B sees it live, in the room list, while the room is not open: unread, but not read.
  const item = b.locator('.room-item[data-room="res-nakamura"]');
  await item.locator('.room-preview', { hasText: text }).waitFor();
  await item.locator('.unread-badge:not([hidden])').waitFor();
  publish(await screenshot(b, 'desktop-rooms'), 'desktop-rooms.png');
  await a.waitForTimeout(800);
  assert.equal(await mine.locator('.receipt-btn').getAttribute('data-count'), '0', 'not read on arrival');

  // B opens the room: the message is shown, so it is read; A sees 既読 1.
  await openRoom(b, 'res-nakamura');
  await msgLocator(b, text).waitFor();
  await mine.locator('.receipt-btn[data-count="1"]').waitFor();
  assert.match(await mine.locator('.receipt-btn').innerText(), /既読 1/);
  await item.locator('.unread-badge[hidden]').waitFor({ state: 'attached' });

  // Who read it: name, profession, time; the author is not counted.
  await mine.locator('.receipt-btn').click();
  const dialog = a.locator('#readers-dialog');
  const reader = dialog.locator('#readers-list li[data-user="dr-tanaka"]');
  await reader.waitFor();
  const row = await reader.innerText();
  assert.match(row, /田中 誠/);
  assert.match(row, /医師/);
  assert.match(row, /既読/);
  assert.equal(await dialog.locator('#readers-list li[data-user="ns-sato"]').count(), 0);
  assert.ok(await dialog.locator('#unread-list li').count() >= 1, 'members who have not read are listed');
  publish(await screenshot(a, 'desktop-readers'), 'desktop-readers.png');
  await a.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await a.evaluate(() => document.activeElement?.classList.contains('receipt-btn')), true, 'focus returns to the 既読 button');

  publish(await screenshot(a, 'desktop-team-room'), 'desktop-team-room.png');
  assertNoErrors(null, a, b);
  await a.context().close();
  await b.context().close();
});

test('bad input is refused in the UI with a clear message; 4000 characters are fine', async () => {
  const a = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(a, hub, 'ph-suzuki');
  await openRoom(a, 'res-nakamura');
  const before = await a.locator('#messages .msg').count();

  await a.locator('#composer-input').fill('  \n\u3000 ');
  await a.locator('#composer-input').press('Enter');
  await a.locator('#composer-error', { hasText: '空' }).waitFor();
  assert.equal(await a.locator('#composer-input').getAttribute('aria-invalid'), 'true');

  await a.locator('#composer-input').fill('あ'.repeat(4001));
  await a.locator('#send-button').click();
  await a.locator('#composer-error', { hasText: '4000文字' }).waitFor();
  assert.match(await a.locator('#composer-count').innerText(), /4001 \/ 4000/);
  assert.equal(await a.locator('#composer-count.over').count(), 1);
  assert.equal(await a.locator('#composer-input').inputValue(), 'あ'.repeat(4001), 'the text is kept to be shortened');
  await a.waitForTimeout(300);
  assert.equal(await a.locator('#messages .msg').count(), before, 'nothing was posted');
  publish(await screenshot(a, 'desktop-too-long'), 'desktop-too-long.png');

  const tail = `${uniq()}おわり`;
  const long = 'い'.repeat(4000 - [...tail].length) + tail;
  await a.locator('#composer-input').fill(long);
  assert.match(await a.locator('#composer-count').innerText(), /4000 \/ 4000/);
  await a.locator('#composer-input').press('Enter');
  await a.locator('#composer-error:empty').waitFor({ state: 'attached' });
  const sent = msgLocator(a, tail).and(a.locator('[data-seq][data-status="sent"]'));
  await sent.waitFor();
  const body = await sent.locator('.msg-body').innerText();
  assert.equal([...body].length, 4000);
  assertNoErrors(null, a);
  await a.context().close();
});

test('history loads as the user scrolls up, with no duplicate and no gap', async () => {
  const users = await hub.demoUsers();
  const tok = users.find((u) => u.id === 'cm-takahashi').token;
  const tag = uniq();
  for (let i = 1; i <= 130; i++) {
    for (;;) {
      const r = await fetch(`${hub.url}/api/rooms/res-mori/messages`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: `seed-${tag}-${i}`, body: `記録 ${tag} その${i}` }),
      });
      if (r.status === 429) { await new Promise((res) => setTimeout(res, 300)); continue; }
      assert.ok(r.ok, `seed post ${i}: ${r.status}`);
      break;
    }
  }
  const a = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(a, hub, 'cm-takahashi');
  await openRoom(a, 'res-mori');
  await msgLocator(a, `その130`).waitFor();
  const first = await a.locator('#messages .msg[data-seq]').count();
  assert.ok(first < 120, `only a page is loaded at first (${first})`);
  for (let i = 0; i < 10 && (await a.locator('#messages .msg[data-seq="1"]').count()) === 0; i++) {
    await a.locator('#timeline').evaluate((tl) => { tl.scrollTop = 0; });
    await a.waitForTimeout(400);
  }
  await a.locator('#messages .msg[data-seq="1"]').waitFor();
  const seqs = await a.locator('#messages .msg[data-seq]').evaluateAll((ns) => ns.map((n) => Number(n.dataset.seq)));
  const last = seqs.at(-1);
  assert.deepEqual(seqs, Array.from({ length: last }, (_, i) => i + 1), 'every seq once, in order');
  await a.locator('#history-state', { hasText: 'これより前' }).waitFor();
  assertNoErrors(null, a);
  await a.context().close();
});

test('phone: list then room, Shift+Enter new line, English toggle, keyboard sign-in', async () => {
  const p = await openPage(browser, { viewport: PHONE });
  await p.goto(hub.url + '/');
  await p.locator('.demo-user').first().waitFor();
  publish(await screenshot(p, 'phone-signin'), 'phone-signin.png');
  // Keyboard only: the first demo user has focus; Tab to the next and press Enter.
  assert.equal(await p.evaluate(() => document.activeElement?.dataset.user), 'coord-yamada');
  await p.keyboard.press('Tab');
  assert.equal(await p.evaluate(() => document.activeElement?.dataset.user), 'dr-tanaka');
  await p.keyboard.press('Enter');
  await p.locator('#conn[data-state="connected"]').waitFor();
  await p.locator('.room-item[data-room="res-nakamura"]').waitFor();
  publish(await screenshot(p, 'phone-rooms'), 'phone-rooms.png');
  assert.equal(await p.locator('#room-pane').isVisible(), false, 'phone shows the list alone');

  await openRoom(p, 'res-nakamura');
  assert.equal(await p.locator('#rooms-pane').isVisible(), false, 'phone shows the room alone');
  const tag = uniq();
  await p.locator('#composer-input').fill(`1行目 ${tag}`);
  await p.locator('#composer-input').press('Shift+Enter');
  await p.locator('#composer-input').pressSequentially('2行目');
  await p.locator('#composer-input').press('Enter');
  const m = msgLocator(p, tag).and(p.locator('[data-seq]'));
  await m.waitFor();
  assert.equal(await m.locator('.msg-body').innerText(), `1行目 ${tag}\n2行目`);
  publish(await screenshot(p, 'phone-team-room'), 'phone-team-room.png');
  await p.locator('#members summary').click();
  await p.locator('#member-list li', { hasText: '看護師' }).first().waitFor();
  publish(await screenshot(p, 'phone-members'), 'phone-members.png');
  await p.locator('#members summary').click();

  await p.locator('#lang-toggle').click();
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'en');
  assert.equal(await p.locator('#send-button').innerText(), 'Send');
  await p.locator('#conn .conn-text', { hasText: 'Connected' }).waitFor();
  assert.match(await m.locator('.receipt-btn').innerText(), /^Read \d+ \/ \d+$/);
  assert.match(await m.locator('.msg-prof').innerText(), /Doctor/);
  publish(await screenshot(p, 'phone-team-room-en'), 'phone-team-room-en.png');
  // The top bar is one row on phones down to 320 px, in English (its longest labels) too:
  // connected, the dot says it and its words are left to screen readers.
  const oneRow = async (width) => {
    await p.setViewportSize({ width, height: PHONE.height });
    const bar = await p.locator('.topbar').evaluate((e) => e.getBoundingClientRect().height);
    const signout = await p.locator('#signout').evaluate((e) => e.getBoundingClientRect().top);
    assert.ok(bar < 60 && signout < 20, `one row at ${width} px (top bar ${bar} px high, sign-out at ${signout} px)`);
  };
  for (const width of [PHONE.width, 360, 320]) await oneRow(width);
  await screenshot(p, 'phone-320-topbar-en');
  assert.equal(await p.locator('#conn').getAttribute('aria-live'), 'polite');
  assert.equal(await p.locator('#conn .conn-text').textContent(), 'Connected', 'still read out');
  await p.locator('#lang-toggle').click();
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'ja');
  await oneRow(320);
  await p.setViewportSize(PHONE);

  await p.locator('#back-link').click();
  await p.locator('#rooms-pane').waitFor({ state: 'visible' });
  assert.equal(await p.evaluate(() => document.activeElement?.dataset.room), 'res-nakamura', 'focus returns to the room in the list');
  assertNoErrors(null, p);
  await p.context().close();
});
