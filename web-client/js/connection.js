// The WebSocket session: hello/welcome, request/reply by `ref`, heartbeat, and reconnect with
// exponential backoff and full jitter. It knows the protocol's framing, not the app's state.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30000;
const REQUEST_TIMEOUT_MS = 15000;
// The hub allows 20 frames/s with bursts of 40 per connection; stay under it, so that a user in
// many rooms can subscribe to all of them at connect without `rate_limited` errors.
const PACE_PER_SECOND = 15;
const PACE_BURST = 30;

export class Connection {
  /**
   * @param {object} o
   * @param {() => string} o.getToken
   * @param {(welcome: object) => void} o.onWelcome   called on every (re)connect
   * @param {(event: object) => void} o.onEvent       events that are no reply
   * @param {(state: string, info?: object) => void} o.onState  connecting|connected|reconnecting|offline
   * @param {(reason: string) => void} o.onAuthFailure token rejected or expired (close 4001)
   */
  constructor(o) {
    this.o = o;
    this.url = o.url ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    this.ws = null;
    this.state = 'idle';
    this.refCounter = 0;
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.lastHeard = 0;
    this.stopped = false;
    this.welcomed = false;
    this.queue = [];
    this.tokens = PACE_BURST;
    this.refilled = Date.now();
    this.drainTimer = null;
    this.onOnline = () => { if (!this.stopped && this.state !== 'connected') this.connectNow(); };
    this.onOffline = () => { if (this.state !== 'connected') this.setState('offline'); };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  setState(state, info) {
    this.state = state;
    this.o.onState(state, info);
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeatTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
    this.failPending('stopped');
  }

  connectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState <= 1) return;
    this.open();
  }

  open() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    if (navigator.onLine === false) { this.setState('offline'); return; }
    this.setState(this.attempt === 0 && !this.everConnected ? 'connecting' : 'reconnecting');
    this.welcomed = false;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'hello', token: this.o.getToken() }));
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      this.dispatch(frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.queue = [];
      clearInterval(this.heartbeatTimer);
      this.failPending('disconnected');
      if (this.stopped) return;
      if (ev.code === 4001) {
        this.stopped = true;
        this.setState('offline');
        this.o.onAuthFailure(this.welcomed ? 'expired' : 'invalid');
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    // Full jitter keeps a town's clients from all coming back in the same instant after a restart.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    const offline = navigator.onLine === false;
    this.setState(offline ? 'offline' : 'reconnecting', { delay });
    if (offline) return; // the 'online' event reconnects
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  dispatch(frame) {
    if (frame.type === 'welcome') {
      this.welcomed = true;
      this.everConnected = true;
      this.attempt = 0;
      this.startHeartbeat(frame.heartbeat || 25);
      this.setState('connected');
      this.o.onWelcome(frame);
      return;
    }
    if (frame.type === 'pong') return;
    if (frame.ref && this.pending.has(frame.ref)) {
      const p = this.pending.get(frame.ref);
      this.pending.delete(frame.ref);
      clearTimeout(p.timer);
      if (frame.type === 'error') {
        const err = new Error(frame.message || frame.code);
        err.code = frame.code;
        p.reject(err);
      } else {
        p.resolve(frame);
      }
      return;
    }
    if (frame.type === 'error' && frame.code === 'unauthorized' && !this.welcomed) {
      return; // the close 4001 that follows decides
    }
    this.o.onEvent(frame);
  }

  startHeartbeat(seconds) {
    clearInterval(this.heartbeatTimer);
    this.lastHeard = Date.now();
    const every = Math.max(5, seconds) * 1000;
    this.heartbeatTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== 1) return;
      if (Date.now() - this.lastHeard > every * 2 + 5000) {
        // Half-open connection (a phone that changed networks): drop it and resume elsewhere.
        this.ws.close(4000);
        const ws = this.ws;
        this.ws = null;
        ws.onclose = null;
        clearInterval(this.heartbeatTimer);
        this.failPending('disconnected');
        this.scheduleReconnect();
        return;
      }
      this.sendRaw({ type: 'ping' });
    }, every);
  }

  get connected() { return this.state === 'connected' && this.ws && this.ws.readyState === 1; }

  sendRaw(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.queue.push(JSON.stringify(frame));
    this.drain();
    return true;
  }

  drain() {
    const now = Date.now();
    this.tokens = Math.min(PACE_BURST, this.tokens + ((now - this.refilled) / 1000) * PACE_PER_SECOND);
    this.refilled = now;
    while (this.queue.length && this.tokens >= 1 && this.ws && this.ws.readyState === 1) {
      this.ws.send(this.queue.shift());
      this.tokens -= 1;
    }
    if (!this.ws || this.ws.readyState !== 1) this.queue = [];
    if (this.queue.length && !this.drainTimer) {
      this.drainTimer = setTimeout(() => { this.drainTimer = null; this.drain(); }, 1000 / PACE_PER_SECOND);
    }
  }

  /** Sends a frame with a fresh `ref`; resolves with the reply, rejects with an error (`code`). */
  request(frame, timeoutMs = REQUEST_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        const err = new Error('not connected');
        err.code = 'disconnected';
        reject(err);
        return;
      }
      const ref = `r${++this.refCounter}`;
      const timer = setTimeout(() => {
        if (this.pending.delete(ref)) {
          const err = new Error('timeout');
          err.code = 'timeout';
          reject(err);
        }
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      this.sendRaw({ ...frame, ref });
    });
  }

  failPending(code) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      const err = new Error(code);
      err.code = code;
      p.reject(err);
    }
    this.pending.clear();
  }
}
