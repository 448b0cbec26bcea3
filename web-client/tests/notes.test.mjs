// Care notes in the browser (PROTOCOL.md 5.2, 5.3), against the real hub: a nurse attaches a
// photo and a PDF, the doctor sees the thumbnail, opens the viewer and the PDF; a failed upload
// is retried without losing the note; 至急 notes are marked and their rooms listed first;
// @mention completion and badge; 確認しました with its count and who; edit and retraction shown
// in the original's place with the earlier version; who has not read a notice yet.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync, crc32 } from 'node:zlib';
import {
  Hub, launchBrowser, openPage as openPageIn, signInDemo, openRoom, post, msgLocator, screenshot, publish,
  assertNoErrors, uniq, demoToken, DESKTOP, PHONE,
} from './helpers.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

// Every page a test opens is closed after it, passed or failed: a page left open in a room
// would read the next test's notes.
const opened = [];
const openPage = async (b, o) => { const p = await openPageIn(b, o); opened.push(p); return p; };
afterEach(async () => { for (const p of opened.splice(0)) await p.context().close().catch(() => {}); });

/** A real PNG (w × h, RGB): a soft gradient with a dark disc, like a photo of a bruise;
 *  `grain`: with noise, as a camera's sensor gives (it barely compresses: a large file). */
function makePng(w, h, grain = false) {
  let seed = 7;
  const noise = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return grain ? (seed >> 16) % 48 : 0; };
  const row = w * 3 + 1;
  const raw = Buffer.alloc(row * h);
  for (let y = 0; y < h; y++) {
    raw[y * row] = 0;
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - w * 0.55, y - h * 0.5) / (h * 0.3);
      const o = y * row + 1 + x * 3;
      raw[o] = (d < 1 ? 120 + 60 * d : 236 - (y * 40) / h) - noise();
      raw[o + 1] = (d < 1 ? 60 + 50 * d : 200 - (x * 30) / w) - noise();
      raw[o + 2] = (d < 1 ? 110 + 40 * d : 170) - noise();
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A real one-page PDF with a line of text (offsets of the xref table computed). */
function makePdf(text) {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    null,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const stream = `BT /F1 18 Tf 72 760 Td (${text}) Tj ET`;
  objs[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = '%PDF-1.4\n';
  const offsets = [];
  objs.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A real JPEG made by the browser's own encoder (as a phone camera's would be). */
async function makeJpeg(page, w, h) {
  const bytes = await page.evaluate(async ([w, h]) => {
    const c = new OffscreenCanvas(w, h);
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, w, h);
    grad.addColorStop(0, '#d8c3a5');
    grad.addColorStop(1, '#8e8d8a');
    g.fillStyle = grad;
    g.fillRect(0, 0, w, h);
    g.fillStyle = '#7a3b3b';
    g.beginPath();
    g.arc(w * 0.4, h * 0.5, h * 0.2, 0, Math.PI * 2);
    g.fill();
    const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  }, [w, h]);
  return Buffer.from(bytes);
}

const chip = (page, name) => page.locator('#attach-chips .chip', { has: page.locator('.chip-name', { hasText: name }) });

