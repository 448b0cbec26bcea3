// Test helpers: a real `yui serve --demo` process per test file, real headless Chromium
// (Debian's, through playwright-core), screenshots, and a check for console errors.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
export const artifacts = join(repo, 'test-artifacts', 'browser');
mkdirSync(artifacts, { recursive: true });

export async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export class Hub {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'yui-web-'));
    this.port = null;
    this.child = null;
  }

  async start(port) {
    this.port = port ?? this.port ?? (await freePort());
    const bin = process.env.YUI_BIN ?? join(repo, 'target', 'debug', 'yui');
    const env = { ...process.env, RUST_LOG: 'warn' };
    for (const k of ['YUI_JWT_SECRET', 'DATABASE_URL', 'REDIS_URL', 'YUI_LISTEN', 'YUI_DATA_DIR']) delete env[k];
    this.child = spawn(bin, ['serve', '--demo', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dir, '--web-dir', join(repo, 'web-client')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    });
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.ok) return this;
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('hub did not start');
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async users() {
    return (await (await fetch(`${this.url}/api/demo/users`)).json()).users;
  }

  async stop(signal = 'SIGKILL') {
    if (!this.child) return;
    const c = this.child;
    this.child = null;
    const done = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await done;
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** A signed-in page for a demo user; every console error or page error is collected. */
export async function signedIn(browser, hub, userId, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(hub.url + '/');
  await page.locator(`button.demo-user[data-user="${userId}"]`).click();
  await page.locator('#conn[data-state="connected"]').waitFor();
  return page;
}

export async function openRoom(page, room) {
  await page.locator(`button.room-item[data-room="${room}"]`).first().click();
  await page.locator('#room-pane:not([hidden])').waitFor();
}

export async function post(page, text) {
  await page.locator('#body').fill(text);
  await page.locator('#body').press('Enter');
}

export function noErrors(t, page) {
  // A refused WebSocket while the hub restarts is expected and not a page error.
  const errors = page.errors.filter((e) => !/WebSocket connection to .* failed/.test(e) && !/ERR_CONNECTION_REFUSED/.test(e));
  t.assert.deepStrictEqual(errors, [], 'no console errors');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`) });
}
