// Japanese by default, English by a toggle; the choice is remembered.
const STRINGS = {
  ja: {
    skip: '本文へ移動', signOut: 'サインアウト', signInTitle: 'サインイン', pickDemoUser: 'デモの利用者を選んでください。',
    pasteToken: 'アクセストークン', signIn: 'サインイン', rooms: 'ルーム', noticeBoard: '町のお知らせ', teamRooms: 'ケアチーム',
    back: 'ルーム一覧へ戻る', members: 'メンバー', composeLabel: 'メッセージ', composePlaceholder: 'メッセージ（Enterで送信、Shift+Enterで改行）',
    send: '送信', readOnly: 'お知らせは町のコーディネーターが投稿します。', pickRoom: 'ルームを選んでください。', readBy: '既読',
    close: '閉じる', connected: '接続中', reconnecting: '再接続中…', offline: 'オフライン', connecting: '接続しています…',
    pending: '送信中…', sent: '送信済み', failed: '再送します…', read: (n) => `既読 ${n}`, readOf: (n, m) => `既読 ${n} / ${m}人`,
    noReaders: 'まだ誰も読んでいません', empty: '本文を入力してください。', tooLong: (n) => `4000文字以内で入力してください（現在 ${n}文字）。`,
    loadingOlder: '過去のメッセージを読み込んでいます…', allLoaded: 'これより前のメッセージはありません。', newMessage: (who) => `${who}さんから新しいメッセージ`,
    badToken: 'トークンが無効です。もう一度サインインしてください。', unread: (n) => `未読 ${n}件`, noMessages: 'まだメッセージはありません。',
    owner: '管理者', resident: '利用者',
    profession: { doctor: '医師', nurse: '看護師', pharmacist: '薬剤師', care_manager: 'ケアマネジャー', care_worker: '介護職', therapist: 'リハビリ職', social_worker: 'ソーシャルワーカー', municipal: '行政', other: 'その他' },
  },
  en: {
    skip: 'Skip to content', signOut: 'Sign out', signInTitle: 'Sign in', pickDemoUser: 'Pick a demo user.',
    pasteToken: 'Access token', signIn: 'Sign in', rooms: 'Rooms', noticeBoard: 'Town notices', teamRooms: 'Care teams',
    back: 'Back to rooms', members: 'Members', composeLabel: 'Message', composePlaceholder: 'Message (Enter sends, Shift+Enter new line)',
    send: 'Send', readOnly: "Notices are posted by the town's coordinators.", pickRoom: 'Pick a room.', readBy: 'Read by',
    close: 'Close', connected: 'Connected', reconnecting: 'Reconnecting…', offline: 'Offline', connecting: 'Connecting…',
    pending: 'Sending…', sent: 'Sent', failed: 'Retrying…', read: (n) => `Read ${n}`, readOf: (n, m) => `Read by ${n} of ${m}`,
    noReaders: 'Nobody has read it yet', empty: 'Please write something.', tooLong: (n) => `At most 4000 characters (now ${n}).`,
    loadingOlder: 'Loading older messages…', allLoaded: 'No older messages.', newMessage: (who) => `New message from ${who}`,
    badToken: 'The token was refused. Please sign in again.', unread: (n) => `${n} unread`, noMessages: 'No messages yet.',
    owner: 'owner', resident: 'Resident',
    profession: { doctor: 'Doctor', nurse: 'Nurse', pharmacist: 'Pharmacist', care_manager: 'Care manager', care_worker: 'Care worker', therapist: 'Therapist', social_worker: 'Social worker', municipal: 'Town hall', other: 'Other' },
  },
};

let lang = localStorage.getItem('yui.lang') === 'en' ? 'en' : 'ja';
const listeners = [];

export function t(key, ...args) {
  const v = STRINGS[lang][key];
  return typeof v === 'function' ? v(...args) : v ?? key;
}

export function profession(p) {
  return STRINGS[lang].profession[p] ?? p;
}

export function currentLang() {
  return lang;
}

export function onLangChange(f) {
  listeners.push(f);
}

export function toggleLang() {
  lang = lang === 'ja' ? 'en' : 'ja';
  localStorage.setItem('yui.lang', lang);
  applyStatic();
  listeners.forEach((f) => f());
}

/** Fills every element marked with data-i18n, data-i18n-label or data-i18n-placeholder. */
export function applyStatic() {
  document.documentElement.lang = lang;
  document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll('[data-i18n-label]').forEach((el) => el.setAttribute('aria-label', t(el.dataset.i18nLabel)));
  document.querySelectorAll('[data-i18n-placeholder]').forEach((el) => el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder)));
  const toggle = document.getElementById('lang');
  if (toggle) toggle.textContent = lang === 'ja' ? 'English' : '日本語';
}
