// The protocol client: one WebSocket, hello, requests with refs, events, and reconnection with
// backoff and jitter. What to do after a (re)connect is the app's business ('welcome' event).

export class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Connection extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.ws = null;
    this.state = 'connecting';
    this.pending = new Map();
    this.nextRef = 1;
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    addEventListener('online', () => this.reconnectSoon(0));
    addEventListener('offline', () => this.setState('offline'));
  }

  setState(s) {
    if (this.state !== s) {
      this.state = s;
      this.dispatchEvent(new CustomEvent('state', { detail: s }));
    }
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  open() {
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: this.token }));
    ws.onmessage = (e) => {
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      if (!welcomed) {
        if (f.type === 'welcome') {
          welcomed = true;
          this.attempt = 0;
          this.setState('connected');
          this.dispatchEvent(new CustomEvent('welcome', { detail: f }));
        } else if (f.type === 'error' && f.code === 'unauthorized') {
          this.stopped = true;
          this.dispatchEvent(new CustomEvent('unauthorized', { detail: f.message }));
        }
        return;
      }
      if (f.ref && this.pending.has(f.ref)) {
        const { resolve, reject } = this.pending.get(f.ref);
        this.pending.delete(f.ref);
        if (f.type === 'error') reject(new ProtocolError(f.code, f.message));
        else resolve(f);
        return;
      }
      this.dispatchEvent(new CustomEvent(f.type, { detail: f }));
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      for (const { reject } of this.pending.values()) reject(new ProtocolError('unavailable', 'disconnected'));
      this.pending.clear();
      if (e.code === 4001 && welcomed) {
        // The token expired: the app may have a fresh one.
        this.dispatchEvent(new CustomEvent('expired'));
      }
      if (this.stopped) return;
      this.reconnectSoon();
    };
  }

  reconnectSoon(delay) {
    if (this.stopped) return;
    this.setState(navigator.onLine === false ? 'offline' : 'reconnecting');
    clearTimeout(this.timer);
    // Exponential backoff with jitter, so a restarted hub is not hit by everyone at once.
    const base = Math.min(15000, 400 * 2 ** this.attempt);
    const wait = delay ?? base / 2 + Math.random() * base / 2;
    this.attempt += 1;
    this.timer = setTimeout(() => this.open(), wait);
  }

  /** Sends a frame and resolves with its reply (rejects with ProtocolError on `error`). */
  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== 'connected') {
        reject(new ProtocolError('unavailable', 'not connected'));
        return;
      }
      const ref = `w${this.nextRef++}`;
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, ref }));
    });
  }

  /** Swaps in a fresh token for the same user. */
  async refresh(token) {
    this.token = token;
    if (this.state === 'connected') await this.request({ type: 'refresh', token });
  }
}
