// Japanese by default, English by a toggle. Every text the UI shows comes from here.

const dict = {
  ja: {
    app_name: 'Yui 結',
    tagline: '在宅ケアチームのメッセージ',
    lang_toggle: 'English',
    lang_toggle_label: 'Switch to English',
    signin_title: 'サインイン',
    signin_demo: 'デモ利用者を選んでください',
    signin_token: 'トークンを貼り付けてサインイン',
    token_label: 'アクセストークン (JWT)',
    signin_button: 'サインイン',
    signin_help: '町の認証サービスからのリダイレクトでは自動でサインインします。',
    token_invalid: 'トークンを確認できませんでした。もう一度サインインしてください。',
    token_empty: 'トークンを入力してください。',
    session_expired: 'セッションの有効期限が切れました。もう一度サインインしてください。',
    signout: 'サインアウト',
    role_coordinator: 'コーディネーター',
    role_admin: '管理者',
    role_owner: '管理',
    state_connecting: '接続中…',
    state_connected: '接続済み',
    state_reconnecting: '再接続中…',
    state_reconnecting_in: '再接続中（{s}秒後に再試行）',
    state_offline: 'オフライン',
    rooms_title: 'ルーム',
    notices_section: '町のお知らせ',
    teams_section: 'ケアチーム',
    no_rooms: '参加しているチームはまだありません。',
    rooms_waiting: 'ハブにつながるとルームが表示されます。',
    outbox_kept: '送信待ちの記録 {n} 件は、つながると送信されます。',
    app_updated: 'Yui が更新されました。次に開いたときから新しい版になります。',
    no_messages: 'まだメッセージはありません。',
    unread_count: '未読 {n} 件',
    back_to_rooms: 'ルーム一覧へ戻る',
    members: 'メンバー',
    members_count: 'メンバー（{n}人）',
    load_older: '以前のメッセージを読み込む',
    loading: '読み込み中…',
    beginning: 'これより前のメッセージはありません',
    composer_label: 'メッセージ',
    composer_placeholder: 'メッセージを入力（Enterで送信、Shift+Enterで改行）',
    notice_placeholder: 'お知らせを入力（Enterで送信、Shift+Enterで改行）',
    composer_placeholder_touch: 'メッセージを入力（改行できます。送信ボタンで送信）',
    notice_placeholder_touch: 'お知らせを入力（改行できます。送信ボタンで送信）',
    send: '送信',
    char_count: '{n} / {max} 文字',
    err_empty: 'メッセージが空です。本文を入力してください。',
    err_too_long: '{max}文字を超えています（{n}文字）。{max}文字以内にしてください。',
    status_pending: '送信中…',
    status_retrying: '再送信中…',
    status_waiting: '接続待ち（つながり次第送信します）',
    status_sent: '送信済み',
    status_failed: '送信できませんでした',
    retry: '再送信',
    discard: '破棄',
    read_by: '既読 {n}',
    read_by_of: '既読 {n} / {m}',
    read_by_label: '{n}人が既読。既読者を表示',
    read_by_of_label: '{m}人中{n}人が既読。既読者を表示',
    readers_title: '既読者',
    readers_none: 'まだ誰も読んでいません。',
    unread_members: '未読',
    read_at: '{t} 既読',
    close: '閉じる',
    new_messages: '新着メッセージ',
    unread_from_here: 'ここから未読',
    announce_new: '{name}さんから新着: {body}',
    notice_readonly: 'お知らせは町のコーディネーターが投稿します。',
    room_removed: 'このルームから外れました。',
    you: 'あなた',
    today: '今日',
    yesterday: '昨日',
    timeline_label: '{room} のメッセージ',
    resident: '利用者',
    error_generic: 'エラーが発生しました: {msg}',
    refresh_prompt: 'セッションの有効期限が近づいています。',
    notice_kind: 'お知らせ',
    skip_to_main: 'メインへ移動',
    pick_room: '左の一覧からルームを選んでください。',
    reload_needed: 'トークンの更新に失敗しました。もう一度サインインしてください。',
  },
  en: {
    app_name: 'Yui 結',
    tagline: 'Messaging for home-care teams',
    lang_toggle: '日本語',
    lang_toggle_label: '日本語に切り替え',
    signin_title: 'Sign in',
    signin_demo: 'Pick a demo user',
    signin_token: 'Sign in with a token',
    token_label: 'Access token (JWT)',
    signin_button: 'Sign in',
    signin_help: "A redirect from your town's identity provider signs you in automatically.",
    token_invalid: 'The token was not accepted. Please sign in again.',
    token_empty: 'Please enter a token.',
    session_expired: 'Your session has expired. Please sign in again.',
    signout: 'Sign out',
    role_coordinator: 'Coordinator',
    role_admin: 'Admin',
    role_owner: 'Owner',
    state_connecting: 'Connecting…',
    state_connected: 'Connected',
    state_reconnecting: 'Reconnecting…',
    state_reconnecting_in: 'Reconnecting (retry in {s}s)',
    state_offline: 'Offline',
    rooms_title: 'Rooms',
    notices_section: 'Town notices',
    teams_section: 'Care teams',
    no_rooms: 'You are not in any team yet.',
    rooms_waiting: 'Your rooms appear once the hub is reached.',
    outbox_kept: '{n} unsent note(s) will be sent then.',
    app_updated: 'Yui has been updated. The new version is used from the next time it opens.',
    no_messages: 'No messages yet.',
    unread_count: '{n} unread',
    back_to_rooms: 'Back to rooms',
    members: 'Members',
    members_count: 'Members ({n})',
    load_older: 'Load older messages',
    loading: 'Loading…',
    beginning: 'This is the beginning of the room',
    composer_label: 'Message',
    composer_placeholder: 'Write a message (Enter sends, Shift+Enter new line)',
    notice_placeholder: 'Write a notice (Enter sends, Shift+Enter new line)',
    composer_placeholder_touch: 'Write a message (Enter is a new line; the button sends)',
    notice_placeholder_touch: 'Write a notice (Enter is a new line; the button sends)',
    send: 'Send',
    char_count: '{n} / {max} characters',
    err_empty: 'The message is empty. Please write something.',
    err_too_long: 'Too long: {n} characters. The limit is {max}.',
    status_pending: 'Sending…',
    status_retrying: 'Retrying…',
    status_waiting: 'Waiting for the connection (sends by itself)',
    status_sent: 'Sent',
    status_failed: 'Could not send',
    retry: 'Retry',
    discard: 'Discard',
    read_by: 'Read {n}',
    read_by_of: 'Read {n} / {m}',
    read_by_label: 'Read by {n}. Show who',
    read_by_of_label: 'Read by {n} of {m}. Show who',
    readers_title: 'Read by',
    readers_none: 'Nobody has read it yet.',
    unread_members: 'Not yet read',
    read_at: 'read {t}',
    close: 'Close',
    new_messages: 'New messages',
    unread_from_here: 'Unread from here',
    announce_new: 'New from {name}: {body}',
    notice_readonly: "Notices are posted by the town's coordinators.",
    room_removed: 'You were removed from this room.',
    you: 'you',
    today: 'Today',
    yesterday: 'Yesterday',
    timeline_label: 'Messages in {room}',
    resident: 'Resident',
    error_generic: 'Something went wrong: {msg}',
    refresh_prompt: 'Your session expires soon.',
    notice_kind: 'Notice',
    skip_to_main: 'Skip to main content',
    pick_room: 'Pick a room from the list.',
    reload_needed: 'Could not renew the session. Please sign in again.',
  },
};

