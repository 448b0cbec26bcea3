// Attachments (PROTOCOL.md 5.3): uploads with progress, and downloads with the bearer token
// (an <img src> cannot send the Authorization header, so images and PDFs are fetched and shown
// from blob: URLs). The blob URLs live in this page only and are revoked on sign-out.

export const ACCEPTED = ['image/jpeg', 'image/png', 'image/webp', 'application/pdf'];
export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
export const MAX_PER_POST = 10;

export const isImage = (type) => type === 'image/jpeg' || type === 'image/png' || type === 'image/webp';

/** "1.2 MB", "830 KB", "120 B". */
export function formatSize(n) {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(n >= 10 * 1024 * 1024 ? 0 : 1)} MB`;
  if (n >= 1024) return `${Math.max(1, Math.round(n / 1024))} KB`;
  return `${n} B`;
}

export class UploadError extends Error {
  constructor(code, message, status = 0) {
    super(message || code);
    this.code = code;
    this.status = status;
  }
}

/**
 * Uploads one file to a room: `POST /api/rooms/{room}/attachments?name=`, its bytes as the body
 * with its type. XMLHttpRequest, because fetch reports no upload progress.
 * @returns {{promise: Promise<object>, abort: () => void}} the promise gives the Attachment
 */
export function upload({ token, room, file, onProgress }) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `/api/rooms/${encodeURIComponent(room)}/attachments?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Content-Type', file.type);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress?.(e.loaded / e.total); };
    xhr.onload = () => {
      let json = null;
      try { json = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && json?.id) { onProgress?.(1); resolve(json); return; }
      reject(new UploadError(json?.error?.code ?? `http_${xhr.status}`, json?.error?.message ?? xhr.statusText, xhr.status));
    };
    xhr.onerror = () => reject(new UploadError('network', ''));
    xhr.onabort = () => reject(new UploadError('aborted', ''));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

const cache = new Map(); // `${id}:${thumb}` -> Promise<string blob URL>
const LIMIT = 4; // downloads at once: a page of history full of photos does not flood the hub
let running = 0;
const waiting = [];

async function slot() {
  if (running < LIMIT) { running += 1; return; }
  await new Promise((r) => waiting.push(r));
  running += 1;
}
function release() {
  running -= 1;
  waiting.shift()?.();
}

/** A blob URL of an attachment (`thumb`: the hub's JPEG thumbnail), fetched once per page. */
export function blobUrl(token, id, thumb = false) {
  const key = `${id}:${thumb ? 1 : 0}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      await slot();
      try {
        for (let attempt = 0; ; attempt++) {
          const res = await fetch(`/api/attachments/${encodeURIComponent(id)}${thumb ? '?thumb=1' : ''}`, {
            headers: { Authorization: `Bearer ${token}` },
          });
          if (res.status === 429 && attempt < 3) {
            const wait = Number(res.headers.get('Retry-After'));
            await new Promise((r) => setTimeout(r, (Number.isFinite(wait) && wait > 0 ? Math.min(wait, 30) : 1) * 1000));
            continue;
          }
          if (!res.ok) throw new UploadError(`http_${res.status}`, res.statusText, res.status);
          return URL.createObjectURL(await res.blob());
        }
      } finally {
        release();
      }
    })();
    p.catch(() => cache.delete(key)); // a later view tries again
    cache.set(key, p);
  }
  return p;
}

/** Sign-out: nothing of the care record stays in this page. */
export function forgetBlobs() {
  for (const p of cache.values()) p.then((u) => URL.revokeObjectURL(u), () => {});
  cache.clear();
}
