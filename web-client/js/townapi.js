// The town tools' HTTP API (PROTOCOL.md 4, 5.3, 5.4, 5.5): rooms and members, the resident
// profile, consents, the directory, search, mute, export and the access log. JSON goes through
// api.js's `call` (pacing, 429 retries, error bodies); files (an uploaded scan, a downloaded
// export) go through `raw` here with the same bearer token, never through a URL that carries it.
import { call, paced, ApiError } from './api.js';

const enc = encodeURIComponent;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function errorOf(res) {
  let json = null;
  try { json = await res.json(); } catch { /* not JSON */ }
  return new ApiError(res.status, json?.error?.code ?? `http_${res.status}`, json?.error?.message ?? res.statusText);
}

/** A request whose body or answer is not JSON; 429 is waited out like `call` does. */
async function raw(method, path, token, { body, type } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (type) headers['Content-Type'] = type;
  let res;
  for (let attempt = 0; ; attempt++) {
    await paced();
    res = await fetch(path, { method, headers, body });
    if (res.status !== 429 || attempt >= 3) break;
    const wait = Number(res.headers.get('Retry-After'));
    await new Promise((r) => setTimeout(r, (Number.isFinite(wait) && wait > 0 ? Math.min(wait, 30) : 1) * 1000));
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

/** The file name a response's Content-Disposition gives (RFC 6266, filename* first). */
function fileNameOf(res, fallback) {
  const cd = res.headers.get('Content-Disposition') ?? '';
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(cd);
  if (star) { try { return decodeURIComponent(star[1].trim()); } catch { /* fall through */ } }
  const plain = /filename\s*=\s*"([^"]*)"/i.exec(cd) ?? /filename\s*=\s*([^;]+)/i.exec(cd);
  return plain ? plain[1].trim() : fallback;
}

export const townApi = {
  // ---- rooms and members (4) ----
  putRoom(token, room, body) { return call('PUT', `/api/rooms/${enc(room)}`, token, body); },
  room(token, room) { return call('GET', `/api/rooms/${enc(room)}`, token); },
  putMember(token, room, user, body) { return call('PUT', `/api/rooms/${enc(room)}/members/${enc(user)}`, token, body); },
  removeMember(token, room, user) { return call('DELETE', `/api/rooms/${enc(room)}/members/${enc(user)}`, token); },

  // ---- resident, consent, directory (5.4) ----
  putResident(token, room, profile) { return call('PUT', `/api/rooms/${enc(room)}/resident`, token, profile); },
  consents(token, room) { return call('GET', `/api/rooms/${enc(room)}/consents`, token); },
  recordConsent(token, room, body) { return call('POST', `/api/rooms/${enc(room)}/consents`, token, body); },
  withdrawConsent(token, room, id, body) { return call('POST', `/api/rooms/${enc(room)}/consents/${enc(id)}/withdraw`, token, body); },
  directory(token, town, q) { return call('GET', `/api/towns/${enc(town)}/users${query({ q })}`, token); },

  /** `POST /api/rooms/{room}/messages` (5.2 fields allowed): `{seq, id, at}`; a retry with the
   *  same `client_id` gets the first answer. */
  postNote(token, room, body) { return call('POST', `/api/rooms/${enc(room)}/messages`, token, body); },

  // ---- attachments (5.3) ----
  /** Uploads a file (a scanned consent form) to the room: the `Attachment`. */
  async upload(token, room, file) {
    const res = await raw('POST', `/api/rooms/${enc(room)}/attachments${query({ name: file.name })}`, token, {
      body: file, type: file.type || 'application/octet-stream',
    });
    return res.json();
  },
  /** `{blob, name}` of a file the hub serves to this user (an attachment, an export). */
  async download(token, path, fallbackName) {
    const res = await raw('GET', path, token);
    return { blob: await res.blob(), name: fileNameOf(res, fallbackName) };
  },
  attachmentPath(id) { return `/api/attachments/${enc(id)}`; },

  // ---- finding, muting, exporting (5.5) ----
  search(token, { q, room, before, limit }) { return call('GET', `/api/search${query({ q, room, before, limit })}`, token); },
  mute(token, room, mutedUntil) { return call('PUT', `/api/me/rooms/${enc(room)}/settings`, token, { muted_until: mutedUntil }); },
  exportPath(room, { from, to, format }) { return `/api/rooms/${enc(room)}/export${query({ from, to, format })}`; },

  // ---- the access log (4, with the filters of 5.5's round) ----
  audit(token, filters) { return call('GET', `/api/audit${query(filters)}`, token); },
  auditCsvPath(filters) { return `/api/audit${query({ ...filters, format: 'csv' })}`; },
};

/** Saves a blob as a file: an object URL on a temporary <a download>, revoked afterwards. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
