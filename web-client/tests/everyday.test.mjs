// What a nurse runs into every day: a room with many unread notes opens at the first unread one
// (「ここから未読」) and marks read only what was on screen; on a phone Enter makes a new line;
// a long note is shown from its start; 既読 N / M in team rooms; drafts survive a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Hub, launchBrowser, openPage, signInDemo, openRoom, post, msgLocator, screenshot, publish,
  assertNoErrors, uniq, seedPosts, readSeqOf, demoToken, DESKTOP, PHONE,
} from './helpers.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Where an element sits in the timeline's viewport: {top, bottom} relative to its top, and
 *  the viewport's height. */
async function placeIn(page, locator) {
  const tl = await page.locator('#timeline').boundingBox();
  const b = await locator.boundingBox();
  return { top: b.y - tl.y, bottom: b.y + b.height - tl.y, height: tl.height, elHeight: b.height };
}

/** Waits until `fn()` (async) returns a value for which `ok(value)` holds; returns it. */
async function until(fn, ok, what, ms = 10000) {
  const deadline = Date.now() + ms;
  let v;
  for (;;) {
    v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await sleep(200);
  }
}

/** Waits until the value of `fn()` has not changed for `quiet` ms; returns it. */
async function settled(fn, quiet = 1200) {
  let v = await fn();
  for (;;) {
    await sleep(quiet);
    const w = await fn();
    if (w === v) return v;
    v = w;
  }
}

