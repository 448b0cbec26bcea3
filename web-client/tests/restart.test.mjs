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

async function ids(page) {
  return page.locator('li.msg[data-id]').evaluateAll((els) => els.map((e) => e.dataset.id));
}

test('the hub restarts mid-session: both clients reconnect, nothing lost or doubled', async (t) => {
  const a = await signedIn(browser, hub, 'dr-inoue');
  const b = await signedIn(browser, hub, 'ns-sato');
  await openRoom(a, 'res-mori');
  await openRoom(b, 'res-mori');
  await post(a, '再起動前の投稿');
  await b.locator('li.msg', { hasText: '再起動前の投稿' }).waitFor();
  await hub.stop('SIGKILL');
  await a.locator('#conn[data-state="reconnecting"]').waitFor();
  await shot(a, 'desktop-reconnecting');
  // Written while the hub is down: shown as pending, sent by itself once it is back.
  await post(a, '停止中に書いた投稿');
  await a.locator('li.msg.pending', { hasText: '停止中に書いた投稿' }).waitFor();
  await hub.start();
  await a.locator('#conn[data-state="connected"]').waitFor({ timeout: 30000 });
  await b.locator('#conn[data-state="connected"]').waitFor({ timeout: 30000 });
  await b.locator('li.msg', { hasText: '停止中に書いた投稿' }).waitFor({ timeout: 20000 });
  await post(b, '再起動後の返信');
  await a.locator('li.msg', { hasText: '再起動後の返信' }).waitFor();
  for (const p of [a, b]) {
    const list = await ids(p);
    assert.equal(new Set(list).size, list.length, 'no message twice');
    const seqs = await p.locator('li.msg[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, 'no gap');
    assert.equal(await p.locator('li.msg.pending').count(), 0);
    noErrors(t, p);
  }
  await a.context().close();
  await b.context().close();
});
