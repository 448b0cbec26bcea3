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

test('a coordinator posts a notice; two readers read it; the coordinator sees "read by 2 of M"', async (t) => {
  const coord = await signedIn(browser, hub, 'coord-yamada');
  const r1 = await signedIn(browser, hub, 'dr-tanaka');
  const r2 = await signedIn(browser, hub, 'cw-kobayashi');
  await openRoom(coord, 'misaki-notices');
  const text = `【お知らせ】${Date.now()} 週末の連絡体制について`;
  await post(coord, text);
  const notice = coord.locator('li.msg:not(.pending)', { hasText: text });
  await notice.waitFor();
  for (const r of [r1, r2]) {
    await openRoom(r, 'misaki-notices');
    await r.locator('li.msg', { hasText: text }).waitFor();
    assert.equal(await r.locator('#composer').isVisible(), false, 'readers do not post notices');
    assert.equal(await r.locator('#readonly-note').isVisible(), true);
  }
  await notice.locator('.read-count', { hasText: /^既読 2 \/ \d+人$/ }).waitFor();
  await notice.locator('.read-count').click();
  const list = await coord.locator('#readers').textContent();
  assert.match(list, /田中 誠/);
  assert.match(list, /小林 さくら/);
  await shot(coord, 'desktop-notice-board');
  for (const p of [coord, r1, r2]) {
    noErrors(t, p);
    await p.context().close();
  }
});
