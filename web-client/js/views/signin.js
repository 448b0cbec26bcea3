// Sign-in: the demo users (only when the hub runs with --demo), else a pasted token.
import { t, profession } from '../i18n.js';
import { looksLikeJwt } from '../auth.js';
import { el } from './dom.js';

export class SignInView {
  constructor(onToken) {
    this.onToken = onToken;
    this.section = document.getElementById('signin-view');
    this.users = null;
    const form = document.getElementById('token-form');
    const input = document.getElementById('token-input');
    const err = document.getElementById('token-error');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = input.value.trim();
      if (!v || !looksLikeJwt(v)) {
        err.textContent = v ? t('token_invalid') : t('token_empty');
        err.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      err.hidden = true;
      input.removeAttribute('aria-invalid');
      input.value = '';
      this.onToken(v);
    });
  }

  show(users, message) {
    this.users = users;
    this.section.hidden = false;
    const errEl = document.getElementById('signin-error');
    errEl.textContent = message ?? '';
    errEl.hidden = !message;
    this.renderUsers();
    const first = this.section.querySelector('.demo-user') ?? document.getElementById('token-input');
    first?.focus();
  }

  hide() { this.section.hidden = true; }

  renderUsers() {
    const box = document.getElementById('demo-users');
    box.hidden = !this.users?.length;
    if (!this.users?.length) return;
    document.getElementById('demo-list').replaceChildren(...this.users.map((u) => el('li', {},
      el('button', { type: 'button', class: 'demo-user', 'data-user': u.id, onclick: () => this.onToken(u.token) },
        el('span', { class: 'name' }, u.name,
          u.role && u.role !== 'member' ? el('span', { class: 'badge-role' }, t(`role_${u.role}`)) : null),
        el('span', { class: 'sub' }, `${profession(u.profession)} · ${u.org}`)))));
  }
}