test('a nurse attaches a photo and a PDF; the doctor sees the thumbnail, opens the viewer and the PDF', async () => {
  const nurse = await openPage(browser, { viewport: DESKTOP });
  const doctor = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(nurse, hub, 'ns-sato');
  await signInDemo(doctor, hub, 'dr-tanaka');
  await openRoom(nurse, 'res-nakamura');
  await openRoom(doctor, 'res-nakamura');

  // The camera button's input takes a photo (a JPEG the browser encoded), the file button a PDF.
  assert.equal(await nurse.locator('#attach-camera').getAttribute('capture'), 'environment');
  assert.match(await nurse.locator('#attach-files').getAttribute('accept'), /application\/pdf/);
  const jpeg = await makeJpeg(nurse, 640, 480);
  await nurse.locator('#attach-camera').setInputFiles({ name: 'ikeda-leg.jpg', mimeType: 'image/jpeg', buffer: jpeg });
  const pdf = makePdf('Prescription 2026-12-02');
  await nurse.locator('#attach-files').setInputFiles({ name: '処方箋.pdf', mimeType: 'application/pdf', buffer: pdf });
  await chip(nurse, 'ikeda-leg.jpg').and(nurse.locator('[data-status="done"]')).waitFor();
  await chip(nurse, '処方箋.pdf').and(nurse.locator('[data-status="done"]')).waitFor();
  const text = `右下腿の発赤、写真を添付します。${uniq()}`;
  await nurse.locator('#composer-input').fill(text);
  await screenshot(nurse, 'desktop-attach-chips');
  await nurse.locator('#composer-input').press('Enter');
  const mine = msgLocator(nurse, text).and(nurse.locator('[data-seq]'));
  await mine.waitFor();
  assert.equal(await nurse.locator('#attach-chips .chip').count(), 0, 'the chips went with the note');

  const note = msgLocator(doctor, text).and(doctor.locator('[data-seq]'));
  await note.waitFor();
  const thumb = note.locator('.thumb.loaded');
  await thumb.waitFor();
  const tw = await thumb.locator('img').evaluate((i) => [i.naturalWidth, i.naturalHeight, i.src.slice(0, 5)]);
  assert.ok(tw[0] > 0 && tw[0] <= 320 && tw[1] <= 320, `a thumbnail of at most 320 px: ${tw}`);
  assert.equal(tw[2], 'blob:', 'fetched with the token into a blob: URL');
  assert.equal(await thumb.locator('img').getAttribute('alt'), 'ikeda-leg.jpg');
  await note.locator('.file-pdf', { hasText: '処方箋.pdf' }).waitFor();

  // The viewer: the full image, closed by Esc, focus back on the thumbnail.
  await thumb.click();
  const viewer = doctor.locator('#viewer-dialog');
  await viewer.locator('#viewer-image:not([hidden])').waitFor();
  const full = await viewer.locator('#viewer-image').evaluate((i) => [i.naturalWidth, i.naturalHeight]);
  assert.deepEqual(full, [640, 480], 'the full image');
  assert.equal(await viewer.locator('#viewer-title').innerText(), 'ikeda-leg.jpg');
  publish(await screenshot(doctor, 'desktop-image-viewer'), 'desktop-image-viewer.png');
  await doctor.keyboard.press('Escape');
  await viewer.waitFor({ state: 'hidden' });
  assert.equal(await doctor.evaluate(() => document.activeElement?.classList.contains('thumb')), true, 'focus returns to the thumbnail');
  // ... and by its button.
  await thumb.click();
  await viewer.locator('#viewer-image:not([hidden])').waitFor();
  await viewer.locator('#viewer-close').click();
  await viewer.waitFor({ state: 'hidden' });

  // The PDF opens in a new tab, from a blob: URL holding the uploaded bytes.
  const pdfResponse = doctor.waitForResponse((r) => /\/api\/attachments\/[^/?]+$/.test(r.url()) && r.request().method() === 'GET'
    && r.status() === 200 && r.headers()['content-type'] === 'application/pdf');
  const [tab] = await Promise.all([
    doctor.waitForEvent('popup'),
    note.locator('.file-pdf', { hasText: '処方箋.pdf' }).click(),
  ]);
  // The tab shows the PDF, or (a browser without a PDF viewer, as headless Chromium may be)
  // saves it: either way it went to the blob: URL.
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the tab stayed at ${tab.url()}`)), 10000);
    const done = (u) => { if (u.startsWith('blob:')) { clearTimeout(timer); resolve(u); } };
    tab.on('framenavigated', (f) => done(f.url()));
    tab.on('download', (d) => done(d.url()));
    tab.on('request', (r) => done(r.url()));
    done(tab.url());
  });
  assert.match(url, /^blob:http:\/\/127\.0\.0\.1:\d+\//, `the tab shows the PDF's blob URL: ${url}`);
  // The blob holds what the hub sent for the PDF: the uploaded bytes (the page's CSP keeps even
  // the test from fetching the blob: URL, connect-src 'self').
  const got = await pdfResponse;
  assert.equal(got.headers()['content-type'], 'application/pdf');
  const pdfId = await note.locator('.file-pdf').getAttribute('data-attachment');
  assert.ok(got.url().endsWith(`/api/attachments/${pdfId}`));
  const direct = await fetch(`${hub.url}/api/attachments/${pdfId}`, { headers: { Authorization: `Bearer ${await demoToken(hub, 'dr-tanaka')}` } });
  const bytes = Buffer.from(await direct.arrayBuffer());
  assert.deepEqual(bytes, pdf, 'the PDF as uploaded');
  await tab.close();

  await screenshot(doctor, 'desktop-photo-note');
  assertNoErrors(null, nurse, doctor);
});

