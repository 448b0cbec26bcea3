// The town tools in a real browser against a real hub (issue 12): a coordinator creates a
// household room, adds three professionals from the directory and records a consent with a
// scanned form; a nurse searches 転倒 and jumps to the note; a care manager exports the month as
// PDF; mute shows its icon and keeps the unread badge; the access log lists the export.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import {
  Hub, launchBrowser, openPage, signInDemo, openRoom, screenshot, publish, assertNoErrors,
  demoToken, seedPosts, msgLocator, uniq, DESKTOP, PHONE,
} from './helpers.mjs';

let hub;
let browser;
let dl;
before(async () => {
  hub = await Hub.start();
  browser = await launchBrowser();
  dl = mkdtempSync(join(tmpdir(), 'yui-town-dl-'));
});
after(async () => {
  await browser?.close();
  await hub?.stop();
  if (dl) rmSync(dl, { recursive: true, force: true });
});

// ---- a small PNG made here: the "scanned" consent form ----
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function makePng(w = 24, h = 32) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const rows = [];
  for (let y = 0; y < h; y++) {
    rows.push(0);
    for (let x = 0; x < w; x++) rows.push(255, y * 7 & 255, x * 9 & 255);
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0))]);
}

async function download(page, click) {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = join(dl, `${uniq()}-${d.suggestedFilename()}`);
  await d.saveAs(path);
  return { path, name: d.suggestedFilename(), bytes: readFileSync(path) };
}

async function openMenu(page, item) {
  await page.locator('#room-tools .room-menu summary').click();
  await page.locator(`#room-tools ${item}`).click();
}

// Shared across the tests of this file, in order.
const state = { room: null, fallSeq: null, fallText: null };

