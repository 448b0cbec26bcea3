// Mute per room (PROTOCOL.md 5.5): when a mute ends, how it reads, and its icon. Muting silences
// notifications only; the unread badge stays.
import { t } from './i18n.js';

export const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
// ずっと: the hub keeps a mute at most a year (docs/protocol.md): a year it is, renewed by
// choosing ずっと again. Further than LONG ahead reads as ずっと.
const FOREVER_DAYS = 365;
const LONG = 180 * DAY;

/** The end of a ずっと mute. */
export function forever(now = Date.now()) { return new Date(now + FOREVER_DAYS * DAY); }

/** Tomorrow 08:00 in Japan time (明日まで: the morning round starts with notifications on). */
export function tomorrowMorning(now = new Date()) {
  const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(now).split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1, 8 - 9, 0, 0)); // 08:00 JST = 23:00 UTC the day before
}

/** The room is muted now (a `muted_until` in the future). */
export function isMuted(r, now = Date.now()) {
  const until = r?.muted_until ? Date.parse(r.muted_until) : NaN;
  return Number.isFinite(until) && until > now;
}

export function mutedLabel(r) {
  if (!isMuted(r)) return '';
  const until = new Date(r.muted_until);
  if (until.getTime() - Date.now() > LONG) return t('tt_muted_forever');
  return t('tt_muted_until', { t: new Intl.DateTimeFormat(t('tt_locale'), { timeZone: 'Asia/Tokyo', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false }).format(until) });
}

/** A bell with a slash (the muted icon), as SVG built in the DOM. */
export function mutedIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'muted-svg');
  for (const d of ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a1.94 1.94 0 0 0 3.4 0', 'M3 3l18 18']) {
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', d);
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', 'currentColor');
    p.setAttribute('stroke-width', '2');
    p.setAttribute('stroke-linecap', 'round');
    svg.append(p);
  }
  return svg;
}