test('an upload that fails is retried without losing the note; too large and wrong files are refused before upload', async () => {
  // The refused connection below is reported by Chromium itself; nothing else may be.
  const nurse = await openPage(browser, { viewport: PHONE, touch: true, allow: [/net::ERR_CONNECTION_RESET/] });
  await signInDemo(nurse, hub, 'ns-sato');
  await openRoom(nurse, 'res-hayashi');
  const uploads = [];
  nurse.on('request', (r) => { if (r.url().includes('/attachments?')) uploads.push(r.url()); });

  // Over the hub's limit (GET /api/config): refused with a message, nothing sent.
  const limit = (await (await fetch(`${hub.url}/api/config`)).json()).max_attachment_bytes;
  await nurse.locator('#attach-files').setInputFiles({ name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(limit + 1) });
  await nurse.locator('#composer-error', { hasText: '大きすぎます' }).waitFor();
  await nurse.locator('#attach-files').setInputFiles({ name: 'memo.txt', mimeType: 'text/plain', buffer: Buffer.from('x') });
  await nurse.locator('#composer-error', { hasText: '添付できません' }).waitFor();
  assert.equal(await nurse.locator('#attach-chips .chip').count(), 0);
  assert.equal(uploads.length, 0, 'nothing was uploaded');

  const text = `膝の腫れ、写真を送ります。${uniq()}`;
  await nurse.locator('#composer-input').fill(text);
  // The network drops during the upload.
  const isUpload = (u) => u.pathname.endsWith('/attachments');
  await nurse.route(isUpload, (r) => r.abort('connectionreset'));
  await nurse.locator('#attach-files').setInputFiles({ name: 'knee.png', mimeType: 'image/png', buffer: makePng(200, 150) });
  const c = chip(nurse, 'knee.png');
  await c.and(nurse.locator('[data-status="failed"]')).waitFor();
  await c.locator('.chip-retry').waitFor();
  await nurse.locator('#send-button').tap();
  await nurse.locator('#composer-error', { hasText: 'アップロードできなかった' }).waitFor();
  assert.equal(await nurse.locator('#composer-input').inputValue(), text, 'the note is kept');
  publish(await screenshot(nurse, 'phone-upload-failed'), 'phone-upload-failed.png');

  await nurse.unroute(isUpload);
  await c.locator('.chip-retry').tap();
  await c.and(nurse.locator('[data-status="done"]')).waitFor();
  assert.equal(await nurse.locator('#composer-input').inputValue(), text, 'still kept');
  await nurse.locator('#send-button').tap();
  const note = msgLocator(nurse, text).and(nurse.locator('[data-seq]'));
  await note.waitFor();
  await note.locator('.thumb.loaded').waitFor();

  // Progress while uploading: a 2 MB photo over a slow uplink (Chromium's throttling) shows its
  // percentage and progress bar before it is ready.
  const big = makePng(820, 820, true);
  assert.ok(big.length > 1.5e6, `a large photo (${big.length} bytes)`);
  const cdp = await nurse.context().newCDPSession(nurse);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
  await nurse.locator('#attach-files').setInputFiles({ name: 'wound-large.png', mimeType: 'image/png', buffer: big });
  const bigChip = chip(nurse, 'wound-large.png');
  await bigChip.and(nurse.locator('[data-status="uploading"]')).waitFor();
  await nurse.waitForFunction(() => {
    const p = document.querySelector('#attach-chips .chip[data-status="uploading"] progress');
    return p && !p.hidden && p.value > 0 && p.value < 100;
  }, null, { timeout: 20000 });
  assert.match(await bigChip.locator('.chip-state').innerText(), /アップロード中 \d+%/);
  await screenshot(nurse, 'phone-upload-progress');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await bigChip.and(nurse.locator('[data-status="done"]')).waitFor({ timeout: 30000 });
  await bigChip.locator('.chip-remove').tap();
  await bigChip.waitFor({ state: 'detached' });

  // A photo alone: the body may be empty.
  await nurse.locator('#attach-files').setInputFiles({ name: 'only-photo.png', mimeType: 'image/png', buffer: makePng(120, 90) });
  await chip(nurse, 'only-photo.png').and(nurse.locator('[data-status="done"]')).waitFor();
  const before = await nurse.locator('#messages .msg[data-seq]').count();
  await nurse.locator('#send-button').tap();
  await nurse.locator('#messages .msg[data-seq] .thumb img[alt="only-photo.png"]').waitFor();
  assert.equal(await nurse.locator('#messages .msg[data-seq]').count(), before + 1);
  assertNoErrors(null, nurse);
});

