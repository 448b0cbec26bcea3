// The town's notice board: a coordinator posts, two readers read, the coordinator sees
// "read by N of M" and who; readers cannot post.
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

test('coordinator posts a notice, two readers read it, the coordinator sees read by 2 of M and who', async () => {
  const coord = await openPage(browser, { viewport: DESKTOP });
  const r1 = await openPage(browser, { viewport: DESKTOP });
  const r2 = await openPage(browser, { viewport: PHONE });
  await signInDemo(coord, hub, 'coord-yamada');
  await signInDemo(r1, hub, 'ns-sato');
  await signInDemo(r2, hub, 'ph-suzuki');

  await openRoom(coord, 'misaki-notices');
  assert.equal(await coord.locator('#composer').isVisible(), true, 'coordinators may post notices');
  const text = `【お知らせ】年末年始の臨時往診体制について ${uniq()}`;
  await post(coord, text);
  const notice = msgLocator(coord, text).and(coord.locator('[data-seq]'));
  await notice.waitFor();
  const btn = notice.locator('.receipt-btn');
  await notice.locator('.receipt-btn[data-count="0"]').waitFor();
  const zero = await btn.innerText();
  const m = Number(/既読 0 \/ (\d+)/.exec(zero)?.[1]);
  assert.ok(m >= 2, `read by 0 of M with M ≥ 2: "${zero}"`);

  // Readers see it in the list, then open the board: no composer, the read-only note.
  for (const r of [r1, r2]) {
    await r.locator('.room-item[data-room="misaki-notices"] .room-preview', { hasText: text }).waitFor();
    await openRoom(r, 'misaki-notices');
    await msgLocator(r, text).waitFor();
    assert.equal(await r.locator('#composer').isVisible(), false, 'readers cannot post notices');
    assert.equal(await r.locator('#readonly-note').isVisible(), true);
  }
  await notice.locator('.receipt-btn[data-count="2"]').waitFor();
  assert.equal(await btn.innerText(), `既読 2 / ${m}`);

  await btn.click();
  const dialog = coord.locator('#readers-dialog');
  await dialog.locator('#readers-list li[data-user="ns-sato"]').waitFor();
  await dialog.locator('#readers-list li[data-user="ph-suzuki"]').waitFor();
  assert.match(await dialog.locator('#readers-summary').innerText(), new RegExp(`既読 2 / ${m}`));
  // Name, profession and organization of each reader (receipt events carry only the name:
  // the dialog asks for `receipts`, which carry the rest).
  await dialog.locator('#readers-list li[data-user="ph-suzuki"]', { hasText: '薬剤師' }).waitFor();
  assert.match(await dialog.locator('#readers-list li[data-user="ph-suzuki"]').innerText(), /鈴木 健太[\s\S]*薬剤師[\s\S]*さくら薬局/);
  publish(await screenshot(coord, 'desktop-notice-readers'), 'desktop-notice-readers.png');
  await coord.keyboard.press('Escape');
  publish(await screenshot(coord, 'desktop-notices'), 'desktop-notices.png');
  publish(await screenshot(r2, 'phone-notices'), 'phone-notices.png');
  assertNoErrors(null, coord, r1, r2);
});