const professions = {
  ja: {
    doctor: '医師', nurse: '看護師', pharmacist: '薬剤師', care_manager: 'ケアマネジャー',
    care_worker: '介護職', therapist: 'リハビリ職', social_worker: 'ソーシャルワーカー',
    municipal: '行政', other: 'その他',
  },
  en: {
    doctor: 'Doctor', nurse: 'Nurse', pharmacist: 'Pharmacist', care_manager: 'Care manager',
    care_worker: 'Care worker', therapist: 'Therapist', social_worker: 'Social worker',
    municipal: 'Town hall', other: 'Other',
  },
};

let lang = 'ja';
try {
  const saved = localStorage.getItem('yui.lang');
  if (saved === 'en' || saved === 'ja') lang = saved;
} catch { /* storage may be unavailable */ }

const listeners = new Set();

export function getLang() { return lang; }

export function setLang(next) {
  if (next !== 'ja' && next !== 'en') return;
  lang = next;
  try { localStorage.setItem('yui.lang', lang); } catch { /* ignore */ }
  document.documentElement.lang = lang;
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.add(fn); }

/** A feature module's own strings ({ja: {...}, en: {...}}), merged in at import. */
export function addStrings(table) {
  for (const l of ['ja', 'en']) Object.assign(dict[l], table[l] ?? {});
}

export function t(key, params = {}) {
  let s = dict[lang][key] ?? dict.ja[key] ?? key;
  for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function profession(p) {
  return professions[lang][p] ?? professions[lang].other;
}

/** Fill elements carrying data-i18n (text), data-i18n-placeholder, data-i18n-label (aria-label). */
export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}