test('urgent notes are unmistakable and their rooms are listed first, with the urgent count', async () => {
  const cm = await openPage(browser, { viewport: DESKTOP });
  const doctor = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(cm, hub, 'cm-takahashi');
  await signInDemo(doctor, hub, 'dr-tanaka');
  await openRoom(cm, 'res-nakamura');
  await cm.locator('#urgent-toggle').click();
  assert.equal(await cm.locator('#urgent-toggle').getAttribute('aria-pressed'), 'true');
  const text = `中村さん、38.5℃の発熱。往診をお願いします。${uniq()}`;
  await post(cm, text);
  const mine = msgLocator(cm, text).and(cm.locator('[data-seq]'));
  await mine.waitFor();
  assert.equal(await cm.locator('#urgent-toggle').getAttribute('aria-pressed'), 'false', 'the toggle is for one note');
  // Then a newer, ordinary note in another of the doctor's rooms.
  const ito = await demoToken(hub, 'ns-ito');
  await hub.api('POST', '/api/rooms/res-shimizu/messages', ito, { client_id: `n-${uniq()}`, body: `清水さん、特変なし。${uniq()}` });

  const teams = doctor.locator('#team-rooms .room-item');
  const item = doctor.locator('.room-item[data-room="res-nakamura"]');
  await item.locator('.urgent-badge:not([hidden])', { hasText: '至急 1' }).waitFor();
  await doctor.locator('.room-item[data-room="res-shimizu"] .room-preview', { hasText: '特変なし' }).waitFor();
  assert.equal(await teams.first().getAttribute('data-room'), 'res-nakamura', 'the room with an unread urgent note first');
  assert.match(await item.getAttribute('aria-label'), /至急 1 件/);
  await screenshot(doctor, 'desktop-urgent-rooms');

  await openRoom(doctor, 'res-nakamura');
  const note = msgLocator(doctor, text).and(doctor.locator('.msg.urgent'));
  await note.waitFor();
  assert.equal(await note.locator('.flag-urgent').innerText(), '⚠ 至急', 'a label, not the colour alone');
  const band = await note.evaluate((n) => getComputedStyle(n).borderLeftWidth);
  assert.equal(band, '6px');
  await item.locator('.urgent-badge[hidden]').waitFor({ state: 'attached' });
  // Read: the ordinary order again (the newest activity first).
  await doctor.waitForFunction(() => document.querySelector('#team-rooms .room-item')?.dataset.room === 'res-shimizu');
  // The hub's own count agrees.
  const rooms = (await hub.api('GET', '/api/me/rooms', await demoToken(hub, 'dr-tanaka'))).rooms;
  assert.equal(rooms.find((r) => r.room === 'res-nakamura').urgent, 0);
  assertNoErrors(null, cm, doctor);
});

