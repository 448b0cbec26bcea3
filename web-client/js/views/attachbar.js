// The composer's attachments: a camera button and a file button, a chip per file with its
// progress, retry after a failed upload, removal. Files are checked (type, the hub's size limit
// from GET /api/config) before anything is sent. Chips are kept per room while the page lives,
// like the note's text, so a failed upload is retried without losing the note.
import { t } from '../i18n.js';
import { ACCEPTED, DEFAULT_MAX_BYTES, MAX_PER_POST, formatSize, isImage, upload } from '../attachments.js';
import { el } from './dom.js';

let chipCounter = 0;

export class AttachBar {
  /**
   * @param {object} o
   * @param {() => string|null} o.token
   * @param {() => number} o.maxBytes the hub's max_attachment_bytes
   * @param {(msg: string) => void} o.showError the composer's error line
   * @param {() => void} o.changed the chips changed (the composer re-checks what may be sent)
   */
  constructor(o) {
    this.o = o;
    this.rooms = new Map(); // room -> [chip]
    this.roomId = null;
    this.box = document.getElementById('attach-chips');
    this.camera = document.getElementById('attach-camera');
    this.files = document.getElementById('attach-files');
    document.getElementById('camera-button').addEventListener('click', () => this.camera.click());
    document.getElementById('file-button').addEventListener('click', () => this.files.click());
    for (const input of [this.camera, this.files]) {
      input.addEventListener('change', () => {
        this.add([...input.files]);
        input.value = '';
      });
    }
  }

  get chips() { return this.rooms.get(this.roomId) ?? []; }

  open(roomId) {
    this.roomId = roomId;
    this.render();
  }

  /** Checks and starts uploading the chosen files; refuses the others with a message. */
  add(files) {
    if (!this.roomId || !files.length) return;
    const max = this.o.maxBytes() || DEFAULT_MAX_BYTES;
    const problems = [];
    const list = this.chips;
    for (const file of files) {
      if (list.length >= MAX_PER_POST) { problems.push(t('attach_too_many', { n: MAX_PER_POST })); break; }
      if (!ACCEPTED.includes(file.type)) { problems.push(t('attach_bad_type', { name: file.name })); continue; }
      if (file.size > max) { problems.push(t('attach_too_big', { name: file.name, size: formatSize(file.size), max: formatSize(max) })); continue; }
      if (file.size === 0) { problems.push(t('attach_empty', { name: file.name })); continue; }
      const chip = { key: `a${++chipCounter}`, room: this.roomId, file, name: file.name, type: file.type, size: file.size, status: 'uploading', progress: 0, attachment: null, error: '', job: null };
      list.push(chip);
      this.start(chip);
    }
    this.rooms.set(this.roomId, list);
    this.o.showError(problems.join(' '));
    this.render();
    this.o.changed();
  }

  start(chip) {
    chip.status = 'uploading';
    chip.progress = 0;
    chip.error = '';
    const job = upload({
      token: this.o.token(),
      room: chip.room,
      file: chip.file,
      onProgress: (f) => { chip.progress = f; this.renderChip(chip); },
    });
    chip.job = job;
    job.promise.then((att) => {
      if (chip.job !== job) return;
      chip.status = 'done';
      chip.attachment = att;
    }, (e) => {
      if (chip.job !== job || e.code === 'aborted') return;
      chip.status = 'failed';
      chip.error = e.code === 'network' ? t('attach_network') : (e.code === 'too_large' ? t('attach_refused_size') : (e.message || e.code));
    }).finally(() => {
      if (chip.job !== job) return;
      chip.job = null;
      document.getElementById('announcer').textContent = chip.status === 'done'
        ? t('attach_ready_announce', { name: chip.name }) : t('attach_failed_announce', { name: chip.name, err: chip.error });
      this.render();
      this.o.changed();
    });
  }

