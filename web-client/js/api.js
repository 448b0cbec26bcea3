// The hub's HTTP API (PROTOCOL.md section 4), for what the WebSocket does not carry.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, token, body) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    throw new ApiError(res.status, json?.error?.code ?? 'http_' + res.status, json?.error?.message ?? res.statusText);
  }
  return json;
}

export const api = {
  /** Demo mode only; resolves to null when the hub is not in demo mode (404). */
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
};