test('@ offers the room members (arrows, Enter, Esc; tap on a phone); the mentioned see @N and the highlight', async () => {
  // (res-nakamura: five care members and its owner, the coordinator who made it)
  const nurse = await openPage(browser, { viewport: DESKTOP });
  const doctor = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(nurse, hub, 'ns-sato');
  await signInDemo(doctor, hub, 'dr-tanaka');
  await openRoom(nurse, 'res-nakamura');
  const input = nurse.locator('#composer-input');
  const list = nurse.locator('#mention-list');

  await input.fill('');
  await input.pressSequentially('@');
  await list.locator('li').first().waitFor();
  const names = await list.locator('li .who').allInnerTexts();
  const members = (await hub.api('GET', '/api/rooms/res-nakamura', await demoToken(hub, 'ns-sato'))).members;
  assert.equal(names.length, members.length - 1, `the other members: ${names}`);
  assert.deepEqual(new Set(await list.locator('li').evaluateAll((ls) => ls.map((l) => l.dataset.user))),
    new Set(members.map((m) => m.id).filter((id) => id !== 'ns-sato')));
  assert.ok(!names.includes('佐藤 花子'), 'not oneself');
  assert.equal(await input.getAttribute('aria-expanded'), 'true');
  assert.equal(await list.locator('li[aria-selected="true"]').count(), 1);
  const first = await list.locator('li[aria-selected="true"]').getAttribute('data-user');
  await input.press('ArrowDown');
  assert.notEqual(await list.locator('li[aria-selected="true"]').getAttribute('data-user'), first);
  assert.equal(await input.getAttribute('aria-activedescendant'), 'mention-opt-1');
  await input.press('Escape');
  await list.waitFor({ state: 'hidden' });
  assert.equal(await input.inputValue(), '@', 'Esc closes, nothing sent');

  await input.fill('');
  await input.pressSequentially('@医師');
  await list.locator('li[data-user="dr-tanaka"]').waitFor();
  assert.equal(await list.locator('li').count(), 1, 'filtered by profession too');
  await input.fill('');
  await input.pressSequentially('先生 @田中');
  await list.locator('li[data-user="dr-tanaka"]').waitFor();
  await screenshot(nurse, 'desktop-mention-completion');
  await input.press('Enter'); // picks, does not send
  assert.equal(await input.inputValue(), '先生 @田中 誠 ');
  const tag = uniq();
  await input.pressSequentially(`夕方の血圧をご確認ください。${tag}`);
  await input.press('Enter'); // sends
  const mine = msgLocator(nurse, tag).and(nurse.locator('[data-seq]'));
  await mine.waitFor();
  assert.equal(await mine.locator('mark.mention').innerText(), '@田中 誠');

  const item = doctor.locator('.room-item[data-room="res-nakamura"]');
  await item.locator('.mention-badge:not([hidden])', { hasText: '@1' }).waitFor();
  assert.match(await item.getAttribute('aria-label'), /あなた宛て 1 件/);
  await openRoom(doctor, 'res-nakamura');
  const note = msgLocator(doctor, tag).and(doctor.locator('.msg.mentions-me'));
  await note.waitFor();
  assert.equal(await note.locator('mark.mention-me').innerText(), '@田中 誠');
  await note.locator('.flag-mention', { hasText: 'あなた宛て' }).waitFor();
  await item.locator('.mention-badge[hidden]').waitFor({ state: 'attached' });

  // A touch phone: tap a member in the list.
  const cw = await openPage(browser, { viewport: PHONE, touch: true });
  await signInDemo(cw, hub, 'cw-kobayashi');
  await openRoom(cw, 'res-nakamura');
  await cw.locator('#composer-input').tap();
  await cw.locator('#composer-input').pressSequentially('@');
  await cw.locator('#mention-list li[data-user="ns-sato"]').waitFor();
  await screenshot(cw, 'phone-mention-completion');
  await cw.locator('#mention-list li[data-user="ns-sato"]').tap();
  assert.equal(await cw.locator('#composer-input').inputValue(), '@佐藤 花子 ');
  const tag2 = uniq();
  await cw.locator('#composer-input').pressSequentially(`入浴介助終わりました ${tag2}`);
  await screenshot(cw, 'phone-mention');
  await cw.locator('#send-button').tap();
  await msgLocator(cw, tag2).and(cw.locator('[data-seq]')).waitFor();
  await msgLocator(nurse, tag2).locator('mark.mention-me').waitFor();
  assertNoErrors(null, nurse, doctor, cw);
});