test('a coordinator creates a household room, adds three professionals from the directory, records a consent with a scan', async () => {
  const coord = await openPage(browser, { viewport: DESKTOP });
  const nurse = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(coord, hub, 'coord-yamada');
  await signInDemo(nurse, hub, 'ns-sato');

  // A new team room for a household: the mother and her son (8050).
  await coord.locator('#new-room').click();
  const dlg = coord.locator('#create-room-dialog');
  await dlg.locator('input[value="household"]').check();
  await dlg.locator('#cr-name').fill('小川 キヨ');
  await dlg.locator('#cr-kana').fill('おがわ きよ');
  await dlg.locator('#cr-birth').fill('1942');
  await dlg.locator('[data-h="name"]').first().fill('小川 隆');
  await dlg.locator('[data-h="relation"]').first().fill('長男');
  assert.equal(await dlg.locator('#cr-title').inputValue(), '小川 キヨ さん世帯', 'the title follows the name');
  await screenshot(coord, 'town-desktop-create-room');
  await dlg.locator('button[type="submit"]').click();

  // The room appears live in the coordinator's list (room_added), opens, with the members dialog.
  const members = coord.locator('#members-dialog');
  await members.waitFor();
  state.room = await coord.evaluate(() => decodeURIComponent(location.hash.replace('#room/', '')));
  assert.match(state.room, /^team-\d{8}-[a-z0-9]{6}$/);
  await coord.locator(`.room-item[data-room="${state.room}"]`).waitFor();

  // Three professionals from the town's directory.
  for (const [q, id] of [['佐藤', 'ns-sato'], ['田中', 'dr-tanaka'], ['takahashi', 'cm-takahashi']]) {
    await members.locator('#mg-search').fill(q);
    const hit = members.locator(`.directory-results li[data-user="${id}"]`);
    await hit.locator('[data-add]').click();
    await members.locator(`.manage-members li[data-user="${id}"]`).waitFor();
    await hit.locator('.already:not([hidden])').waitFor();
  }
  assert.equal(await members.locator('.manage-members li').count(), 4, 'the coordinator (owner) and three professionals');
  // The nurse sees the room arrive in her list, live.
  await nurse.locator(`.room-item[data-room="${state.room}"]`).waitFor();

  // A role changes; a fourth member is added and removed again after a confirmation.
  await members.locator('.manage-members select[data-user="cm-takahashi"]').selectOption('owner');
  await members.locator('#mg-search').fill('鈴木');
  await members.locator('.directory-results li[data-user="ph-suzuki"] [data-add]').click();
  await members.locator('.manage-members li[data-user="ph-suzuki"]').waitFor();
  publish(await screenshot(coord, 'town-desktop-members'), 'town-desktop-members.png');
  await members.locator('[data-remove="ph-suzuki"]').click();
  const confirm = coord.locator('#confirm-dialog');
  assert.match(await confirm.innerText(), /鈴木 健太/);
  await confirm.locator('[data-action="cancel"]').click();
  assert.equal(await members.locator('.manage-members li[data-user="ph-suzuki"]').count(), 1, 'cancel keeps the member');
  await members.locator('[data-remove="ph-suzuki"]').click();
  await confirm.locator('[data-action="confirm"]').click();
  await members.locator('.manage-members li[data-user="ph-suzuki"]').waitFor({ state: 'detached' });
  // A new title reaches the members' lists live (room_updated).
  await members.locator('#mg-title').fill('小川さん世帯（8050）');
  await members.locator('.inline-form button[type="submit"]').click();
  await nurse.locator(`.room-item[data-room="${state.room}"] .room-title-sub`, { hasText: '小川さん世帯（8050）' }).waitFor();
  await members.locator('.dialog-close').click();

  // The hub has it all.
  const tok = await demoToken(hub, 'coord-yamada');
  const room = await hub.api('GET', `/api/rooms/${state.room}`, tok);
  const roles = Object.fromEntries(room.members.map((m) => [m.id, m.role]));
  assert.deepEqual(roles, { 'coord-yamada': 'owner', 'ns-sato': 'member', 'dr-tanaka': 'member', 'cm-takahashi': 'owner' });
  assert.equal(room.resident.name, '小川 キヨ');
  assert.equal(room.resident.kana, 'おがわ きよ');
  assert.equal(room.resident.birth_year, 1942);
  assert.deepEqual(room.resident.household, [{ name: '小川 隆', relation: '長男' }]);

  // The resident panel: name, kana, age, household; the consent is missing.
  const panel = coord.locator('#resident-panel');
  await panel.locator('.resident-name', { hasText: '小川 キヨ' }).waitFor();
  assert.match(await panel.innerText(), /おがわ きよ/);
  assert.match(await panel.innerText(), /小川 隆/);
  await panel.locator('.consent-chip.none').waitFor();

  // A consent with its scanned form.
  await openMenu(coord, '#menu-consent');
  const consent = coord.locator('#consent-dialog');
  await consent.locator('.consent-state.none').waitFor();
  await consent.locator('#cs-given-by').fill('小川 キヨ');
  await consent.locator('#cs-relation').fill('本人');
  await consent.locator('#cs-scope').fill('医療・介護の関係者間での情報共有');
  await consent.locator('#cs-doc').setInputFiles({ name: '同意書.png', mimeType: 'image/png', buffer: makePng() });
  await consent.locator('.consent-form button[type="submit"]').click();
  await consent.locator('.consent-state.standing').waitFor();
  const item = consent.locator('.consent-item').first();
  assert.match(await item.innerText(), /小川 キヨ（本人）/);
  assert.match(await item.innerText(), /山田 恵子/, 'recorded by the coordinator');
  await item.locator('[data-doc]').waitFor();
  const doc = await download(coord, () => item.locator('[data-doc]').click());
  assert.equal(doc.bytes.subarray(1, 4).toString('ascii'), 'PNG', 'the scan comes back');
  publish(await screenshot(coord, 'town-desktop-consent'), 'town-desktop-consent.png');
  await consent.locator('.dialog-close').click();
  await panel.locator('.consent-chip.standing').waitFor();
  const consents = await hub.api('GET', `/api/rooms/${state.room}/consents`, tok);
  assert.equal(consents.consents.length, 1);
  assert.equal(consents.consents[0].given_by, '小川 キヨ');
  assert.ok(consents.consents[0].document, 'the document is linked');
  // The consent keeps the scan (a member opens it) and the team is told in a note.
  const opened = await fetch(`${hub.url}/api/attachments/${consents.consents[0].document}`, { headers: { authorization: `Bearer ${await demoToken(hub, 'ns-sato')}` } });
  assert.equal(opened.status, 200, 'a member opens the consent\'s scan');
  await msgLocator(coord, '同意書を登録しました').waitFor();

  assertNoErrors(null, coord, nurse);
  await coord.context().close();
  await nurse.context().close();
});

