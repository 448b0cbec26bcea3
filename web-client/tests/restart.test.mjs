// The hub is killed mid-session and started again on the same port and data: both clients show
// it, reconnect by themselves, resume with `since`, and nothing is lost or doubled.
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

// While the hub is down, Chromium itself reports the refused WebSocket and fetch; not app errors.
const allow = [/WebSocket connection to .* failed/, /ERR_CONNECTION_REFUSED/, /Failed to load resource/];

async function seqsOf(page) {
  return page.locator('#messages .msg[data-seq]').evaluateAll((ns) => ns.map((n) => Number(n.dataset.seq)));
}

function assertContiguous(seqs, who) {
  for (let i = 1; i < seqs.length; i++) {
    assert.equal(seqs[i], seqs[i - 1] + 1, `${who}: seq ${seqs[i - 1]} then ${seqs[i]} (${seqs.join(',')})`);
  }
}

test('hub restart: both clients reconnect, resume every room, nothing lost or doubled', async () => {
  const a = await openPage(browser, { viewport: DESKTOP, allow });
  const b = await openPage(browser, { viewport: PHONE, allow });
  await signInDemo(a, hub, 'ns-sato');
  await signInDemo(b, hub, 'dr-tanaka');
  await openRoom(a, 'res-nakamura');
  await openRoom(b, 'res-nakamura');
  const tag = uniq();

  await post(a, `再起動前 ${tag}`);
  await msgLocator(b, `再起動前 ${tag}`).waitFor();

  await hub.kill();
  for (const p of [a, b]) await p.locator('#conn:is([data-state="reconnecting"],[data-state="offline"])').waitFor();
  assert.match(await a.locator('#conn').innerText(), /再接続中|オフライン/);

  // Posted while the hub is down: shown as pending, retried by itself with the same client_id.
  await post(a, `停止中 ${tag}`);
  const pending = msgLocator(a, `停止中 ${tag}`);
  await pending.and(a.locator('[data-status="waiting"]')).waitFor();
  assert.match(await pending.locator('.msg-status').innerText(), /接続待ち/);
  const clientId = await pending.getAttribute('data-client-id');
  publish(await screenshot(a, 'desktop-reconnecting'), 'desktop-reconnecting.png');
  await screenshot(b, 'phone-reconnecting');

  await hub.spawn();
  // Someone else posts to the room and the notice board right after the restart, before the
  // browsers are back: they must get these through `since`.
  const users = await hub.demoUsers();
  const auth = (id) => ({ Authorization: `Bearer ${users.find((u) => u.id === id).token}`, 'Content-Type': 'application/json' });
  for (let i = 1; i <= 3; i++) {
    const r = await fetch(`${hub.url}/api/rooms/res-nakamura/messages`, {
      method: 'POST', headers: auth('ph-suzuki'), body: JSON.stringify({ client_id: `rs-${tag}-${i}`, body: `再起動直後 ${tag} ${i}` }),
    });
    assert.ok(r.ok, `post ${r.status}`);
  }
  const nr = await fetch(`${hub.url}/api/rooms/misaki-notices/messages`, {
    method: 'POST', headers: auth('coord-yamada'), body: JSON.stringify({ client_id: `rn-${tag}`, body: `再起動後のお知らせ ${tag}` }),
  });
  assert.ok(nr.ok);

  for (const p of [a, b]) await p.locator('#conn[data-state="connected"]').waitFor({ timeout: 30000 });
  const sent = msgLocator(a, `停止中 ${tag}`).and(a.locator('[data-seq][data-status="sent"]'));
  await sent.waitFor();
  assert.equal(await sent.getAttribute('data-client-id'), clientId, 'the retry kept its client_id');

  await post(b, `再起動後 ${tag}`);
  for (const p of [a, b]) {
    for (const text of [`再起動前 ${tag}`, `停止中 ${tag}`, `再起動直後 ${tag} 1`, `再起動直後 ${tag} 3`, `再起動後 ${tag}`]) {
      await msgLocator(p, text).and(p.locator('[data-seq]')).waitFor();
    }
  }
  // No duplicate, no gap, on either side; and the same messages on both.
  const sa = await seqsOf(a);
  const sb = await seqsOf(b);
  assertContiguous(sa, 'A');
  assertContiguous(sb, 'B');
  assert.equal(sa.at(-1), sb.at(-1));
  for (const p of [a, b]) {
    const bodies = await p.locator('#messages .msg .msg-body').allInnerTexts();
    for (const text of [`再起動前 ${tag}`, `停止中 ${tag}`, `再起動直後 ${tag} 2`, `再起動後 ${tag}`]) {
      assert.equal(bodies.filter((x) => x === text).length, 1, `${text} exactly once`);
    }
  }
  // The other room resumed too: the notice posted while away is in A's list.
  await a.locator('.room-item[data-room="misaki-notices"] .room-preview', { hasText: `再起動後のお知らせ ${tag}` }).waitFor();
  // And receipts work after the restart: B has seen A's post (B's own later post moved B's read
  // position past it), so A sees B among its readers. The pharmacist's posts right after the
  // restart may have landed after A's too, which makes them a reader as well.
  const rb = msgLocator(a, `停止中 ${tag}`).locator('.receipt-btn');
  await rb.and(a.locator(':not([data-count="0"])')).waitFor();
  await rb.click();
  await a.locator('#readers-list li[data-user="dr-tanaka"]').waitFor();
  await a.keyboard.press('Escape');
  await screenshot(a, 'desktop-after-restart');
  assertNoErrors(null, a, b);
});
