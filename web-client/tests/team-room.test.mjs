import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hub, launch, signedIn, openRoom, post, noErrors, shot } from './helpers.mjs';

let hub;
let browser;

before(async () => {
  hub = await new Hub().start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await hub?.cleanup();
});

test('A posts, B sees it live and reads it, A sees 既読 1 with B\'s name', async (t) => {
  const a = await signedIn(browser, hub, 'ns-sato');
  const b = await signedIn(browser, hub, 'cm-takahashi');
  await openRoom(a, 'res-nakamura');
  await shot(a, 'desktop-team-room');
  // B stays on the room list at first: the message arrives but is not read yet.
  const text = `テスト投稿 ${Date.now()}：本日の訪問で血圧は安定していました。`;
  await post(a, text);
  const aMsg = a.locator('li.msg:not(.pending)', { hasText: text });
  await aMsg.waitFor();
  await b.locator('button.room-item[data-room="res-nakamura"] .preview', { hasText: 'テスト投稿' }).waitFor();
  await b.locator('button.room-item[data-room="res-nakamura"] .badge').waitFor();
  assert.equal(await aMsg.locator('.read-count').textContent(), '既読 0');
  // B opens the room: the message is shown, so it is read.
  await openRoom(b, 'res-nakamura');
  await b.locator('li.msg', { hasText: text }).waitFor();
  await aMsg.locator('.read-count', { hasText: '既読 1' }).waitFor();
  await aMsg.locator('.read-count').click();
  const readers = a.locator('#readers');
  await readers.waitFor();
  assert.match(await readers.textContent(), /高橋 直子/);
  assert.match(await readers.textContent(), /ケアマネジャー/);
  await shot(a, 'desktop-read-receipts');
  await a.keyboard.press('Escape');
  // Members with professions, in Japanese; English by the toggle.
  await a.locator('#members-toggle').click();
  assert.match(await a.locator('#member-list').textContent(), /薬剤師/);
  await a.locator('#lang').click();
  assert.match(await a.locator('#member-list').textContent(), /Pharmacist/);
  assert.equal(await a.locator('#send').textContent(), 'Send');
  await a.locator('#lang').click();
  noErrors(t, a);
  noErrors(t, b);
  await a.context().close();
  await b.context().close();
});

test('bad input is refused in the UI with a clear message and nothing is sent', async (t) => {
  const a = await signedIn(browser, hub, 'ph-suzuki');
  await openRoom(a, 'res-ikeda');
  // The two seeded notes are there before anything is tried.
  await a.locator('li.msg').nth(1).waitFor();
  const before = await a.locator('li.msg').count();
  await post(a, '   ');
  assert.equal(await a.locator('#compose-error').textContent(), '本文を入力してください。');
  await a.locator('#body').fill('あ'.repeat(4001));
  assert.match(await a.locator('#compose-error').textContent(), /4000文字以内/);
  assert.equal(await a.locator('#count').textContent(), '4001 / 4000');
  await a.locator('#send').click();
  assert.match(await a.locator('#compose-error').textContent(), /4000文字以内/);
  await shot(a, 'desktop-bad-input');
  await a.waitForTimeout(300);
  assert.equal(await a.locator('li.msg').count(), before, 'nothing was sent');
  // Shift+Enter is a new line, not a send.
  await a.locator('#body').fill('一行目');
  await a.locator('#body').press('Shift+Enter');
  await a.locator('#body').pressSequentially('二行目');
  assert.equal(await a.locator('#body').inputValue(), '一行目\n二行目');
  noErrors(t, a);
  await a.context().close();
});

test('phone-sized screens: room list, then the room with a back button', async (t) => {
  const p = await signedIn(browser, hub, 'ns-ito', { width: 390, height: 844 });
  await shot(p, 'phone-rooms');
  await openRoom(p, 'res-kimura');
  assert.equal(await p.locator('#rooms-pane').isVisible(), false);
  await shot(p, 'phone-team-room');
  await p.locator('#back').click();
  assert.equal(await p.locator('#rooms-pane').isVisible(), true);
  noErrors(t, p);
  await p.context().close();
});