test('a nurse searches 転倒 and jumps to the note in its room, loaded and flashed', async () => {
  assert.ok(state.room, 'the room of the first test');
  const tanaka = await demoToken(hub, 'dr-tanaka');
  const tag = uniq();
  state.fallText = `夜間にベッドから転倒されました。右肘に擦り傷、経過観察します。${tag}`;
  [state.fallSeq] = await seedPosts(hub, tanaka, state.room, 1, () => state.fallText);
  // Enough notes after it that it is not in the first page the room loads.
  await seedPosts(hub, tanaka, state.room, 70, (i) => `定期訪問の記録 ${tag} その${i}`);

  const nurse = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(nurse, hub, 'ns-sato');

  // 五十音順: the team rooms by the kana of their residents, as the hub gives them.
  await nurse.locator('#team-order').selectOption('kana');
  const { rooms } = await hub.api('GET', '/api/me/rooms', await demoToken(hub, 'ns-sato'));
  const collator = new Intl.Collator('ja');
  const teams = rooms.filter((r) => r.kind === 'team');
  assert.ok(teams.every((r) => r.resident?.kana), 'the demo residents have kana');
  const want = [...teams].sort((a, b) => collator.compare(a.resident.kana, b.resident.kana)).map((r) => r.room);
  await nurse.waitForFunction((ids) => [...document.querySelectorAll('#team-rooms .room-item')].map((a) => a.dataset.room).join() === ids.join(), want);
  await nurse.locator('#team-order').selectOption('recent');

  await nurse.locator('#search-input').fill('転');
  await nurse.locator('.search-form button[type="submit"]').click();
  await nurse.locator('#search-error', { hasText: '2' }).waitFor(); // too short: said, not sent
  await nurse.locator('#search-input').fill('転倒');
  await nurse.locator('#search-input').press('Enter');
  const results = nurse.locator('#search-dialog');
  const hit = results.locator(`.search-hit[data-room="${state.room}"][data-seq="${state.fallSeq}"]`);
  await hit.waitFor();
  assert.equal(await hit.locator('mark').first().innerText(), '転倒', 'the match is highlighted');
  assert.match(await hit.locator('.hit-room').innerText(), /小川 キヨ/);
  // Newest first.
  const times = await results.locator('.search-hit time').evaluateAll((ns) => ns.map((n) => n.getAttribute('datetime')));
  assert.deepEqual(times, [...times].sort().reverse());
  publish(await screenshot(nurse, 'town-desktop-search'), 'town-desktop-search.png');

  await hit.click();
  await nurse.waitForFunction((room) => location.hash === `#room/${room}`, state.room);
  const note = nurse.locator(`#messages .msg[data-seq="${state.fallSeq}"]`);
  await note.and(nurse.locator('.flash')).waitFor();
  const inView = await note.evaluate((n) => {
    const tl = document.getElementById('timeline').getBoundingClientRect();
    const b = n.getBoundingClientRect();
    return b.top >= tl.top - 1 && b.top < tl.bottom;
  });
  assert.ok(inView, 'the note is scrolled into view');
  assert.equal(await msgLocator(nurse, tag).first().count(), 1);
  await screenshot(nurse, 'town-desktop-search-jump');
  assertNoErrors(null, nurse);
  await nurse.context().close();
});