test('確認しました: the count moves live, the author sees who and when, one\'s own confirmation stays shown', async () => {
  const ph = await openPage(browser, { viewport: DESKTOP });
  const doctor = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(ph, hub, 'ph-suzuki');
  await signInDemo(doctor, hub, 'dr-tanaka');
  await openRoom(ph, 'res-ikeda');
  await openRoom(doctor, 'res-ikeda');
  const text = `インスリンの残りが2本です。処方をお願いします。${uniq()}`;
  await post(ph, text);
  const mine = msgLocator(ph, text).and(ph.locator('[data-seq]'));
  await mine.waitFor();
  assert.equal(await mine.locator('.confirm-btn').count(), 0, 'no button on one\'s own note');
  await mine.locator('.confirms-count[data-count="0"]').waitFor();

  const note = msgLocator(doctor, text).and(doctor.locator('[data-seq]'));
  await note.waitFor();
  const btn = note.locator('.confirm-btn');
  assert.equal(await btn.innerText(), '確認しました');
  await btn.click();
  await note.locator('.confirm-btn.done[aria-pressed="true"]', { hasText: '確認済み' }).waitFor();
  await note.locator('.confirms-count[data-count="1"]').waitFor();

  // Live at the author's, then who and when.
  await mine.locator('.confirms-count[data-count="1"]', { hasText: '確認 1人' }).waitFor();
  await mine.locator('.confirms-count').click();
  const dialog = ph.locator('#confirms-dialog');
  const row = dialog.locator('#confirms-list li[data-user="dr-tanaka"]');
  await row.waitFor();
  assert.match(await row.innerText(), /田中 誠[\s\S]*医師[\s\S]*確認[\s\S]*美咲ファミリークリニック/);
  await screenshot(ph, 'desktop-confirms');
  // Another confirmation arrives while the dialog is open.
  const ito = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(ito, hub, 'ns-ito');
  await openRoom(ito, 'res-ikeda');
  await msgLocator(ito, text).locator('.confirm-btn').click();
  await dialog.locator('#confirms-list li[data-user="ns-ito"]').waitFor();
  assert.match(await dialog.locator('#confirms-summary').innerText(), /2人が確認/);
  await ph.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  // One's own confirmation is still shown after a reload (from the hub's `confirms`).
  await doctor.reload();
  await doctor.locator('#conn[data-state="connected"]').waitFor();
  await msgLocator(doctor, text).locator('.confirm-btn.done', { hasText: '確認済み' }).waitFor();
  await msgLocator(doctor, text).locator('.confirms-count[data-count="2"]').waitFor();
  assertNoErrors(null, ph, doctor, ito);
});

