// Network side of the web client: REST calls with the Bearer token, the
// socket with reconnect (backoff + jitter, `since` resume) and the outbox
// that keeps every typed message until the server has stored it.

// ApiError carries the server's error body (SPEC: status, errcode, msg).
export class ApiError extends Error {
  constructor(status, errcode, msg) {
    super(msg || 'HTTP ' + status);
    this.status = status;
    this.errcode = errcode || '';
  }
}

let token = sessionStorage.getItem('ct_token');
export const getToken = () => token;
export function setToken(t) {
  token = t;
  if (t) sessionStorage.setItem('ct_token', t); else sessionStorage.removeItem('ct_token');
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'CT_NETWORK', 'the server cannot be reached');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.errcode, data.msg);
  return data;
}

// fetchBlob downloads with the Bearer header (a plain link could not send
// it, and the token must never go in a URL) and returns a blob: URL.
export async function fetchBlob(path) {
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token } });
  if (!res.ok) {
    const data = await res.json().catch(() => ({}));
    throw new ApiError(res.status, data.errcode, data.msg);
  }
  return URL.createObjectURL(await res.blob());
}

// upload posts a multipart form with progress (fetch has no upload
// progress, XMLHttpRequest does).
export function upload(form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/files/upload');
    xhr.setRequestHeader('Authorization', 'Bearer ' + token);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data.errcode, data.msg));
    };
    xhr.onerror = () => reject(new ApiError(0, 'CT_NETWORK', 'the server cannot be reached'));
    xhr.send(form);
  });
}

// newTxnID names a send so that repeating it (after a lost ack, a
// reconnect, a reload) stores it once. crypto.getRandomValues works
// without a secure context, unlike crypto.randomUUID.
export function newTxnID() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return 'w' + Date.now().toString(36) + '-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// Outbox: localStorage, one entry per txn_id, per user, so that a message
// survives a reload or a closed tab until its ack arrives.
export class Outbox {
  constructor(userId) {
    this.key = 'ct_outbox:' + userId;
    try { this.items = JSON.parse(localStorage.getItem(this.key) || '{}'); } catch (e) { this.items = {}; }
    // A send in flight when the page went away has no ack: send it again.
    for (const it of Object.values(this.items)) if (it.state === 'sending') it.state = 'pending';
    this.save();
  }
  save() { localStorage.setItem(this.key, JSON.stringify(this.items)); }
  put(item) { this.items[item.txn_id] = item; this.save(); return item; }
  get(txn) { return this.items[txn]; }
  remove(txn) { delete this.items[txn]; this.save(); }
  list() { return Object.values(this.items).sort((a, b) => a.createdAt - b.createdAt); }
  clear() { this.items = {}; localStorage.removeItem(this.key); }
}

// Positions: the highest seq seen per conversation, kept across reloads so
// that the socket's `since` replays exactly what was missed.
export class Positions {
  constructor(userId) {
    this.key = 'ct_since:' + userId;
    try { this.map = JSON.parse(localStorage.getItem(this.key) || '{}'); } catch (e) { this.map = {}; }
  }
  see(conv, seq) {
    if (!conv || !(seq > (this.map[conv] || 0))) return;
    this.map[conv] = seq;
    localStorage.setItem(this.key, JSON.stringify(this.map));
  }
  has(conv) { return conv in this.map; }
  clear() { this.map = {}; localStorage.removeItem(this.key); }
}

// The page's frame budget: half the server's default rate, a third of its
// burst.
const RATE = 10;
const BURST = 30;

// Close codes after which waiting longer is the point (SPEC: 4003 too many
// frames, 4004 too many sockets).
const slowDown = new Set([4003, 4004]);

// Socket keeps one authenticated socket open. hooks: onFrame(frame),
// onState(state, detail), onReady(user), onAuthLost().
export class Socket {
  constructor(positions, hooks) {
    this.positions = positions;
    this.hooks = hooks;
    this.ws = null;
    this.ready = false;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map(); // frame id -> {resolve, reject}
    this.stopped = false;
    this.timer = null;
    // The page's own frame budget, well inside the server's (20 a second,
    // bursts of 100, else close 4003): a full outbox is sent paced, not
    // at once.
    this.rate = RATE;
    this.burst = BURST;
    this.tokens = BURST;
    this.filled = Date.now();
    this.waiting = [];
  }

