// The token: taken from the URL fragment (an identity provider's redirect) or pasted, kept in
// sessionStorage only, and removed from the address bar at once.
import { clearDrafts } from './drafts.js';

const KEY = 'yui.token';

export function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return null;
  const token = decodeURIComponent(m[1]);
  history.replaceState(null, '', location.pathname + location.search);
  return token;
}

export function storedToken() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}

export function storeToken(token) {
  try { sessionStorage.setItem(KEY, token); } catch { /* ignore */ }
}

export function clearSession() {
  try {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem('yui.outbox');
  } catch { /* ignore */ }
  clearDrafts();
}

/** The token's claims, unverified (the hub verifies): for `sub` and `exp` only. */
export function claimsOf(token) {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

export function looksLikeJwt(token) {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token.trim());
}
