// Stamps sw.js with the hash of the app shell it precaches (VERSION), so that any change to a
// shell file makes a new service worker version: `node stamp-sw.mjs` after changing one.
// tests/pwa.test.mjs checks the stamp.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB = dirname(fileURLToPath(import.meta.url));
const swSource = (dir) => readFileSync(join(dir, 'sw.js'), 'utf8');

/** The URLs of sw.js's SHELL list. */
export function shellUrls(dir = WEB, source = swSource(dir)) {
  const m = /const SHELL = \[([\s\S]*?)\];/.exec(source);
  if (!m) throw new Error('sw.js: no SHELL list');
  return [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]);
}

/** The file a shell URL is served from. */
export const fileOf = (url, dir = WEB) => join(dir, url === '/' ? 'index.html' : url.slice(1));

/** The version the shell's files call for: 12 hex digits of a SHA-256 over URLs and bytes. */
export function shellVersion(dir = WEB, source = swSource(dir)) {
  const h = createHash('sha256');
  for (const url of shellUrls(dir, source)) {
    h.update(url + '\0');
    h.update(readFileSync(fileOf(url, dir)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/** The VERSION written in sw.js. */
export function stampedVersion(dir = WEB, source = swSource(dir)) {
  return /const VERSION = '([0-9a-f]+)';/.exec(source)?.[1] ?? null;
}

/** Writes the version the shell calls for into dir/sw.js; returns it. */
export function stamp(dir = WEB) {
  const source = swSource(dir);
  const version = shellVersion(dir, source);
  if (stampedVersion(dir, source) !== version) {
    writeFileSync(join(dir, 'sw.js'), source.replace(/const VERSION = '[0-9a-f]+';/, `const VERSION = '${version}';`));
  }
  return version;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(`sw.js: VERSION ${stamp(process.argv[2] ?? WEB)}`);
}
