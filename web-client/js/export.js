// Export of a room's care record (PROTOCOL.md 5.5): CSV or PDF for a date range, this month by
// default. The file is fetched with the bearer token and saved from a blob through <a download>;
// the token is never put in a URL.
import { t } from './i18n.js';
import { townApi, saveBlob } from './townapi.js';
import { Dialog, field, formError, errorText } from './views/dialog.js';
import { el } from './views/dom.js';

function jstParts(d = new Date()) {
  const [y, m, day] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Tokyo', year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(d).split('-').map(Number);
  return { y, m, day };
}

const MAX_DAYS = 366; // the longest period one export covers (the hub's bound)
const pad = (n) => String(n).padStart(2, '0');

/** This month in Japan time: [first day, last day] as YYYY-MM-DD. */
export function thisMonth(now = new Date()) {
  const { y, m } = jstParts(now);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return [`${y}-${pad(m)}-01`, `${y}-${pad(m)}-${pad(last)}`];
}

export class ExportDialog {
  constructor(ctx) {
    this.ctx = ctx;
    this.d = new Dialog('export-dialog');
  }

  open(roomId, trigger) {
    const r = this.ctx.store.rooms.get(roomId);
    if (!r) return;
    const [first, last] = thisMonth();
    const from = el('input', { type: 'date', value: first, required: true });
    const to = el('input', { type: 'date', value: last, required: true });
    const csv = el('input', { type: 'radio', name: 'ex-format', value: 'csv', id: 'ex-csv' });
    const pdf = el('input', { type: 'radio', name: 'ex-format', value: 'pdf', id: 'ex-pdf', checked: true });
    const err = formError();
    const state = el('p', { class: 'hint', role: 'status' });
    const go = el('button', { type: 'submit', class: 'btn-primary' }, t('tt_export_go'));
    const form = el('form', { class: 'tool-form', novalidate: true },
      el('p', { class: 'hint' }, t('tt_export_hint', { room: this.ctx.displayName(r) })),
      el('div', { class: 'date-range' }, field('ex-from', t('tt_from'), from), field('ex-to', t('tt_to'), to)),
      el('fieldset', { class: 'kind-choice' }, el('legend', {}, t('tt_format')),
        el('label', { for: 'ex-pdf' }, pdf, t('tt_format_pdf')),
        el('label', { for: 'ex-csv' }, csv, t('tt_format_csv'))),
      err, state,
      el('div', { class: 'form-actions' }, go));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      if (!from.value || !to.value) { err.textContent = t('tt_need_dates'); (from.value ? to : from).focus(); return; }
      if (from.value > to.value) { err.textContent = t('tt_bad_range'); to.focus(); return; }
      if ((Date.parse(to.value) - Date.parse(from.value)) / 86400000 + 1 > MAX_DAYS) { err.textContent = t('tt_range_too_long', { n: MAX_DAYS }); from.focus(); return; }
      const format = pdf.checked ? 'pdf' : 'csv';
      go.disabled = true;
      state.textContent = t('tt_export_working');
      try {
        const f = await townApi.download(this.ctx.token(), townApi.exportPath(r.id, { from: from.value, to: to.value, format }),
          `${r.id}_${from.value}_${to.value}.${format}`);
        saveBlob(f.blob, f.name);
        state.textContent = t('tt_export_done', { name: f.name });
      } catch (ex) {
        state.textContent = '';
        err.textContent = errorText(ex);
      } finally {
        go.disabled = false;
      }
    });
    this.d.body.replaceChildren(form);
    this.d.show(t('tt_export_title'), trigger);
    from.focus();
  }
}
