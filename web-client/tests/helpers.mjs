// Test harness: a real hub process per test file (fresh data dir, free port), real headless
// Debian Chromium driven by playwright-core, console and page errors collected per page.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(WEB_DIR, '..');
export const ARTIFACTS = process.env.YUI_TEST_ARTIFACTS ?? join(REPO, 'test-artifacts', 'web-client');
export const YUI_BIN = process.env.YUI_BIN ?? join(REPO, 'target', 'debug', 'yui');
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

// YUI_WEB_TEST_STORE=cluster: each hub on a fresh Postgres database and the local Redis (its own
// channel prefix) instead of SQLite; the database is dropped when the hub stops.
export const CLUSTER = process.env.YUI_WEB_TEST_STORE === 'cluster';
const PG = process.env.YUI_WEB_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS = process.env.YUI_WEB_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const psql = (sql) => execFileSync('psql', [`${PG}/test`, '-qtAc', sql]);

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Hub {
  constructor({ port, dataDir, secret = null, webDir = WEB_DIR, args = [] }) {
    this.webDir = webDir;
    this.extraArgs = args; // more `yui serve` flags (`--require-consent`)
    this.port = port;
    this.dataDir = dataDir;
    this.secret = secret; // null: demo mode
    this.proc = null;
    this.log = '';
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** `secret`: run without --demo, verifying HS256 tokens signed with it. `webDir`: the
   *  directory of the client it serves (default: this one). */
  static async start({ secret = null, webDir = WEB_DIR, args = [] } = {}) {
    if (!existsSync(YUI_BIN)) throw new Error(`hub binary not found at ${YUI_BIN} (set YUI_BIN or build yui-server)`);
    const hub = new Hub({ port: await freePort(), dataDir: mkdtempSync(join(tmpdir(), 'yui-web-test-')), secret, webDir, args });
    if (CLUSTER) {
      hub.db = `yui_web_${uniq()}${uniq()}`;
      psql(`CREATE DATABASE ${hub.db}`);
      hub.extraArgs = [...hub.extraArgs, '--database-url', `${PG}/${hub.db}`, '--redis-url', REDIS, '--redis-prefix', hub.db];
    }
    await hub.spawn();
    return hub;
  }

  async spawn() {
    const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' };
    delete env.YUI_JWT_SECRET; // demo mode's fixed secret, so tokens stay valid across restarts
    delete env.YUI_DEMO;
    if (this.secret) env.YUI_JWT_SECRET = this.secret;
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir, '--web-dir', this.webDir];
    if (!this.secret) args.splice(1, 0, '--demo');
    args.push(...this.extraArgs);
    this.proc = spawn(YUI_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const add = (d) => { this.log += d.toString(); if (this.log.length > 200000) this.log = this.log.slice(-100000); };
    this.proc.stdout.on('data', add);
    this.proc.stderr.on('data', add);
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`hub exited (${this.proc.exitCode}):\n${this.log}`);
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.ok) return;
      } catch { /* not yet */ }
      await sleep(100);
    }
    throw new Error(`hub did not become healthy:\n${this.log}`);
  }

  /** Kills the process outright (no graceful drain), as a crash would. */
  async kill(signal = 'SIGKILL') {
    if (!this.proc || this.proc.exitCode !== null) return;
    const p = this.proc;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async restart() {
    await this.kill();
    await this.spawn();
  }

  async stop() {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
    if (this.db) psql(`DROP DATABASE IF EXISTS ${this.db} WITH (FORCE)`);
  }

  /** Mints a token with `yui token` and this hub's secret (non-demo hubs). */
  mint({ sub, name, profession = 'nurse', org = 'テスト訪問看護', town = 't1', role, ttl }) {
    const args = ['token', '--sub', sub, '--name', name, '--profession', profession, '--org', org, '--town', town];
    if (role) args.push('--role', role);
    if (ttl) args.push('--ttl', String(ttl));
    const out = execFileSync(YUI_BIN, args, { env: { ...process.env, YUI_JWT_SECRET: this.secret } });
    return out.toString().trim();
  }

  async api(method, path, token, body) {
    let r;
    for (;;) {
      r = await fetch(this.url + path, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (r.status !== 429) break;
      await sleep(300);
    }
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json().catch(() => null);
  }

  async demoUsers() {
    const r = await fetch(`${this.url}/api/demo/users`);
    return (await r.json()).users;
  }
}

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

/**
 * A page in its own context (own sessionStorage: one user), with console errors and page errors
 * collected in `page.errors`. `allow` lists patterns of console errors that are expected (the
 * browser's own report of a refused WebSocket while the hub is down, in the restart test).
 */
export async function openPage(browser, { viewport = DESKTOP, allow = [], locale = 'ja-JP', timezoneId = 'Asia/Tokyo', touch = false } = {}) {
  // touch: a phone as Chromium emulates it (coarse pointer, no hover, touch events).
  const context = await browser.newContext({ viewport, locale, timezoneId, deviceScaleFactor: 1, ...(touch ? { hasTouch: true, isMobile: true } : {}) });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (allow.some((re) => re.test(text))) return;
    page.errors.push(`console: ${text}`);
  });
  page.on('pageerror', (e) => page.errors.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(15000);
  return page;
}

/** Posts `n` notes through the HTTP API as the user with `token` (waits out 429s);
 *  `body(i)` gives the i-th body (1-based). Returns the seqs. */
export async function seedPosts(hub, token, room, n, body) {
  const tag = uniq();
  const seqs = [];
  for (let i = 1; i <= n; i++) {
    const r = await hub.api('POST', `/api/rooms/${room}/messages`, token, { client_id: `seed-${tag}-${i}`, body: body(i) });
    seqs.push(r.seq);
  }
  return seqs;
}

/** A user's read position in a room, as the hub has it (`GET /api/rooms/{room}/receipts`). */
export async function readSeqOf(hub, token, room, userId) {
  const r = await hub.api('GET', `/api/rooms/${room}/receipts`, token);
  return r.readers.find((x) => x.user.id === userId)?.seq ?? 0;
}

export async function demoToken(hub, userId) {
  return (await hub.demoUsers()).find((u) => u.id === userId).token;
}

/** Signs in through the demo list, the way a person would. */
export async function signInDemo(page, hub, userId) {
  await page.goto(hub.url + '/');
  await page.locator(`.demo-user[data-user="${userId}"]`).click();
  await page.locator('#conn[data-state="connected"]').waitFor();
}

export async function openRoom(page, roomId) {
  await page.locator(`.room-item[data-room="${roomId}"]`).click();
  await page.locator('#room-pane:not([hidden])').waitFor();
  await page.waitForFunction((id) => location.hash === `#room/${id}`, roomId);
}

export async function post(page, text) {
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
}

export function msgLocator(page, text) {
  return page.locator('#messages .msg', { has: page.locator('.msg-body', { hasText: text }) });
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Copies chosen screenshots next to the README (docs/screenshots/), when
 *  YUI_PUBLISH_SCREENSHOTS=1: ordinary runs leave the committed ones alone. */
export function publish(path, name) {
  if (process.env.YUI_PUBLISH_SCREENSHOTS !== '1') return;
  const dir = join(REPO, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  copyFileSync(path, join(dir, name));
}

export function assertNoErrors(t, ...pages) {
  const errors = pages.flatMap((p) => p.errors);
  if (errors.length) throw new Error(`errors in the browser:\n${errors.join('\n')}`);
}

export const uniq = () => Math.random().toString(36).slice(2, 8);
