import { Hub, launchBrowser, openPage, signInDemo, openRoom, screenshot, DESKTOP } from './helpers.mjs';
const hub = await Hub.start();
const browser = await launchBrowser();
try {
  const p = await openPage(browser, { viewport: DESKTOP });
  await signInDemo(p, hub, 'coord-yamada');
  await p.waitForTimeout(500);
  await screenshot(p, 'smoke-1');
  const rooms = await p.locator('.room-item').evaluateAll((ns) => ns.map((n) => n.dataset.room));
  console.log('rooms', rooms);
  await openRoom(p, rooms.find((r) => r.startsWith('res-')) ?? rooms[0]);
  await p.waitForTimeout(800);
  await screenshot(p, 'smoke-2');
  await p.locator('.room-menu summary').click();
  await screenshot(p, 'smoke-3');
  await p.locator('#new-room').click();
  await p.waitForTimeout(300);
  await screenshot(p, 'smoke-4');
  console.log('errors', p.errors);
} finally { await browser.close(); await hub.stop(); }