test('a room with 120 unread notes opens at the first unread one, with the divider; only what was on screen is read', async () => {
  const room = 'res-nakamura';
  const aTok = await demoToken(hub, 'ns-sato');

  // B reads the room up to its newest note, then goes away.
  const b0 = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(b0, hub, 'dr-tanaka');
  await openRoom(b0, room);
  await b0.locator('#messages .msg[data-seq]').first().waitFor();
  await b0.locator('#timeline').evaluate((tl) => { tl.scrollTop = tl.scrollHeight; });
  const caughtUp = (await hub.api('GET', `/api/me/rooms`, await demoToken(hub, 'dr-tanaka'))).rooms.find((r) => r.room === room).last_seq;
  await until(() => readSeqOf(hub, aTok, room, 'dr-tanaka'), (s) => s === caughtUp, 'B caught up');
  assertNoErrors(null, b0);
  await b0.context().close();

  // A writes 120 notes while B is away.
  const tag = uniq();
  const seqs = await seedPosts(hub, aTok, room, 120, (i) => `訪問記録 ${tag} その${i}\n血圧 ${118 + (i % 20)}/76、体温 36.${i % 10}℃。`);
  const firstUnread = seqs[0];
  const newest = seqs.at(-1);
  assert.equal(firstUnread, caughtUp + 1);

  // B comes back and opens the room.
  const b = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(b, hub, 'dr-tanaka');
  await b.locator(`.room-item[data-room="${room}"] .unread-badge`, { hasText: '99+' }).waitFor();
  await openRoom(b, room);
  const divider = b.locator('#messages .unread-divider');
  await divider.waitFor();
  assert.match(await divider.innerText(), /ここから未読/);
  const first = b.locator(`#messages .msg[data-seq="${firstUnread}"]`);
  await first.waitFor();
  await sleep(500); // let the view settle where it opened
  const d = await placeIn(b, divider);
  const f = await placeIn(b, first);
  assert.ok(d.top >= 0 && d.bottom <= f.top + 1, `the divider is in view, just above the first unread note (${JSON.stringify({ d, f })})`);
  assert.ok(f.top >= 0 && f.bottom <= f.height, `the first unread note is wholly in view (${JSON.stringify(f)})`);
  assert.equal(await b.locator('#messages .unread-divider + .msg').getAttribute('data-seq'), String(firstUnread), 'divider right above the first unread note');
  assert.equal(await b.locator('#jump-new').isVisible(), true, 'the way to the newest is offered');

  // Only what was on screen is read: well below the newest seq.
  const readAtOpen = await settled(() => readSeqOf(hub, aTok, room, 'dr-tanaka'));
  assert.ok(readAtOpen >= firstUnread, `what is on screen is read (${readAtOpen} ≥ ${firstUnread})`);
  assert.ok(readAtOpen < newest - 90, `not everything is read (${readAtOpen}, newest ${newest})`);
  const shownMax = await b.locator('#messages .msg[data-seq]').evaluateAll((ns) => {
    const tl = document.getElementById('timeline').getBoundingClientRect();
    return Math.max(...ns.filter((n) => {
      const r = n.getBoundingClientRect();
      return Math.min(r.bottom, tl.bottom) - Math.max(r.top, tl.top) >= r.height / 2;
    }).map((n) => Number(n.dataset.seq)));
  });
  assert.equal(readAtOpen, shownMax, 'the read position is the last note at least half on screen');
  const badge = b.locator(`.room-item[data-room="${room}"] .unread-badge`);
  const left = newest - readAtOpen;
  assert.equal(await badge.innerText(), left > 99 ? '99+' : String(left), 'the badge counts what is still unread');
  publish(await screenshot(b, 'desktop-unread-divider'), 'desktop-unread-divider.png');
  await b.locator('#lang-toggle').click();
  await b.locator('#messages .unread-divider', { hasText: 'Unread from here' }).waitFor();
  await b.locator('#lang-toggle').click();
  await b.locator('#messages .unread-divider', { hasText: 'ここから未読' }).waitFor();
  assert.equal(await readSeqOf(hub, aTok, room, 'dr-tanaka'), readAtOpen, 'switching the language reads nothing');

  // Scrolling down moves the read position on, note by note; the bottom reads everything.
  await b.locator('#timeline').hover();
  await b.mouse.wheel(0, 900);
  const afterScroll = await until(() => readSeqOf(hub, aTok, room, 'dr-tanaka'), (s) => s > readAtOpen, 'read position moves on scrolling');
  assert.ok(afterScroll < newest, `one screen further is not the end (${afterScroll})`);
  await b.locator('#jump-new').click();
  await until(() => readSeqOf(hub, aTok, room, 'dr-tanaka'), (s) => s === newest, 'all read at the bottom');
  await badge.and(b.locator('[hidden]')).waitFor({ state: 'attached' });
  assertNoErrors(null, b);
  await b.context().close();

  // On a touch phone the same: C (who last posted seq 2 and so has read up to it) opens the room.
  const c = await openPage(browser, { viewport: PHONE, touch: true });
  await signInDemo(c, hub, 'ph-suzuki');
  const cFirst = (await readSeqOf(hub, aTok, room, 'ph-suzuki')) + 1;
  await openRoom(c, room);
  await c.locator('#messages .unread-divider').waitFor();
  const cf = c.locator(`#messages .msg[data-seq="${cFirst}"]`);
  await cf.waitFor();
  await sleep(500);
  assert.equal(await c.locator('#messages .unread-divider + .msg').getAttribute('data-seq'), String(cFirst));
  const cd = await placeIn(c, c.locator('#messages .unread-divider'));
  const cp = await placeIn(c, cf);
  assert.ok(cd.top >= 0 && cp.bottom <= cp.height, `phone: divider and first unread note in view (${JSON.stringify({ cd, cp })})`);
  const cRead = await settled(() => readSeqOf(hub, aTok, room, 'ph-suzuki'));
  assert.ok(cRead >= cFirst && cRead < newest - 100, `phone: only what was on screen is read (${cRead})`);
  publish(await screenshot(c, 'phone-unread-divider'), 'phone-unread-divider.png');
  assertNoErrors(null, c);
  await c.context().close();
});

test('phone (touch): Enter makes a new line and the send button sends; desktop: Enter sends, Shift+Enter new line', async () => {
  const p = await openPage(browser, { viewport: PHONE, touch: true });
  await signInDemo(p, hub, 'ph-suzuki');
  await openRoom(p, 'res-mori');
  await p.locator('#messages .msg[data-seq]').first().waitFor();
  const count = () => p.locator('#messages .msg').count();
  const before = await count();
  const tag = uniq();
  const input = p.locator('#composer-input');
  await input.tap();
  await input.pressSequentially(`疼痛時の頓用薬 ${tag}`);
  await input.press('Enter');
  await input.pressSequentially('本日2回使用。');
  await input.press('Enter');
  await input.pressSequentially('残り4包です。');
  assert.equal(await input.inputValue(), `疼痛時の頓用薬 ${tag}\n本日2回使用。\n残り4包です。`, 'Enter made new lines');
  await sleep(400);
  assert.equal(await count(), before, 'nothing was sent by Enter');
  assert.equal(await input.getAttribute('enterkeyhint'), 'enter');
  publish(await screenshot(p, 'phone-touch-composer'), 'phone-touch-composer.png');
  await p.locator('#send-button').tap();
  const m = msgLocator(p, tag).and(p.locator('[data-seq]'));
  await m.waitFor();
  assert.equal(await m.locator('.msg-body').innerText(), `疼痛時の頓用薬 ${tag}\n本日2回使用。\n残り4包です。`);
  assert.equal(await input.inputValue(), '', 'composer cleared after sending');
  await screenshot(p, 'phone-touch-sent');

  const dsk = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(dsk, hub, 'ph-suzuki');
  await openRoom(dsk, 'res-mori');
  await msgLocator(dsk, tag).waitFor();
  const tag2 = uniq();
  const di = dsk.locator('#composer-input');
  await di.click();
  await di.pressSequentially(`1行目 ${tag2}`);
  await di.press('Shift+Enter');
  await di.pressSequentially('2行目');
  assert.equal(await di.inputValue(), `1行目 ${tag2}\n2行目`);
  await di.press('Enter');
  const m2 = msgLocator(dsk, tag2).and(dsk.locator('[data-seq]'));
  await m2.waitFor();
  assert.equal(await m2.locator('.msg-body').innerText(), `1行目 ${tag2}\n2行目`);
  assert.equal(await di.inputValue(), '');
  assertNoErrors(null, p, dsk);
  await p.context().close();
  await dsk.context().close();
});

