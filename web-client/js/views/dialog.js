// Modal dialogs for the town tools, built in the DOM (no innerHTML): a head with the title and
// 閉じる, a body the view fills, focus back to what opened it; and a yes/no confirmation.
import { t } from '../i18n.js';
import { el } from './dom.js';

export class Dialog {
  constructor(id, { wide = false } = {}) {
    this.title = el('h2', { id: `${id}-title` });
    this.closeBtn = el('button', { type: 'button', class: 'btn-ghost dialog-close' }, t('close'));
    this.body = el('div', { class: 'dialog-body' });
    this.dialog = el('dialog', { id, class: `tool-dialog${wide ? ' wide' : ''}`, 'aria-labelledby': `${id}-title` },
      el('div', { class: 'dialog-head' }, this.title, this.closeBtn), this.body);
    this.trigger = null;
    this.closeBtn.addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      this.onClose?.();
      if (this.trigger?.isConnected) this.trigger.focus();
      this.trigger = null;
    });
    document.body.append(this.dialog);
  }

  get isOpen() { return this.dialog.open; }

  show(title, trigger = document.activeElement) {
    this.title.textContent = title;
    this.closeBtn.textContent = t('close');
    this.trigger = trigger instanceof HTMLElement ? trigger : null;
    if (!this.dialog.open) this.dialog.showModal();
  }

  close() { if (this.dialog.open) this.dialog.close(); }
}

let confirmDialog = null;

/** Asks a yes/no question in a modal dialog; resolves true for the confirming button. */
export function confirmAction(message, okLabel) {
  if (!confirmDialog) confirmDialog = new Dialog('confirm-dialog');
  const d = confirmDialog;
  return new Promise((resolve) => {
    let answer = false;
    const ok = el('button', { type: 'button', class: 'btn-danger', 'data-action': 'confirm' }, okLabel);
    const cancel = el('button', { type: 'button', class: 'btn-ghost', 'data-action': 'cancel' }, t('tt_cancel'));
    ok.addEventListener('click', () => { answer = true; d.close(); });
    cancel.addEventListener('click', () => d.close());
    d.body.replaceChildren(el('p', { class: 'confirm-text' }, message), el('div', { class: 'form-actions' }, cancel, ok));
    d.onClose = () => { d.onClose = null; resolve(answer); };
    d.show(t('tt_confirm_title'));
    cancel.focus(); // the safe choice first
  });
}

/** A labelled form field: `<label>` + control (+ hint), ids wired for screen readers. */
export function field(id, label, control, hint) {
  control.id = id;
  const parts = [el('label', { for: id }, label), control];
  if (hint) {
    const h = el('p', { class: 'hint', id: `${id}-hint` }, hint);
    control.setAttribute('aria-describedby', h.id);
    parts.push(h);
  }
  return el('div', { class: 'field' }, ...parts);
}

/** An error line for a form (role=alert), empty until set. */
export function formError() {
  return el('p', { class: 'form-error', role: 'alert' });
}

/** The message a failed API call shows: the hub's own message, under its code. */
export function errorText(e) {
  const key = `tt_err_${e?.code}`;
  const known = t(key);
  const base = known !== key ? known : t('tt_err_other');
  return e?.message && e.message !== e.code ? `${base} (${e.message})` : base;
}