test('edit and retraction: shown in the original\'s place with 編集済み / 取り消し and the earlier version', async () => {
  const nurse = await openPage(browser, { viewport: DESKTOP });
  const doctor = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(nurse, hub, 'ns-sato');
  await signInDemo(doctor, hub, 'dr-tanaka');
  await openRoom(nurse, 'res-nakamura');
  await openRoom(doctor, 'res-nakamura');
  const tag = uniq();
  const wrong = `血圧 183/82 ${tag}`;
  const right = `血圧 138/82 ${tag}`;
  await post(nurse, wrong);
  const mine = msgLocator(nurse, wrong).and(nurse.locator('[data-seq]'));
  await mine.waitFor();
  const seq = await mine.getAttribute('data-seq');

  await mine.locator('.edit-btn').click();
  const form = nurse.locator(`.msg[data-seq="${seq}"] .rev-form`);
  await form.locator('textarea').waitFor();
  assert.equal(await form.locator('textarea').inputValue(), wrong, 'edit in place, from the text');
  assert.equal(await nurse.evaluate(() => document.activeElement?.tagName), 'TEXTAREA');
  await form.locator('textarea').fill(right);
  await form.locator('button[type="submit"]').click();
  const edited = nurse.locator(`.msg[data-seq="${seq}"].edited`);
  await edited.waitFor();
  assert.equal(await edited.locator('.msg-body').innerText(), right);

  const theirs = doctor.locator(`.msg[data-seq="${seq}"]`);
  await theirs.and(doctor.locator('.edited')).waitFor();
  assert.equal(await theirs.locator('.msg-body').innerText(), right, 'the latest text in the original\'s place');
  await theirs.locator('.mark-edited', { hasText: '編集済み' }).waitFor();
  assert.equal(await doctor.locator('#messages .msg', { hasText: tag }).count(), 1, 'the revision is no note of its own');
  await theirs.locator('.msg-versions summary').click();
  assert.match(await theirs.locator('.msg-versions ol li').first().innerText(), new RegExp(`元の記録[\\s\\S]*${wrong.replace('/', '\\/')}`));
  await screenshot(doctor, 'desktop-edited');

  // A retraction, with its reason; the original stays an earlier version.
  const gone = `中村さん、転倒されました。${uniq()}`;
  await post(nurse, gone);
  const g = msgLocator(nurse, gone).and(nurse.locator('[data-seq]'));
  await g.waitFor();
  const gseq = await g.getAttribute('data-seq');
  await g.locator('.retract-btn').click();
  const rform = nurse.locator(`.msg[data-seq="${gseq}"] .rev-retract`);
  await rform.locator('textarea').fill('別の利用者さんの記録でした');
  await rform.locator('button[type="submit"]').click();
  const theirs2 = doctor.locator(`.msg[data-seq="${gseq}"]`);
  await theirs2.and(doctor.locator('.retracted')).waitFor();
  assert.match(await theirs2.locator('.msg-body').innerText(), /取り消し理由: 別の利用者さんの記録でした/);
  await theirs2.locator('.mark-retracted', { hasText: '取り消し' }).waitFor();
  assert.equal(await theirs2.locator('.confirm-btn').count(), 0, 'nothing to confirm in a withdrawn note');
  await theirs2.locator('.msg-versions summary').click();
  await theirs2.locator('.msg-versions ol li', { hasText: gone }).waitFor();
  assert.equal(await nurse.locator(`.msg[data-seq="${gseq}"] .edit-btn`).isVisible(), false, 'a withdrawn note is not edited');
  await screenshot(doctor, 'desktop-retracted');

  // The room as the doctor sees it: the urgent note (confirmed), mentions, the edit and the
  // retraction.
  const urgentNote = doctor.locator('#messages .msg.urgent').last();
  if (await urgentNote.count()) {
    if (await urgentNote.locator('.confirm-btn:not(.done)').count()) await urgentNote.locator('.confirm-btn').click();
    await urgentNote.locator('.confirm-btn.done').waitFor();
    await urgentNote.evaluate((n) => n.scrollIntoView({ block: 'start' }));
  }
  publish(await screenshot(doctor, 'desktop-care-notes'), 'desktop-care-notes.png');

  // After a reload (from history): the same.
  await doctor.reload();
  await doctor.locator('#conn[data-state="connected"]').waitFor();
  await doctor.locator(`.msg[data-seq="${seq}"].edited .msg-body`, { hasText: right }).waitFor();
  await doctor.locator(`.msg[data-seq="${gseq}"].retracted`).waitFor();
  assert.equal(await doctor.locator('#messages .msg', { hasText: tag }).count(), 1);
  // The revisions were read with the notes shown: nothing stays unread.
  await doctor.locator('.room-item[data-room="res-nakamura"] .unread-badge[hidden]').waitFor({ state: 'attached' });

  // English.
  await doctor.locator('#lang-toggle').click();
  await doctor.locator(`.msg[data-seq="${seq}"] .mark-edited`, { hasText: 'Edited' }).waitFor();
  await doctor.locator(`.msg[data-seq="${gseq}"] .mark-retracted`, { hasText: 'Withdrawn' }).waitFor();
  await doctor.locator('#lang-toggle').click();
  assertNoErrors(null, nurse, doctor);
});

