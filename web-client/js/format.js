// Time display in Asia/Tokyo, body validation as the protocol defines it.
import { getLang, t } from './i18n.js';

export const MAX_BODY = 4000;
const TZ = 'Asia/Tokyo';
const fmtCache = new Map();

function fmt(kind) {
  const key = `${getLang()}:${kind}`;
  let f = fmtCache.get(key);
  if (!f) {
    const locale = getLang() === 'ja' ? 'ja-JP' : 'en-GB';
    const opts = {
      time: { hour: '2-digit', minute: '2-digit', hour12: false },
      day: { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' },
      short: { month: 'numeric', day: 'numeric' },
      key: { year: 'numeric', month: '2-digit', day: '2-digit' },
      full: { year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false },
    }[kind];
    f = new Intl.DateTimeFormat(kind === 'key' ? 'en-CA' : locale, { timeZone: TZ, ...opts });
    fmtCache.set(key, f);
  }
  return f;
}

/** "YYYY-MM-DD" of the JST calendar day. */
export function dayKey(at) { return fmt('key').format(new Date(at)); }
export function timeOf(at) { return fmt('time').format(new Date(at)); }
export function fullTime(at) { return fmt('full').format(new Date(at)); }

export function dayLabel(at) {
  const k = dayKey(at);
  const now = Date.now();
  if (k === dayKey(now)) return `${t('today')} · ${fmt('day').format(new Date(at))}`;
  if (k === dayKey(now - 86400000)) return `${t('yesterday')} · ${fmt('day').format(new Date(at))}`;
  return fmt('day').format(new Date(at));
}

/** Short time for the room list: HH:MM today, M/D otherwise. */
export function listTime(at) {
  if (!at) return '';
  return dayKey(at) === dayKey(Date.now()) ? timeOf(at) : fmt('short').format(new Date(at));
}

export function codePoints(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

// Unicode White_Space, exactly (JavaScript's \s differs: it has U+FEFF and lacks U+0085).
const ONLY_WHITE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/u;

/** Empty or only white space (Unicode White_Space). */
export function isBlank(body) { return ONLY_WHITE.test(body); }

/** Returns null when the body may be posted, else an error message for the user. */
export function validateBody(body) {
  if (ONLY_WHITE.test(body)) return t('err_empty');
  const n = codePoints(body);
  if (n > MAX_BODY) return t('err_too_long', { n, max: MAX_BODY });
  return null;
}