  // slot resolves when a frame may be sent; waiters are served in order,
  // so the outbox keeps its order.
  slot() {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.drain();
    });
  }

  drain() {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.filled) / 1000) * this.rate);
    this.filled = now;
    while (this.waiting.length && this.tokens >= 1) {
      this.tokens -= 1;
      this.waiting.shift()();
    }
    if (this.waiting.length && !this.drainTimer) {
      this.drainTimer = setTimeout(() => { this.drainTimer = null; this.drain(); }, Math.ceil(1000 / this.rate));
    }
  }

  start() { this.stopped = false; this.open(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  open() {
    this.hooks.onState('connecting');
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ event: 'auth', data: { token: getToken(), since: this.positions.map } }));
    ws.onmessage = (e) => {
      if (this.stopped || this.ws !== ws) return; // logged out meanwhile
      let f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f.event === 'ready') {
        this.ready = true;
        this.attempt = 0;
        this.hooks.onState('online');
        this.hooks.onReady(f.data);
        return;
      }
      if ((f.event === 'ack' || f.event === 'error') && f.id != null && this.pending.has(f.id)) {
        const p = this.pending.get(f.id);
        this.pending.delete(f.id);
        if (f.event === 'ack') p.resolve(f.data); else p.reject(new ApiError(f.data.status || 400, f.data.errcode, f.data.msg));
        return;
      }
      this.hooks.onFrame(f);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ready = false;
      this.ws = null;
      // Requests without an answer are not failures: the outbox sends
      // them again with the same txn_id.
      for (const p of this.pending.values()) p.reject(new ApiError(0, 'CT_NETWORK', 'connection lost'));
      this.pending.clear();
      if (this.stopped) return;
      if (e.code === 4001) { this.hooks.onAuthLost(); return; }
      this.attempt++;
      // Exponential backoff with full jitter, capped; a "slow down" close
      // waits at least 5 s.
      const cap = Math.min(15000, 500 * 2 ** Math.min(this.attempt, 5));
      let delay = cap / 2 + Math.random() * cap / 2;
      if (slowDown.has(e.code)) delay = Math.max(delay, 5000 + Math.random() * 2000);
      if (e.code === 4003) {
        // The server's budget is smaller than ours: halve ours, and start
        // the next socket with an empty bucket.
        this.rate = Math.max(1, this.rate / 2);
        this.burst = Math.max(2, Math.floor(this.burst / 2));
        this.tokens = 0;
      }
      this.hooks.onState('offline', { code: e.code, retryAt: Date.now() + delay });
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  // send fires a frame without waiting for its answer (typing, read);
  // it is dropped if the socket went while it waited for its slot.
  async send(event, data) {
    if (!this.ready) return false;
    const ws = this.ws;
    await this.slot();
    if (!this.ready || this.ws !== ws) return false;
    ws.send(JSON.stringify({ event, data }));
    return true;
  }

  // request sends a frame with an id and resolves with its ack data, or
  // rejects with the error frame's reason.
  async request(event, data) {
    if (!this.ready) throw new ApiError(0, 'CT_NETWORK', 'not connected');
    const ws = this.ws;
    await this.slot();
    if (!this.ready || this.ws !== ws) throw new ApiError(0, 'CT_NETWORK', 'connection lost');
    const id = 'c' + this.nextId++;
    return new Promise((resolve, reject) => {
      // An answer that never comes (a stuck server) must not leave the
      // message "sending" forever: give up on this try after 15 s.
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new ApiError(0, 'CT_TIMEOUT', 'no answer from the server'));
      }, 15000);
      const done = (fn) => (v) => { clearTimeout(timer); fn(v); };
      this.pending.set(id, { resolve: done(resolve), reject: done(reject) });
      ws.send(JSON.stringify({ event, data, id }));
    });
  }
}

// transient tells a failure worth retrying by itself (no connection,
// server busy or down) from a refusal the user must act on.
export function transient(err) {
  return !err.status || err.status === 429 || err.status >= 500;
}