test('a note taller than the screen is shown from its start, arriving live and when opened', async () => {
  const room = 'res-shimizu';
  const aTok = await demoToken(hub, 'pt-kato');
  const b = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(b, hub, 'dr-tanaka');
  await openRoom(b, room);
  await b.locator('#messages .msg[data-seq]').first().waitFor();
  await sleep(300);

  const longBody = (tag) => [`リハビリ経過報告 ${tag}（はじめ）`, ...Array.from({ length: 70 }, (_, i) => `${i + 1}. 歩行訓練・関節可動域・筋力の記録 ${i + 1}`), `（おわり ${tag}）`].join('\n');
  const t1 = uniq();
  await seedPosts(hub, aTok, room, 1, () => longBody(t1));
  const live = msgLocator(b, `はじめ`).and(b.locator(`[data-seq]`)).filter({ hasText: t1 });
  await live.waitFor();
  await sleep(500);
  let pl = await placeIn(b, live);
  assert.ok(pl.elHeight > pl.height, `the note is taller than the timeline (${pl.elHeight} > ${pl.height})`);
  assert.ok(pl.top >= 0 && pl.top < pl.height / 3, `live: the note's start is in view (${JSON.stringify(pl)})`);
  publish(await screenshot(b, 'desktop-long-note'), 'desktop-long-note.png');

  // B leaves the room; another long note comes; B opens the room again.
  await openRoom(b, 'res-nakamura');
  const t2 = uniq();
  await seedPosts(hub, aTok, room, 1, () => longBody(t2));
  await b.locator(`.room-item[data-room="${room}"] .room-preview`, { hasText: t2 }).waitFor();
  await openRoom(b, room);
  const opened = msgLocator(b, t2).and(b.locator('[data-seq]'));
  await opened.waitFor();
  await sleep(500);
  pl = await placeIn(b, opened);
  assert.ok(pl.top >= 0 && pl.top < pl.height / 3, `opened: the note's start is in view (${JSON.stringify(pl)})`);

  // A reload opens the room with nothing unread: the newest (long) note, from its start.
  await b.reload();
  await b.locator('#conn[data-state="connected"]').waitFor();
  const again = msgLocator(b, t2).and(b.locator('[data-seq]'));
  await again.waitFor();
  await sleep(500);
  pl = await placeIn(b, again);
  assert.ok(pl.top >= 0 && pl.top < pl.height / 3, `reloaded: the note's start is in view (${JSON.stringify(pl)})`);

  // B's own long note written on another device (the HTTP API here) is read from its start too.
  await b.locator('#timeline').evaluate((tl) => { tl.scrollTop = tl.scrollHeight; });
  await sleep(300);
  const t3 = uniq();
  await seedPosts(hub, await demoToken(hub, 'dr-tanaka'), room, 1, () => longBody(t3));
  const own = msgLocator(b, t3).and(b.locator('[data-seq]'));
  await own.waitFor();
  await sleep(500);
  pl = await placeIn(b, own);
  assert.ok(pl.top >= 0 && pl.top < pl.height / 3, `own, from elsewhere: the note's start is in view (${JSON.stringify(pl)})`);
  assertNoErrors(null, b);
  await b.context().close();
});