test('a care manager exports the month as PDF; the access log lists the export', async () => {
  assert.ok(state.fallText, 'the notes of the earlier tests');
  const cm = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(cm, hub, 'cm-takahashi');
  await openRoom(cm, state.room);
  await openMenu(cm, '#menu-export');
  const dlg = cm.locator('#export-dialog');
  const from = await dlg.locator('#ex-from').inputValue();
  const to = await dlg.locator('#ex-to').inputValue();
  const month = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit' }).format(new Date());
  assert.equal(from, `${month}-01`, 'this month by default');
  assert.ok(to.startsWith(month) && Number(to.slice(8)) >= 28);
  const pdf = await download(cm, () => dlg.locator('button[type="submit"]').click());
  assert.equal(pdf.bytes.subarray(0, 4).toString('latin1'), '%PDF', `a PDF (${pdf.name})`);
  if (existsSync('/usr/bin/pdftotext')) {
    const text = execFileSync('pdftotext', ['-layout', pdf.path, '-']).toString().replace(/\s+/g, '');
    assert.ok(text.includes('転倒されました'), 'the note is in the PDF');
    assert.ok(text.includes('小川キヨ'), 'headed by the resident');
  }
  await dlg.locator('#ex-csv').check();
  const csv = await download(cm, () => dlg.locator('button[type="submit"]').click());
  assert.equal(csv.bytes.subarray(0, 3).toString('hex'), 'efbbbf', 'UTF-8 with BOM');
  assert.ok(csv.bytes.toString('utf8').includes('転倒されました'));
  await dlg.locator('.dialog-close').click();
  assertNoErrors(null, cm);
  await cm.context().close();

  // The coordinator's access log: filtered by room, the export is listed; CSV as well.
  const coord = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(coord, hub, 'coord-yamada');
  await coord.locator('#open-audit').click();
  const log = coord.locator('#audit-dialog');
  await log.locator('#au-room').fill(state.room);
  await log.locator('#au-user').fill('cm-takahashi');
  await log.locator('form button[type="submit"]').click();
  const row = log.locator('.audit-table tr[data-action="export"]').first();
  await row.waitFor();
  assert.match(await row.innerText(), /高橋 直子/);
  assert.match(await row.innerText(), /書き出し/);
  // Only what concerns the care manager in the room: what she did, and her being added by the coordinator.
  const rows = await log.locator('.audit-table tbody tr').evaluateAll((rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
  assert.ok(rows.every((r) => r[1] === '高橋 直子' || r[4].includes('cm-takahashi')), `only entries of the care manager (who acted or whom it concerned): ${JSON.stringify(rows)}`);
  await screenshot(coord, 'town-desktop-audit');
  const auditCsv = await download(coord, () => log.locator('#audit-csv').click());
  const csvText = auditCsv.bytes.toString('utf8').replace(/^\ufeff/, '');
  assert.ok(!csvText.trimStart().startsWith('{'), `a CSV, not JSON: ${csvText.slice(0, 80)}`);
  assert.ok(csvText.includes('export') && csvText.includes(state.room), 'the CSV lists the export in the room');
  assertNoErrors(null, coord);
  await coord.context().close();
});

test('phone: the resident panel folds; mute shows the icon and keeps the unread badge', async () => {
  const p = await openPage(browser, { viewport: PHONE, touch: true });
  await signInDemo(p, hub, 'ns-sato');
  await openRoom(p, state.room);
  const details = p.locator('#resident-panel details.resident');
  await details.waitFor();
  assert.equal(await details.evaluate((d) => d.open), false, 'folded on a phone');
  await details.locator('summary').click();
  await details.locator('.household-list', { hasText: '長男' }).waitFor();
  publish(await screenshot(p, 'town-phone-resident'), 'town-phone-resident.png');

  await openMenu(p, '[data-mute="1h"]');
  await p.locator('#room-tools .muted-flag').waitFor();
  const mine = await hub.api('GET', '/api/me/rooms', await demoToken(hub, 'ns-sato'));
  const summary = mine.rooms.find((r) => r.room === state.room);
  const left = Date.parse(summary.muted_until) - Date.now();
  assert.ok(left > 50 * 60000 && left <= 61 * 60000, `muted for an hour (${summary.muted_until})`);

  await p.locator('#back-link').click();
  const item = p.locator(`.room-item[data-room="${state.room}"]`);
  await item.locator('.muted-icon').waitFor();
  const badge = item.locator('.unread-badge');
  const unread = async () => ((await badge.getAttribute('hidden')) !== null ? 0 : Number(await badge.innerText()));
  const before = await unread();
  await seedPosts(hub, await demoToken(hub, 'dr-tanaka'), state.room, 2, (i) => `ミュート中の記録 ${i}`);
  await p.waitForFunction(([sel, n]) => {
    const b = document.querySelector(sel);
    return b && !b.hidden && b.textContent === String(n);
  }, [`.room-item[data-room="${state.room}"] .unread-badge`, before + 2 > 99 ? '99+' : before + 2]);
  assert.equal(await item.locator('.muted-icon').count(), 1, 'still muted, badge and all');
  assert.match(await item.getAttribute('aria-label'), /通知オフ/);
  publish(await screenshot(p, 'town-phone-muted'), 'town-phone-muted.png');

  // Unmute: the icon goes.
  await openRoom(p, state.room);
  await openMenu(p, '[data-mute="off"]');
  await p.locator('#room-tools .muted-flag').waitFor({ state: 'detached' });
  await p.locator('#back-link').click();
  await item.locator('.muted-icon').waitFor({ state: 'detached' });

  // English: the town tools follow the toggle.
  await p.locator('#lang-toggle').click();
  assert.match(await p.locator('#search-input').getAttribute('placeholder'), /Search the notes/);
  await openRoom(p, state.room);
  await p.locator('#resident-panel .resident-label', { hasText: 'Resident profile' }).waitFor();
  await p.locator('#room-tools .room-menu summary').click();
  await p.locator('#room-tools [data-mute="tomorrow"]', { hasText: 'Mute until tomorrow' }).waitFor();
  await p.locator('#room-tools .room-menu summary').click();
  await p.locator('#lang-toggle').click();
  await p.locator('#resident-panel .resident-label', { hasText: '利用者情報' }).waitFor();
  assertNoErrors(null, p);
  await p.context().close();
});

test('with --require-consent a room without a standing consent says so, keeps the draft, and posts once it is recorded', async () => {
  const strict = await Hub.start({ args: ['--require-consent'] });
  try {
    const coordTok = await demoToken(strict, 'coord-yamada');
    const room = `team-consent-${uniq()}`;
    await strict.api('PUT', `/api/rooms/${room}`, coordTok, { kind: 'team', title: '青木 ミツ さん', town: 'misaki', resident: { id: 'R-9001', name: '青木 ミツ' } });
    await strict.api('PUT', `/api/rooms/${room}/members/ns-sato`, coordTok, {});
    const cfg = await (await fetch(`${strict.url}/api/config`)).json();
    assert.equal(cfg.require_consent, true);

    const p = await openPage(browser, { viewport: PHONE, touch: true });
    await signInDemo(p, strict, 'ns-sato');
    await openRoom(p, room);
    const warn = p.locator('#consent-warning');
    await warn.waitFor();
    assert.match(await warn.innerText(), /同意書が未登録/);
    assert.match(await warn.innerText(), /依頼/, 'a member is told whom to ask');
    assert.doesNotMatch(await warn.innerText(), /null|undefined/);
    const text = `初回訪問の記録 ${uniq()}`;
    await p.locator('#composer-input').fill(text);
    await p.locator('#send-button').click();
    await p.locator('#composer-error', { hasText: '同意' }).waitFor();
    assert.equal(await p.locator('#composer-input').inputValue(), text, 'the draft is kept');
    assert.equal(await p.locator('#messages .msg').count(), 0, 'nothing was sent');
    await screenshot(p, 'town-phone-consent-required');

    // A coordinator records the consent (no scan this time) in her browser; the nurse's next try
    // finds it and posts.
    const coord = await openPage(browser, { viewport: DESKTOP });
    await signInDemo(coord, strict, 'coord-yamada');
    await openRoom(coord, room);
    const cwarn = coord.locator('#consent-warning');
    await cwarn.waitFor();
    assert.match(await cwarn.innerText(), /メニューの「同意書」/, 'a manager is told where to record it');
    await cwarn.locator('button').click(); // straight to the consent dialog
    const consent = coord.locator('#consent-dialog');
    await consent.locator('#cs-given-by').fill('青木 一郎');
    await consent.locator('#cs-relation').fill('長男');
    await consent.locator('#cs-explained-by').fill('山田 恵子');
    await consent.locator('#cs-date').fill('2999-01-01');
    await consent.locator('.consent-form button[type="submit"]').click();
    await consent.locator('.consent-form .form-error', { hasText: '今日以前' }).waitFor(); // a future date: said, not sent
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo' }).format(new Date());
    await consent.locator('#cs-date').fill(today);
    // The first consent of a room that requires one carries its scan (nothing could be posted
    // before it); then the team is told in a note.
    await consent.locator('#cs-doc').setInputFiles({ name: '同意書.png', mimeType: 'image/png', buffer: makePng() });
    await consent.locator('.consent-form button[type="submit"]').click();
    await consent.locator('.consent-state.standing').waitFor();
    await consent.locator('.consent-item a, .consent-item button', { hasText: '同意書を開く' }).first().waitFor();
    await msgLocator(coord, '同意書を登録しました').waitFor();
    assert.match(await consent.locator('.consent-item').first().innerText(), /青木 一郎（長男）/);
    await consent.locator('.dialog-close').click();
    await cwarn.waitFor({ state: 'hidden' });
    await p.waitForTimeout(10500); // the client asks again at most every 10 s
    await p.locator('#send-button').click(); // still refused here, and the hub is asked again
    await warn.waitFor({ state: 'hidden' });
    await p.locator('#send-button').click();
    await msgLocator(p, text).and(p.locator('[data-status="sent"][data-seq]')).waitFor();

    // Withdrawn: kept in the history, marked; the room warns again.
    await openMenu(coord, '#menu-consent');
    const item = consent.locator('.consent-item').first();
    await item.locator('.withdraw-form summary').click();
    await item.locator('.withdraw-form input[type="text"]').fill('ご家族の意向により');
    await item.locator('.withdraw-form button[type="submit"]').click();
    await consent.locator('.consent-state.withdrawn').waitFor();
    await consent.locator('.consent-item.withdrawn .consent-withdrawal', { hasText: 'ご家族の意向により' }).waitFor();
    assert.equal(await consent.locator('.consent-item').count(), 1, 'never erased');
    await screenshot(coord, 'town-desktop-consent-withdrawn');
    await consent.locator('.dialog-close').click();
    await coord.locator('#resident-panel .consent-chip.withdrawn').waitFor();
    await cwarn.locator('strong', { hasText: '撤回' }).waitFor();
    const list = await strict.api('GET', `/api/rooms/${room}/consents`, coordTok);
    assert.equal(list.consents[0].withdrawal.note, 'ご家族の意向により');
    assertNoErrors(null, p, coord);
    await p.context().close();
    await coord.context().close();
  } finally {
    await strict.stop();
  }
});