  remove(chip) {
    chip.job?.abort();
    chip.job = null;
    const list = (this.rooms.get(chip.room) ?? []).filter((c) => c !== chip);
    this.rooms.set(chip.room, list);
    this.render();
    this.o.changed();
    document.getElementById('file-button').focus();
  }

  /** null when the chips allow sending, else why not. */
  blocker() {
    if (this.chips.some((c) => c.status === 'uploading')) return t('attach_wait');
    if (this.chips.some((c) => c.status === 'failed')) return t('attach_failed_block');
    return null;
  }

  /** The uploaded attachments of the open room (for the post). */
  ready() { return this.chips.filter((c) => c.status === 'done').map((c) => c.attachment); }

  /** The post went into the outbox with them: the chips are done. */
  clear(roomId = this.roomId) {
    this.rooms.delete(roomId);
    if (roomId === this.roomId) this.render();
  }

  /** Sign-out or removal from the room. */
  forget(roomId = null) {
    for (const [id, list] of this.rooms) {
      if (roomId && id !== roomId) continue;
      for (const c of list) c.job?.abort();
      this.rooms.delete(id);
    }
    this.render();
  }

  render() {
    const list = this.chips;
    this.box.hidden = list.length === 0;
    const keep = new Set(list.map((c) => c.key));
    for (const n of [...this.box.children]) if (!keep.has(n.dataset.key)) n.remove();
    let prev = null;
    for (const c of list) {
      let n = this.box.querySelector(`[data-key="${c.key}"]`);
      if (!n) n = this.chipNode(c);
      const want = prev ? prev.nextSibling : this.box.firstChild;
      if (want !== n) this.box.insertBefore(n, want);
      this.renderChip(c, n);
      prev = n;
    }
  }

  chipNode(c) {
    const icon = el('span', { class: 'chip-icon', 'aria-hidden': 'true' }, isImage(c.type) ? 'IMG' : 'PDF');
    if (isImage(c.type)) {
      const img = el('img', { class: 'chip-thumb', alt: '' });
      const url = URL.createObjectURL(c.file);
      img.addEventListener('load', () => URL.revokeObjectURL(url), { once: true });
      img.addEventListener('error', () => URL.revokeObjectURL(url), { once: true });
      img.src = url;
      icon.replaceChildren(img);
    }
    const li = el('li', { class: 'chip', 'data-key': c.key },
      icon,
      el('span', { class: 'chip-text' },
        el('span', { class: 'chip-name' }, c.name),
        el('span', { class: 'chip-state' })),
      el('progress', { class: 'chip-progress', max: '100', value: '0' }),
      el('span', { class: 'chip-actions' }));
    return li;
  }

  renderChip(c, n = this.box.querySelector(`[data-key="${c.key}"]`)) {
    if (!n) return;
    n.dataset.status = c.status;
    const pct = Math.round(c.progress * 100);
    const bar = n.querySelector('.chip-progress');
    bar.value = pct;
    bar.hidden = c.status !== 'uploading';
    bar.setAttribute('aria-label', t('attach_progress_label', { name: c.name, pct }));
    const state = c.status === 'uploading' ? t('attach_uploading', { pct })
      : c.status === 'done' ? t('attach_ready', { size: formatSize(c.size) })
        : t('attach_failed', { err: c.error });
    const stateEl = n.querySelector('.chip-state');
    if (stateEl.textContent !== state) stateEl.textContent = state;
    const actions = n.querySelector('.chip-actions');
    if (actions.dataset.for !== c.status) {
      actions.dataset.for = c.status;
      actions.replaceChildren(...[
        c.status === 'failed' ? el('button', { type: 'button', class: 'btn-link chip-retry', onclick: () => { this.start(c); this.render(); this.o.changed(); } }, t('attach_retry')) : null,
        el('button', { type: 'button', class: 'chip-remove', 'aria-label': t('attach_remove', { name: c.name }), onclick: () => this.remove(c) }, '×'),
      ].filter(Boolean));
    }
  }
}