test('既読 N / M in a team room, M the members other than the author', async () => {
  const room = 'res-ikeda';
  const aTok = await demoToken(hub, 'ns-ito');
  const members = (await hub.api('GET', `/api/rooms/${room}`, aTok)).members;
  const m = members.filter((x) => x.id !== 'ns-ito').length;
  assert.ok(m >= 3);
  const a = await openPage(browser, { viewport: DESKTOP });
  const b = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(a, hub, 'ns-ito');
  await signInDemo(b, hub, 'ph-suzuki');
  await openRoom(a, room);
  const text = `朝の血糖値 176 mg/dL。${uniq()}`;
  await post(a, text);
  const mine = msgLocator(a, text).and(a.locator('[data-seq]'));
  await mine.locator('.receipt-btn[data-count="0"]').waitFor();
  assert.equal(await mine.locator('.receipt-btn').innerText(), `既読 0 / ${m}`);
  await openRoom(b, room);
  await msgLocator(b, text).waitFor();
  await mine.locator('.receipt-btn[data-count="1"]').waitFor();
  assert.equal(await mine.locator('.receipt-btn').innerText(), `既読 1 / ${m}`);
  // Others' notes too: the seeded note by ph-suzuki counts the other members, ns-ito among them.
  const seeded = a.locator('#messages .msg[data-author="ph-suzuki"]').first();
  assert.match(await seeded.locator('.receipt-btn').innerText(), new RegExp(`^既読 \\d+ / ${members.filter((x) => x.id !== 'ph-suzuki').length}$`));
  await mine.locator('.receipt-btn').click();
  await a.locator('#readers-summary', { hasText: `既読 1 / ${m}` }).waitFor();
  await a.locator('#readers-list li[data-user="ph-suzuki"]').waitFor();
  publish(await screenshot(a, 'desktop-read-n-of-m'), 'desktop-read-n-of-m.png');
  await a.keyboard.press('Escape');
  await a.locator('#lang-toggle').click();
  await mine.locator('.receipt-btn', { hasText: `Read 1 / ${m}` }).waitFor();
  await a.locator('#lang-toggle').click();
  assertNoErrors(null, a, b);
  await a.context().close();
  await b.context().close();
});

test('each room keeps its draft across a reload, until it is sent; signing out forgets them', async () => {
  const p = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(p, hub, 'cm-takahashi');
  const tag = uniq();
  const draft1 = `サービス担当者会議の日程案 ${tag}\n・月曜 14時\n・水曜 10時`;
  const draft2 = `森さんのご家族へ連絡予定 ${tag}`;
  const input = p.locator('#composer-input');
  await openRoom(p, 'res-nakamura');
  await input.fill(draft1);
  await openRoom(p, 'res-mori');
  assert.equal(await input.inputValue(), '', 'another room has its own (empty) draft');
  await input.fill(draft2);
  await p.reload();
  await p.locator('#conn[data-state="connected"]').waitFor();
  await p.locator('#room-pane:not([hidden])').waitFor();
  assert.equal(await p.evaluate(() => location.hash), '#room/res-mori');
  await until(() => input.inputValue(), (v) => v === draft2, 'draft of res-mori after reload');
  assert.match(await p.locator('#composer-count').innerText(), new RegExp(`^${[...draft2].length} /`), 'the count follows the draft');
  await openRoom(p, 'res-nakamura');
  assert.equal(await input.inputValue(), draft1, 'draft of res-nakamura after reload');

  // Sent: the draft is gone, after a reload too; the other room's draft stays.
  await input.press('Enter');
  await msgLocator(p, `日程案 ${tag}`).and(p.locator('[data-seq]')).waitFor();
  await p.reload();
  await p.locator('#conn[data-state="connected"]').waitFor();
  await p.locator('#room-pane:not([hidden])').waitFor();
  await msgLocator(p, `日程案 ${tag}`).waitFor();
  assert.equal(await input.inputValue(), '', 'a sent draft is not restored');
  await openRoom(p, 'res-mori');
  assert.equal(await input.inputValue(), draft2);

  // Signing out forgets every draft (a shared device at the station).
  await p.locator('#signout').click();
  await p.locator('.demo-user').first().waitFor();
  const left = await p.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('yui.draft')));
  assert.deepEqual(left, []);
  await p.locator('.demo-user[data-user="cm-takahashi"]').click();
  await p.locator('#conn[data-state="connected"]').waitFor();
  await openRoom(p, 'res-mori');
  assert.equal(await input.inputValue(), '');
  assertNoErrors(null, p);
  await p.context().close();
});