test('the notice board\'s readers dialog lists who has not read yet, with their organization', async () => {
  const coord = await openPage(browser, { viewport: DESKTOP });
  const reader = await openPage(browser, { viewport: PHONE });
  await signInDemo(coord, hub, 'coord-yamada');
  await signInDemo(reader, hub, 'ns-sato');
  await openRoom(coord, 'misaki-notices');
  const text = `【お知らせ】年末の訪問調整会議 ${uniq()}`;
  await post(coord, text);
  const notice = msgLocator(coord, text).and(coord.locator('[data-seq]'));
  await notice.waitFor();
  await openRoom(reader, 'misaki-notices');
  await msgLocator(reader, text).waitFor();
  await notice.locator('.receipt-btn:not([data-count="0"])').waitFor();

  await notice.locator('.receipt-btn').click();
  const dialog = coord.locator('#readers-dialog');
  await dialog.locator('#readers-list li[data-user="ns-sato"]').waitFor();
  const pending = dialog.locator('#unread-list li[data-user="ph-suzuki"]');
  await pending.waitFor();
  assert.match(await pending.innerText(), /鈴木 健太[\s\S]*さくら薬局 美咲店/, 'with the organization: whom to phone');
  assert.equal(await dialog.locator('#unread-list li[data-user="ns-sato"]').count(), 0);
  assert.equal(await dialog.locator('#unread-list li[data-user="coord-yamada"]').count(), 0, 'not the author');
  assert.match(await dialog.locator('#unread-heading').innerText(), /未読（\d+人）/);
  await screenshot(coord, 'desktop-notice-pending');

  // Someone reads while it is open: moved from the pending list to the readers.
  const ph = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(ph, hub, 'ph-suzuki');
  await openRoom(ph, 'misaki-notices');
  await msgLocator(ph, text).waitFor();
  await dialog.locator('#readers-list li[data-user="ph-suzuki"]').waitFor();
  await dialog.locator('#unread-list li[data-user="ph-suzuki"]').waitFor({ state: 'detached' });
  await coord.keyboard.press('Escape');

  // A reader of the board sees who has read, not the town's directory of who has not.
  await msgLocator(reader, text).locator('.receipt-btn').click();
  const rd = reader.locator('#readers-dialog');
  await rd.locator('#readers-list li[data-user="ph-suzuki"]').waitFor();
  assert.equal(await rd.locator('#unread-block').isVisible(), false);
  await reader.keyboard.press('Escape');
  assertNoErrors(null, coord, reader, ph);
});
