// The browser edge (PROTOCOL.md 5.1): outside demo mode the page asks GET /api/config and
// nothing that fails (no /api/demo/users 404), logs no console error (no CSP violation either),
// and works under the hub's Content-Security-Policy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Hub, launchBrowser, openPage, assertNoErrors, DESKTOP } from './helpers.mjs';

let hub;
let browser;
before(async () => { hub = await Hub.start({ secret: 'web-client-edge-secret' }); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await hub?.stop(); });

test('outside demo mode: no failing request, no console error, the app works under the CSP', async () => {
  const nurse = hub.mint({ sub: 'nurse-edge', name: '看護 縁' });
  const p = await openPage(browser, { viewport: DESKTOP }); // no console error allowed
  const failed = [];
  const asked = [];
  p.on('response', (r) => {
    asked.push(new URL(r.url()).pathname);
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  p.on('requestfailed', (r) => failed.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
  const doc = await p.goto(hub.url + '/');
  const csp = doc.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(doc.headers()['x-content-type-options'], 'nosniff');
  assert.equal(doc.headers()['referrer-policy'], 'no-referrer');

  await p.locator('#token-form').waitFor();
  assert.equal(await p.locator('#demo-users').isVisible(), false, 'no demo list without --demo');
  // Signing in still works under the CSP: the script runs, the WebSocket (same origin) opens.
  await p.locator('#token-input').fill(nurse);
  await p.locator('#token-form button[type="submit"]').click();
  await p.locator('#conn[data-state="connected"]').waitFor();
  await p.waitForTimeout(500);

  assert.ok(asked.includes('/api/config'), `the page asks /api/config: ${asked.join(', ')}`);
  assert.ok(!asked.includes('/api/demo/users'), 'no /api/demo/users outside demo mode');
  assert.deepEqual(failed, [], 'no failing request');
  assertNoErrors(null, p);
  await p.context().close();
});
