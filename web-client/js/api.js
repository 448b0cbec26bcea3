// The hub's HTTP API (PROTOCOL.md section 4), for what the WebSocket does not carry.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// The hub limits each user's HTTP API requests (PROTOCOL.md 5.1: by default 20 a second, a
// burst of 40). Requests with a token are paced below that here (15 a second, a burst of 30:
// the hub measures on arrival, not on sending), so a user in many rooms (one
// `GET /api/rooms/{room}` each at connect) is never refused; a 429 all the same (another tab of
// the same user, a hub with a lower limit) is retried after its `Retry-After`.
const RATE = 15;
const BURST = 30;
let tokens = BURST;
let filled = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function paced() {
  for (;;) {
    const now = Date.now();
    tokens = Math.min(BURST, tokens + ((now - filled) / 1000) * RATE);
    filled = now;
    if (tokens >= 1) { tokens -= 1; return; }
    await sleep(Math.ceil(((1 - tokens) / RATE) * 1000));
  }
}

export async function call(method, path, token, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  for (let attempt = 0; ; attempt++) {
    if (token) await paced();
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status !== 429 || attempt >= 3) break;
    const wait = Number(res.headers.get('Retry-After'));
    await sleep((Number.isFinite(wait) && wait > 0 ? Math.min(wait, 30) : 1) * 1000);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    throw new ApiError(res.status, json?.error?.code ?? 'http_' + res.status, json?.error?.message ?? res.statusText);
  }
  return json;
}

export const api = {
  /** `GET /api/config` (anyone): `{demo, vapid_public_key, max_attachment_bytes,
   *  require_consent}`; null when the hub does not answer it (an older hub). */
  async config() {
    try {
      return await call('GET', '/api/config');
    } catch (e) {
      if (e instanceof ApiError) return null;
      throw e;
    }
  },
  /** Demo mode only (ask `config()` first); null when the hub is not in demo mode. */
  async demoUsers() {
    try {
      const j = await call('GET', '/api/demo/users');
      return j?.users ?? null;
    } catch (e) {
      if (e instanceof ApiError) return null;
      throw e;
    }
  },
  room(token, room) { return call('GET', `/api/rooms/${encodeURIComponent(room)}`, token); },
  /** `GET /api/me/rooms`: `{rooms: [RoomSummary]}`, the hub's own unread, urgent and mention counts. */
  myRooms(token) { return call('GET', '/api/me/rooms', token); },
};
