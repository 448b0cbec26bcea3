// The image viewer: a modal dialog with the full image (fetched with the bearer token into a
// blob: URL), its file name and size; closed by Esc (the dialog's own cancel) or the button,
// focus back on the thumbnail that opened it.
import { t } from '../i18n.js';
import { blobUrl, formatSize } from '../attachments.js';

export class ImageViewer {
  constructor(getToken) {
    this.getToken = getToken;
    this.dialog = document.getElementById('viewer-dialog');
    this.img = document.getElementById('viewer-image');
    this.title = document.getElementById('viewer-title');
    this.state = document.getElementById('viewer-state');
    this.trigger = null;
    this.current = null;
    document.getElementById('viewer-close').addEventListener('click', () => this.dialog.close());
    this.dialog.addEventListener('close', () => {
      this.current = null;
      this.img.removeAttribute('src');
      if (this.trigger?.isConnected) this.trigger.focus();
    });
  }

  async open(att, trigger) {
    this.trigger = trigger;
    this.current = att.id;
    this.title.textContent = att.name;
    this.img.alt = att.name;
    this.img.removeAttribute('src');
    this.img.hidden = true;
    this.state.textContent = t('loading');
    this.dialog.dataset.attachment = att.id;
    if (!this.dialog.open) this.dialog.showModal();
    document.getElementById('viewer-close').focus();
    try {
      const url = await blobUrl(this.getToken(), att.id, false);
      if (this.current !== att.id) return;
      this.img.src = url;
      await this.img.decode().catch(() => {});
      this.img.hidden = false;
      this.state.textContent = [formatSize(att.size), att.width && att.height ? `${att.width} × ${att.height}` : ''].filter(Boolean).join(' · ');
    } catch {
      if (this.current === att.id) this.state.textContent = t('attach_load_failed');
    }
  }

  close() { if (this.dialog.open) this.dialog.close(); }
}
