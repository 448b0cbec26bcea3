// Times are shown in Japan Standard Time, whatever the device's zone.
import { currentLang } from './i18n.js';

const zone = 'Asia/Tokyo';

export function time(at) {
  return new Intl.DateTimeFormat(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit' }).format(new Date(at));
}

export function day(at) {
  return new Intl.DateTimeFormat(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { timeZone: zone, year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' }).format(new Date(at));
}

export function dayKey(at) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(new Date(at));
}

export function dateTime(at) {
  return new Intl.DateTimeFormat(currentLang() === 'ja' ? 'ja-JP' : 'en-GB', { timeZone: zone, month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(new Date(at));
}

/** Length in Unicode code points, as the hub counts. */
export function codePoints(s) {
  return [...s].length;
}

export function isBlank(s) {
  return /^[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/u.test(s);
}
