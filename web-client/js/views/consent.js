// Consent (同意書, PROTOCOL.md 5.4): each team room shows whether a consent stands, was withdrawn
// or was never recorded (with a clear warning where the hub requires one: the composer says what
// to do); the room's managers record a consent with its scanned form (uploaded as an attachment)
// and record a withdrawal. The list is the whole history: nothing is ever erased.
import { t } from '../i18n.js';
import { townApi, saveBlob } from '../townapi.js';
import { managesRoom } from '../roles.js';
import { Dialog, field, formError, errorText } from './dialog.js';
import { el, setChildren } from './dom.js';

const DOC_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'image/webp'];

const nameOf = (x) => (x && typeof x === 'object' ? x.name ?? x.id : x) ?? '';
const withdrawalOf = (c) => c.withdrawal ?? c.withdrawn ?? null;

export function todayJst() {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

/** `standing` (a consent without a withdrawal), `withdrawn` (every one withdrawn), `none`;
 *  `unknown` until the list has been read. */
export function consentState(list) {
  if (!list) return 'unknown';
  if (!list.length) return 'none';
  return list.some((c) => !withdrawalOf(c)) ? 'standing' : 'withdrawn';
}

export class Consents {
  constructor(ctx) {
    this.ctx = ctx;
    this.lists = new Map(); // room -> consents, oldest first (null: not readable)
    this.inflight = new Map();
    this.dialog = new Dialog('consent-dialog', { wide: true });
    this.roomId = null;
    this.dialog.onClose = () => { this.roomId = null; };
  }

  reset() { this.lists.clear(); this.inflight.clear(); }

  state(roomId) { return consentState(this.lists.get(roomId)); }

  /** Reads the room's consents (once at a time); tells the views when they came. */
  load(roomId) {
    const r = this.ctx.store.rooms.get(roomId);
    if (!r || r.kind !== 'team') return Promise.resolve();
    if (this.inflight.has(roomId)) return this.inflight.get(roomId);
    const p = (async () => {
      try {
        const rep = await townApi.consents(this.ctx.token(), roomId);
        const list = [...(rep.consents ?? [])].sort((a, b) => ((a.recorded_at ?? a.date) < (b.recorded_at ?? b.date) ? -1 : 1));
        this.lists.set(roomId, list);
      } catch {
        // Unknown (an older hub, a blip): neither a warning nor a promise.
      } finally {
        this.inflight.delete(roomId);
      }
      this.ctx.consentChanged(roomId);
      if (this.roomId === roomId) this.render();
    })();
    this.inflight.set(roomId, p);
    return p;
  }

  /** A short chip for the resident panel's summary. */
  chip(r) {
    const s = this.state(r.id);
    if (s === 'unknown') return null;
    return el('span', { class: `consent-chip ${s}`, 'data-consent': s }, t(`tt_consent_${s}`));
  }

  /** Why the composer may not send in this room, or null. */
  blockReason(r) {
    if (r?.kind !== 'team' || !this.ctx.config()?.require_consent) return null;
    if (this.state(r.id) === 'standing' || this.state(r.id) === 'unknown') return null;
    // Recorded since it was read, perhaps by a manager elsewhere: asked again, at most every 10 s.
    const now = Date.now();
    if (!(this.askedAt?.get(r.id) > now - 10000)) {
      (this.askedAt ??= new Map()).set(r.id, now);
      this.load(r.id);
    }
    return managesRoom(this.ctx.store.user, r) ? t('tt_consent_block_manager') : t('tt_consent_block_member');
  }

  /** The warning line above the composer. */
  renderWarning(r) {
    const box = document.getElementById('consent-warning');
    const reason = this.blockReason(r);
    box.hidden = !reason;
    if (!reason) { box.replaceChildren(); return; }
    const btn = managesRoom(this.ctx.store.user, r)
      ? el('button', { type: 'button', class: 'btn-secondary', onclick: (e) => this.open(r.id, e.currentTarget) }, t('tt_consent_record'))
      : null;
    box.replaceChildren(...[el('strong', {}, t(this.state(r.id) === 'withdrawn' ? 'tt_consent_withdrawn_warn' : 'tt_consent_none_warn')), ' ', reason, btn ? ' ' : null, btn]
      .filter((x) => x !== null));
  }

  open(roomId, trigger) {
    this.roomId = roomId;
    this.form = null; // made afresh: what was typed for another room never carries over
    this.render();
    this.dialog.show(t('tt_consent_title'), trigger);
    this.load(roomId);
  }

  render() {
    const r = this.ctx.store.rooms.get(this.roomId);
    if (!r) { this.dialog.close(); return; }
    const list = this.lists.get(r.id);
    const manage = managesRoom(this.ctx.store.user, r);
    const s = this.state(r.id);
    const parts = [el('p', { class: `consent-state ${s}`, 'data-consent': s }, t(`tt_consent_state_${s}`))];
    if (list?.length) {
      parts.push(el('ol', { class: 'consent-list' }, ...[...list].reverse().map((c) => this.item(r, c, manage))));
    }
    // The form survives re-renders (the list arriving while a consent is being typed) and stays
    // attached through them (setChildren), so a click on its button is never lost to one.
    if (manage) parts.push(this.form ??= this.recordForm(r));
    setChildren(this.dialog.body, parts);
  }

  item(r, c, manage) {
    const w = withdrawalOf(c);
    const facts = el('dl', { class: 'consent-facts' });
    const fact = (k, v) => { if (v) facts.append(el('dt', {}, k), el('dd', {}, v)); };
    fact(t('tt_c_date'), c.date);
    fact(t('tt_c_given_by'), `${c.given_by}${c.relation ? `（${c.relation}）` : ''}`);
    fact(t('tt_c_explained_by'), c.explained_by);
    fact(t('tt_c_scope'), c.scope);
    fact(t('tt_c_recorded'), [nameOf(c.recorded_by), c.recorded_at ? new Date(c.recorded_at).toLocaleString(t('tt_locale'), { timeZone: 'Asia/Tokyo' }) : ''].filter(Boolean).join(' · '));
    const li = el('li', { class: `consent-item${w ? ' withdrawn' : ''}`, 'data-consent-id': c.id }, facts);
    const docId = typeof c.document === 'object' ? c.document?.id : c.document;
    if (docId) {
      const btn = el('button', { type: 'button', class: 'btn-link', 'data-doc': docId }, t('tt_c_open_doc'));
      btn.addEventListener('click', async () => {
        try {
          const f = await townApi.download(this.ctx.token(), townApi.attachmentPath(docId), `consent-${c.id}`);
          saveBlob(f.blob, f.name);
        } catch (e) { this.ctx.banner(errorText(e)); }
      });
      li.append(btn);
    }
    if (w) {
      li.append(el('p', { class: 'consent-withdrawal' }, t('tt_c_withdrawn_on', { date: w.date ?? '' }),
        w.note ? `: ${w.note}` : '', w.recorded_by || w.by ? ` (${nameOf(w.recorded_by ?? w.by)})` : ''));
    } else if (manage) {
      li.append(this.withdrawForm(r, c));
    }
    return li;
  }

  withdrawForm(r, c) {
    const date = el('input', { type: 'date', value: todayJst(), max: todayJst(), required: true });
    const note = el('input', { type: 'text', maxlength: 500, autocomplete: 'off' });
    const err = formError();
    const go = el('button', { type: 'submit', class: 'btn-danger' }, t('tt_c_withdraw'));
    const form = el('form', { class: 'withdraw-form', novalidate: true },
      el('details', {}, el('summary', {}, t('tt_c_withdraw_open')),
        field(`wd-date-${c.id}`, t('tt_c_withdraw_date'), date),
        field(`wd-note-${c.id}`, t('tt_c_withdraw_note'), note),
        err, el('div', { class: 'form-actions' }, go)));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!date.value) { err.textContent = t('tt_need_date'); date.focus(); return; }
      if (date.value > todayJst()) { err.textContent = t('tt_c_no_future'); date.focus(); return; }
      go.disabled = true;
      try {
        const body = { date: date.value };
        if (note.value.trim()) body.note = note.value.trim();
        await townApi.withdrawConsent(this.ctx.token(), r.id, c.id, body);
        this.ctx.announce(t('tt_c_withdrawn_done'));
        await this.load(r.id);
      } catch (ex) {
        err.textContent = errorText(ex);
        go.disabled = false;
      }
    });
    return form;
  }

  recordForm(r) {
    const err = formError();
    const givenBy = el('input', { type: 'text', maxlength: 100, autocomplete: 'off', required: true });
    const relation = el('input', { type: 'text', maxlength: 50, autocomplete: 'off', list: 'relation-suggestions-c', required: true });
    const date = el('input', { type: 'date', value: todayJst(), max: todayJst(), required: true });
    const explainedBy = el('input', { type: 'text', maxlength: 100, autocomplete: 'off', value: this.ctx.store.user?.name ?? '', required: true });
    const scope = el('textarea', { rows: 2, maxlength: 1000 });
    const doc = el('input', { type: 'file', accept: DOC_TYPES.join(',') });
    const save = el('button', { type: 'submit', class: 'btn-primary' }, t('tt_c_save'));
    const max = this.ctx.config()?.max_attachment_bytes;
    // The scan once uploaded (a retry after a failure does not upload it again).
    let sent = null; // {file, id, clientId}
    const form = el('form', { class: 'tool-form consent-form', novalidate: true },
      el('h3', {}, t('tt_consent_record')),
      el('div', { class: 'row' }, field('cs-given-by', t('tt_c_given_by'), givenBy, t('tt_c_given_by_hint')), field('cs-relation', t('tt_c_relation'), relation)),
      el('datalist', { id: 'relation-suggestions-c' }, ...t('tt_relations_consent').split(',').map((x) => el('option', { value: x }))),
      el('div', { class: 'row' }, field('cs-date', t('tt_c_date'), date), field('cs-explained-by', t('tt_c_explained_by'), explainedBy)),
      field('cs-scope', t('tt_c_scope'), scope, t('tt_c_scope_hint')),
      field('cs-doc', t('tt_c_document'), doc, t('tt_c_document_hint', { mb: max ? Math.floor(max / 1048576) : 10 })),
      err,
      el('div', { class: 'form-actions' }, save));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const need = [[givenBy, 'tt_c_given_by'], [relation, 'tt_c_relation'], [date, 'tt_c_date'], [explainedBy, 'tt_c_explained_by']];
      for (const [input, label] of need) {
        if (!input.value.trim()) { err.textContent = t('tt_need_field', { field: t(label) }); input.focus(); return; }
      }
      if (date.value > todayJst()) { err.textContent = t('tt_c_no_future'); date.focus(); return; }
      const file = doc.files?.[0] ?? null;
      if (file && !DOC_TYPES.includes(file.type)) { err.textContent = t('tt_c_bad_type'); doc.focus(); return; }
      if (file && max && file.size > max) { err.textContent = t('tt_c_too_big', { mb: Math.floor(max / 1048576) }); doc.focus(); return; }
      save.disabled = true;
      try {
        const body = { given_by: givenBy.value.trim(), relation: relation.value.trim(), date: date.value, explained_by: explainedBy.value.trim() };
        if (scope.value.trim()) body.scope = scope.value.trim();
        // The scan is uploaded, then named by the consent, which keeps it (5.4: even before
        // anything may be posted under --require-consent). The team is told in a note.
        if (file && sent?.file !== file) sent = { file, id: null, clientId: `consent-${crypto.randomUUID()}` };
        if (file && !sent.id) {
          save.textContent = t('tt_c_uploading');
          sent.id = (await townApi.upload(this.ctx.token(), r.id, file)).id;
        }
        if (file) body.document = sent.id;
        save.textContent = t('tt_c_save');
        await townApi.recordConsent(this.ctx.token(), r.id, body);
        const note = { client_id: sent?.clientId ?? `consent-${crypto.randomUUID()}`, body: t(file ? 'tt_c_note' : 'tt_c_note_plain', { by: body.given_by, rel: body.relation, date: body.date }) };
        // The consent is recorded: whatever happens to the note, it is not recorded twice. Under
        // --require-consent the hub may take a moment to see the new consent on its post path (its
        // access cache is dropped by an event): a refusal is retried, same client_id, a few times.
        try {
          for (let i = 0; ; i++) {
            try {
              await this.ctx.postNote(r.id, note);
              break;
            } catch (ex) {
              if (ex.code !== 'forbidden' || i >= 4) throw ex;
              await new Promise((res) => setTimeout(res, 250 * (i + 1)));
            }
          }
        } catch (ex) {
          this.ctx.banner(t('tt_c_note_not_posted', { msg: errorText(ex) }));
        }
        sent = null;
        this.ctx.announce(t('tt_c_saved'));
        this.form = null;
        await this.load(r.id);
        this.dialog.body.querySelector('.consent-state')?.focus?.();
      } catch (ex) {
        err.textContent = errorText(ex);
        save.textContent = t('tt_c_save');
        save.disabled = false;
      }
    });
    return form;
  }
}
