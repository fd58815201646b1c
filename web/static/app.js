// Crypt-Talk web client: plain JavaScript modules, no build step. Every
// text from the server is set with textContent, never as HTML.
import { api, ApiError, getToken, setToken, upload, newTxnID, Outbox, Positions, Socket, transient } from './net.js';
import { el, messageItem, outboxItem, preview, countdown, dayOf, avatar } from './render.js';
import { initExtras } from './extras.js';
import * as e2ee from './e2ee-ui.js';

const $ = (id) => document.getElementById(id);

// A CSP violation means part of the page does not work under the server's
// policy: count them where a test (or a developer) can see them.
document.addEventListener('securitypolicyviolation', (e) => {
  const root = document.documentElement;
  root.dataset.cspViolations = String(Number(root.dataset.cspViolations || 0) + 1);
  console.warn('CSP violation', e.violatedDirective, e.blockedURI);
});

// Uncaught errors are counted the same way: a test fails on any.
for (const ev of ['error', 'unhandledrejection']) {
  window.addEventListener(ev, (e) => {
    const root = document.documentElement;
    root.dataset.jsErrors = String(Number(root.dataset.jsErrors || 0) + 1);
    const why = e.reason || e.error || e.message || ev;
    root.dataset.jsLastError = String((why && why.stack) || why).slice(0, 500);
  });
}

const state = {
  me: null,
  peer: null,        // user we talk to
  conv: null,        // its conversation_id once known
  convs: new Map(),  // peer user_id -> conversation summary
  users: new Map(),  // user_id -> user
  online: new Set(),
  shown: new Set(),  // message ids on screen
  unread: 0,
  typingSent: 0,
  typingTimer: null,
  outbox: null,
  positions: null,
  sock: null,
};

// ---- accounts -------------------------------------------------------

function fieldError(id, text) {
  $(id + '-error').textContent = text || '';
  $(id).setAttribute('aria-invalid', text ? 'true' : 'false');
}

// Errors go next to the field they concern; editing the field clears it.
for (const id of ['login-username', 'login-password', 'reg-username', 'reg-email', 'reg-password']) {
  $(id).addEventListener('input', () => {
    fieldError(id, '');
    $(id.startsWith('login') ? 'login-error' : 'register-error').textContent = '';
  });
}

function showMode(register) {
  $('login-form').hidden = register;
  $('register-form').hidden = !register;
  $('tab-login').setAttribute('aria-selected', String(!register));
  $('tab-register').setAttribute('aria-selected', String(register));
  $(register ? 'reg-username' : 'login-username').focus();
}
$('tab-login').addEventListener('click', () => showMode(false));
$('tab-register').addEventListener('click', () => showMode(true));

// fieldFor maps a server refusal to the field it concerns.
function fieldFor(err, register) {
  const p = register ? 'reg-' : 'login-';
  // A failed login does not say which of the two was wrong, on purpose.
  if (!register && err.status === 401) return null;
  if (err.errcode === 'CT_USER_IN_USE' || /username/i.test(err.message)) return p + 'username';
  if (err.errcode === 'CT_EMAIL_IN_USE' || /email/i.test(err.message)) return register ? 'reg-email' : null;
  if (/password/i.test(err.message)) return p + 'password';
  return null;
}

async function authenticate(register) {
  const p = register ? 'reg-' : 'login-';
  const general = register ? 'register-error' : 'login-error';
  $(general).textContent = '';
  const body = { username: $(p + 'username').value.trim(), password: $(p + 'password').value };
  let bad = false;
  if (!body.username) { fieldError(p + 'username', 'Enter a username.'); bad = true; }
  if (!body.password) { fieldError(p + 'password', 'Enter a password.'); bad = true; }
  if (register) {
    body.email = $('reg-email').value.trim();
    if (!body.email) { fieldError('reg-email', 'Enter an email address.'); bad = true; }
  }
  if (bad) return;
  try {
    const data = await api('POST', register ? '/api/auth/register' : '/api/auth/login', body);
    setToken(data.token);
    await start();
  } catch (e) {
    const f = fieldFor(e, register);
    if (f) fieldError(f, e.message); else $(general).textContent = e.message;
  }
}
$('login-form').addEventListener('submit', (e) => { e.preventDefault(); authenticate(false); });
$('register-form').addEventListener('submit', (e) => { e.preventDefault(); authenticate(true); });

async function logout(callServer, why) {
  if (callServer && state.outbox) {
    // Leaving on purpose clears what this browser keeps of the account
    // (it may be a shared computer); unsent messages are asked about.
    const left = state.outbox.list().length;
    if (left && !confirm(left + ' message(s) are not sent yet. Log out and discard them?')) return;
    state.outbox.clear();
    state.positions.clear();
  }
  // Not awaited: the rest of logout stays one synchronous step, so a
  // session-ended close arriving meanwhile cannot reset the forms later.
  e2ee.stopCrypto(callServer, state.me).catch(() => {});
  if (callServer) await api('POST', '/api/auth/logout').catch(() => {});
  if (state.sock) state.sock.stop();
  setToken(null);
  // Nothing of this account may show for the next one.
  Object.assign(state, { me: null, sock: null, peer: null, conv: null, outbox: null, positions: null });
  for (const k of ['convs', 'users', 'online', 'shown']) state[k].clear();
  receipts.clear();
  pendingRead.clear();
  for (const id of ['people', 'messages']) $(id).replaceChildren();
  $('peer-name').textContent = 'Pick someone to talk to';
  $('typing').textContent = '';
  $('chat-error').textContent = '';
  $('search').value = '';
  $('notice').hidden = true;
  for (const id of ['text', 'send', 'file', 'timer', 'timer-mode', 'record', 'emoji']) $(id).disabled = true;
  $('chat').hidden = true;
  $('auth').hidden = false;
  // Nothing of the last account stays in the forms.
  for (const f of ['login-form', 'register-form']) $(f).reset();
  for (const id of ['login-username', 'login-password', 'reg-username', 'reg-email', 'reg-password']) fieldError(id, '');
  $('register-error').textContent = '';
  $('login-error').textContent = why || '';
  document.title = 'Crypt-Talk';
  showMode(false);
}
$('logout').addEventListener('click', () => logout(true));

// ---- start ----------------------------------------------------------

async function start() {
  const data = await api('GET', '/api/auth/me');
  state.me = data.user;
  state.outbox = new Outbox(state.me.user_id);
  state.positions = new Positions(state.me.user_id);
  $('auth').hidden = true;
  $('chat').hidden = false;
  $('me').textContent = state.me.username;
  $('avatar-button').replaceChildren(avatar(state.me));
  document.body.classList.remove('in-conversation');
  await loadList('');
  state.sock = new Socket(state.positions, {
    onFrame,
    onState: showConn,
    onReady: () => { flushOutbox(); if (state.peer) catchUp(); },
    onAuthLost: () => logout(false, 'Your session ended. Log in again.'),
  });
  state.sock.start();
  // End-to-end keys load after the list shows: the wasm is large.
  e2ee.startCrypto(state.me, e2ee.retry);
}

// ---- connection banner ----------------------------------------------

let connTick = null;
function showConn(s, detail) {
  const b = $('conn');
  b.dataset.state = s;
  clearInterval(connTick);
  if (s === 'online') { b.hidden = true; b.textContent = ''; return; }
  b.hidden = false;
  if (s === 'connecting') { b.textContent = 'Connecting…'; return; }
  const tick = () => {
    const left = Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000));
    const why = detail.code === 4003 ? ' (too many messages at once)' : '';
    b.textContent = 'Offline' + why + ' — reconnecting in ' + left + ' s. Messages you write are kept and sent then.';
  };
  tick();
  connTick = setInterval(tick, 1000);
}

// ---- contacts -------------------------------------------------------

async function loadList(q) {
  const [convs, users] = await Promise.all([
    q ? Promise.resolve([]) : api('GET', '/api/conversations').catch(() => []),
    api('GET', '/api/auth/allusers/' + encodeURIComponent(state.me._id) + '?q=' + encodeURIComponent(q))
      .catch((e) => { if (q) return []; throw e; }),
  ]);
  for (const c of convs) {
    state.convs.set(c.peer.user_id, c);
    state.users.set(c.peer.user_id, c.peer);
    if (c.peer.online) state.online.add(c.peer.user_id);
    // The list shows the state up to last_seq; the socket replays the rest.
    if (!state.positions.has(c.conversation_id)) state.positions.see(c.conversation_id, c.last_seq);
    // The peer's positions: ticks survive a reload, not only live receipts.
    if (c.peer_delivered_seq) showReceipt({ conversation_id: c.conversation_id, user_id: c.peer.user_id, kind: 'delivered', seq: c.peer_delivered_seq });
    if (c.peer_read_seq) showReceipt({ conversation_id: c.conversation_id, user_id: c.peer.user_id, kind: 'read', seq: c.peer_read_seq });
  }
  for (const u of users) {
    state.users.set(u.user_id, u);
    if (u.online) state.online.add(u.user_id); else state.online.delete(u.user_id);
  }
  renderList(q ? users : null);
}

function renderList(searchResults) {
  const list = $('people');
  list.replaceChildren();
  let people;
  if (searchResults) {
    people = searchResults;
  } else {
    const withConv = [...state.convs.values()]
      .sort((a, b) => lastAt(b) - lastAt(a))
      .map((c) => state.users.get(c.peer.user_id));
    const rest = [...state.users.values()].filter((u) => !state.convs.has(u.user_id) && u.user_id !== state.me.user_id);
    people = withConv.concat(rest);
  }
  for (const u of people) list.append(personItem(u));
  // Anyone can be named by user id, on this server or another one.
  const q = $('search').value.trim();
  if (searchResults && /^@[^:\s]+:[^\s]+$/.test(q) && !people.some((u) => u.user_id === q)) {
    list.append(personItem(state.users.get(q) || { user_id: q, username: q }));
  }
  updateTitle();
}

function lastAt(c) {
  return c.last_message ? Date.parse(c.last_message.createdAt) || 0 : 0;
}

function personItem(u) {
  const c = state.convs.get(u.user_id);
  const li = el('li', state.online.has(u.user_id) ? 'online' : '');
  li.dataset.userId = u.user_id;
  if (state.peer && state.peer.user_id === u.user_id) li.classList.add('active');
  const btn = el('button', 'person');
  btn.type = 'button';
  const av = avatar(u);
  av.append(el('span', 'dot'));
  const text = el('span', 'person-text');
  text.append(el('span', 'name', u.username));
  if (c && c.last_message) text.append(el('span', 'last', preview(c.last_message)));
  btn.append(av, text);
  if (c && c.unread > 0) {
    const badge = el('span', 'unread', String(c.unread));
    badge.setAttribute('aria-label', c.unread + ' unread');
    btn.append(badge);
  }
  btn.addEventListener('click', () => openPeer(u));
  li.append(btn);
  return li;
}

function updateTitle() {
  let n = 0;
  for (const c of state.convs.values()) n += c.unread || 0;
  state.unread = n;
  document.title = (n ? '(' + n + ') ' : '') + 'Crypt-Talk';
}

let searchTimer = null;
$('search').addEventListener('input', (e) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadList(e.target.value.trim()).catch(() => {}), 200);
});

// ---- a conversation -------------------------------------------------

async function openPeer(u) {
  state.peer = u;
  state.conv = null;
  state.shown.clear();
  lastDay = '';
  document.body.classList.add('in-conversation');
  for (const li of $('people').children) li.classList.toggle('active', li.dataset.userId === u.user_id);
  $('peer-name').textContent = u.username;
  $('typing').textContent = '';
  $('chat-error').textContent = '';
  // A notice of this conversation is answered by opening it.
  if ($('notice').dataset.from === u.user_id) $('notice').hidden = true;
  $('messages').replaceChildren();
  for (const id of ['text', 'send', 'file', 'timer', 'timer-mode', 'record', 'emoji']) $(id).disabled = false;
  $('emoji-panel').hidden = true;
  const c = state.convs.get(u.user_id);
  if (c) {
    state.conv = c.conversation_id;
    showTimer(c.timer);
  } else {
    showTimer(null);
  }
  state.peerE2EE = false;
  e2ee.badge(null);
  // A new DM is end-to-end when the peer has a device with keys (and the
  // user chose it); an existing one is what its flag says.
  e2ee.decide(state.me.user_id, u.user_id, c && c.conversation_id).then((on) => {
    if (state.peer !== u) return;
    state.peerE2EE = on;
    e2ee.badge(on || e2ee.isE2EE(state.conv) ? 'e2ee' : 'server');
  });
  const msgs = await api('POST', '/api/messages/getmsg', { to: u.user_id, limit: PAGE });
  if (state.peer !== u) return;
  state.older = msgs.length === PAGE ? msgs[0].seq : 0;
  msgs.forEach((m) => show(m));
  renderOutbox();
  markRead(msgs[msgs.length - 1]);
  if (c && c.unread) { c.unread = 0; renderList(null); }
  $('text').focus();
}

// History pages in when the list is scrolled to its top (getmsg
// before_seq); the view keeps its place.
const PAGE = 50;
let paging = false;
$('messages').addEventListener('scroll', async () => {
  const list = $('messages');
  if (paging || !state.older || list.scrollTop > 40 || !state.peer) return;
  paging = true;
  const u = state.peer;
  try {
    const msgs = await api('POST', '/api/messages/getmsg', { to: u.user_id, before_seq: state.older, limit: PAGE });
    if (state.peer !== u) return;
    state.older = msgs.length === PAGE ? msgs[0].seq : 0;
    const keep = list.scrollHeight - list.scrollTop;
    const shown = [...list.querySelectorAll('li[data-id]')].map((li) => li.message);
    list.replaceChildren();
    state.shown.clear();
    lastDay = '';
    for (const m of msgs.concat(shown)) show(m, true);
    renderOutbox(true);
    list.scrollTop = list.scrollHeight - keep;
  } catch (e) {
    $('chat-error').textContent = 'Older messages not loaded: ' + e.message;
  } finally {
    paging = false;
  }
});

// catchUp fetches what arrived for the open conversation while away, for
// the case where `since` had no position for it yet.
async function catchUp() {
  const u = state.peer;
  const last = Math.max(0, ...[...$('messages').querySelectorAll('li[data-seq]')].map((li) => Number(li.dataset.seq) || 0));
  const msgs = await api('POST', '/api/messages/getmsg', { to: u.user_id, after_seq: last, limit: 200 }).catch(() => []);
  if (state.peer === u) { msgs.forEach((m) => show(m)); markRead(msgs[msgs.length - 1]); }
}

$('back').addEventListener('click', () => {
  document.body.classList.remove('in-conversation');
  state.peer = null;
  $('search').focus();
});

function withPeer(m) {
  return state.peer && (m.from === state.peer.user_id || m.to === state.peer.user_id);
}

let lastDay = '';
function show(m, quiet) {
  state.positions.see(m.conversation_id, m.seq);
  e2ee.note(m);
  if (!withPeer(m) || state.shown.has(m._id)) return;
  const fresh = !state.conv;
  state.conv = m.conversation_id;
  if (e2ee.isE2EE(m.conversation_id)) e2ee.badge('e2ee');
  else if (fresh) e2ee.offer(); // the first message made the conversation
  state.shown.add(m._id);
  const list = $('messages');
  const day = dayOf(m.createdAt);
  if (day && day !== lastDay) {
    lastDay = day;
    // A plain list item: role=separator would leave the <ol> with a child
    // that is not a list item (axe: list).
    const sep = el('li', 'day', day);
    list.insertBefore(sep, list.querySelector('li.pending, li.failed'));
  }
  const li = messageItem(m);
  li.message = m;
  // Sender grouping: a message right after one from the same sender, within
  // five minutes, sits closer to it.
  const prev = list.querySelector('li.pending, li.failed')?.previousElementSibling ?? list.lastElementChild;
  if (prev && prev.message && prev.message.from === m.from && Date.parse(m.createdAt) - Date.parse(prev.message.createdAt) < 300000) {
    li.classList.add('grouped');
  }
  // Stored messages go before the ones still in the outbox.
  list.insertBefore(li, list.querySelector('li.pending, li.failed'));
  if (m.type === 'encrypted') e2ee.decryptInto(li, m);
  if (m.fromSelf) applyTicks();
  if (!quiet) li.scrollIntoView({ block: 'end' });
}

function showTimer(t) {
  $('timer').value = String(t && t.seconds ? t.seconds : 0);
  if ($('timer').selectedIndex < 0) {
    const o = el('option', '', t.seconds + ' s');
    o.value = String(t.seconds);
    $('timer').append(o);
    $('timer').value = String(t.seconds);
  }
  if (t && t.mode) $('timer-mode').value = t.mode;
}

async function setTimer() {
  if (!state.peer) return;
  const seconds = Number($('timer').value);
  const body = seconds ? { seconds, mode: $('timer-mode').value } : { seconds: 0 };
  try {
    await api('PUT', '/api/conversations/' + encodeURIComponent(state.peer.user_id) + '/timer', body);
    $('chat-error').textContent = '';
  } catch (e) {
    $('chat-error').textContent = 'Timer not set: ' + e.message;
  }
}
$('timer').addEventListener('change', setTimer);
$('timer-mode').addEventListener('change', () => { if (Number($('timer').value)) setTimer(); });

// Countdowns on vanishing messages; the server deletes them (msg-deleted).
setInterval(() => {
  for (const t of document.querySelectorAll('#messages .expires')) t.textContent = '⏱ ' + countdown(t.dataset.expiresAt);
}, 1000);

// ---- the outbox -----------------------------------------------------

function renderOutbox(quiet) {
  const list = $('messages');
  for (const li of list.querySelectorAll('li.pending, li.failed')) li.remove();
  if (!state.peer) return;
  for (const it of state.outbox.list()) {
    if (it.to !== state.peer.user_id) continue;
    list.append(outboxItem(it, retry, editFailed, discard));
  }
  const last = list.lastElementChild;
  if (last && !quiet) last.scrollIntoView({ block: 'end' });
}

function retry(it) {
  it.state = 'pending';
  it.error = '';
  state.outbox.put(it);
  renderOutbox();
  flushOutbox();
}

function editFailed(it) {
  state.outbox.remove(it.txn_id);
  $('text').value = it.msg;
  renderOutbox();
  $('text').focus();
}

function discard(it) {
  state.outbox.remove(it.txn_id);
  renderOutbox();
}

// deliver sends one outbox entry; the ack removes it, a refusal marks it
// failed with the server's reason, a lost connection leaves it pending
// for the next ready.
async function deliver(it) {
  const box = state.outbox;
  if (it.state !== 'pending' || !state.sock || !state.sock.ready) return;
  it.state = 'sending';
  const conv = convWith(it.to);
  try {
    if (it.e2ee || e2ee.isE2EE(conv)) {
      // Encrypted in the page, stored through the Matrix API; the stored
      // message comes back over the socket (or catchUp) like any other.
      it.e2ee = true;
      const id = await e2ee.sendText(it, conv);
      box.remove(it.txn_id);
      if (state.outbox !== box) return;
      if (state.peer && state.peer.user_id === it.to) { state.conv = state.conv || id; catchUp(); }
      renderOutbox();
      return;
    }
    const m = await state.sock.request('send-msg', { to: it.to, msg: it.msg, txn_id: it.txn_id });
    box.remove(it.txn_id);
    if (state.outbox !== box) return; // logged out meanwhile
    noteMessage(m);
    show(m);
  } catch (e) {
    if (state.outbox !== box || !box.get(it.txn_id)) return;
    if (e.errcode === 'CT_E2EE_REQUIRED' && !it.e2ee) {
      // The conversation went end-to-end meanwhile: never plaintext,
      // send it encrypted instead.
      it.e2ee = true;
      it.state = 'pending';
      e2ee.markE2EE(conv);
      setTimeout(flushOutbox, 0);
    } else if (!(e instanceof ApiError)) {
      it.state = 'failed'; // a crypto failure: the user decides
      it.error = 'not encrypted: ' + e.message;
    } else if (transient(e)) {
      // Sent again after a pause, or at the next ready if the socket
      // went: same txn_id, stored once.
      it.state = 'pending';
      setTimeout(flushOutbox, 3000 + Math.random() * 2000);
    } else {
      it.state = 'failed';
      it.error = e.message + (e.errcode ? ' (' + e.errcode + ')' : '');
    }
    state.outbox.put(it);
  }
  renderOutbox();
}

// convWith is the conversation id with peer, when there is one.
function convWith(peer) {
  const c = state.convs.get(peer);
  if (c) return c.conversation_id;
  return state.peer && state.peer.user_id === peer ? state.conv : null;
}

function flushOutbox() {
  if (!state.outbox) return;
  for (const it of state.outbox.list()) deliver(it);
}

$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text.trim() || !state.peer) return;
  // The message is in the outbox (localStorage) before anything is sent:
  // a closed socket, a reload or a refusal cannot lose it.
  const it = state.outbox.put({ txn_id: newTxnID(), to: state.peer.user_id, msg: text, state: 'pending', createdAt: Date.now(), e2ee: !!state.peerE2EE });
  $('text').value = '';
  renderOutbox();
  deliver(it);
});

$('text').addEventListener('input', () => {
  if (!state.peer || !state.sock) return;
  const to = state.peer.user_id;
  if (Date.now() - state.typingSent > 3000) {
    state.sock.send('typing', { to, typing: true });
    state.typingSent = Date.now();
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => { state.sock && state.sock.send('typing', { to, typing: false }); state.typingSent = 0; }, 4000);
});

$('file').addEventListener('change', async () => {
  const f = $('file').files[0];
  if (!f || !state.peer) return;
  const form = new FormData();
  form.append('to', state.peer.user_id);
  form.append('file', f, f.name);
  await sendUpload(form);
  $('file').value = '';
});

// Voice: MediaRecorder; a second press stops and sends.
let recorder = null;
$('record').addEventListener('click', async () => {
  if (recorder) { recorder.stop(); return; }
  if (!state.peer) return;
  const to = state.peer.user_id;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    $('chat-error').textContent = 'No microphone: ' + e.message;
    return;
  }
  const chunks = [];
  const started = Date.now();
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    clearInterval(tick);
    stream.getTracks().forEach((tr) => tr.stop());
    recorder = null;
    $('record').setAttribute('aria-pressed', 'false');
    $('recording').hidden = true;
    const type = (chunks[0] && chunks[0].type) || 'audio/webm';
    const form = new FormData();
    form.append('to', to);
    form.append('kind', 'voice');
    form.append('duration_ms', String(Date.now() - started));
    if ($('voice-expiry').value) form.append('expires_in', $('voice-expiry').value);
    if ($('voice-plays').value) form.append('max_plays', $('voice-plays').value);
    form.append('file', new Blob(chunks, { type }), 'voice.' + (type.includes('ogg') ? 'ogg' : 'webm'));
    await sendUpload(form);
  };
  const tick = setInterval(() => {
    $('recording').textContent = '● Recording ' + Math.round((Date.now() - started) / 1000) + ' s — press the microphone again to send';
  }, 250);
  $('recording').textContent = '● Recording…';
  $('recording').hidden = false;
  $('record').setAttribute('aria-pressed', 'true');
  recorder.start(250);
});

async function sendUpload(form) {
  const bar = $('upload-progress');
  bar.hidden = false;
  bar.value = 0;
  try {
    const res = await upload(form, (p) => { bar.value = Math.round(p * 100); });
    if (res.msg) { noteMessage(res.msg); show(res.msg); }
    $('chat-error').textContent = '';
  } catch (e) {
    $('chat-error').textContent = 'File not sent: ' + e.message;
  } finally {
    bar.hidden = true;
  }
}

// ---- receipts -------------------------------------------------------

// markRead coalesces read receipts: a replay of many messages sends one
// `read` per conversation (its highest seq), not one frame per message,
// which would spend the socket's frame budget (close 4003).
const pendingRead = new Map();
let readTimer = null;
function markRead(m) {
  if (!m || m.fromSelf) return;
  if ((pendingRead.get(m.conversation_id) || 0) < m.seq) pendingRead.set(m.conversation_id, m.seq);
  if (readTimer) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    for (const [conversation_id, seq] of pendingRead) state.sock && state.sock.send('read', { conversation_id, seq });
    pendingRead.clear();
  }, 250);
}

// receipts keeps the peer's highest delivered and read seq per
// conversation, so a message rendered after its receipt (ack after the
// receipt, a reopened conversation) still shows its ticks.
const receipts = new Map();
function showReceipt(r) {
  if (r.user_id === state.me.user_id) return;
  const k = receipts.get(r.conversation_id) || { delivered: 0, read: 0 };
  k[r.kind === 'read' ? 'read' : 'delivered'] = Math.max(k[r.kind === 'read' ? 'read' : 'delivered'], r.seq);
  if (r.kind === 'read') k.delivered = Math.max(k.delivered, r.seq);
  receipts.set(r.conversation_id, k);
  if (r.conversation_id === state.conv) applyTicks();
}

function applyTicks() {
  const k = receipts.get(state.conv);
  if (!k) return;
  for (const li of $('messages').querySelectorAll('li.mine[data-seq]')) {
    const seq = Number(li.dataset.seq);
    if (seq > k.delivered) continue;
    const tick = li.querySelector('.tick');
    if (!tick || tick.classList.contains('read')) continue;
    const read = seq <= k.read;
    tick.textContent = '✓✓';
    tick.classList.toggle('read', read);
    tick.setAttribute('aria-label', read ? 'read' : 'delivered');
  }
}

// ---- events ---------------------------------------------------------

// noteMessage keeps the conversation list current: last message, unread
// count, order.
function noteMessage(m) {
  const peerId = m.fromSelf ? m.to : m.from;
  let c = state.convs.get(peerId);
  if (!c) {
    c = { conversation_id: m.conversation_id, peer: state.users.get(peerId) || { user_id: peerId, username: peerId }, unread: 0, timer: null };
    state.convs.set(peerId, c);
    if (!state.users.has(peerId)) state.users.set(peerId, c.peer);
  }
  // The list from GET /api/conversations already counts everything up to
  // its last_seq: a replay of those messages must not count them again.
  if (m.seq <= (c.last_seq || 0)) return;
  c.last_message = m;
  c.last_seq = m.seq;
  if (!m.fromSelf && !withPeer(m)) c.unread = (c.unread || 0) + 1;
  if (!$('search').value) renderList(null);
}

let noticeTimer = null;
function notice(m) {
  const u = state.users.get(m.from);
  const n = $('notice');
  n.textContent = 'New message from ' + (u ? u.username : m.from) + ': ' + preview(m).slice(0, 80);
  n.dataset.from = m.from;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, 6000);
  if (document.hidden && 'Notification' in window && Notification.permission === 'granted') {
    new Notification('Crypt-Talk', { body: n.textContent });
  }
}
$('notice').addEventListener('click', () => { $('notice').hidden = true; });

let typingShown = null;
function onFrame(f) {
  const d = f.data || {};
  switch (f.event) {
    case 'msg-recieve':
    case 'file-recieve':
    case 'voice-recieve':
      noteMessage(d);
      show(d);
      if (withPeer(d)) markRead(d);
      else if (!d.fromSelf) notice(d);
      break;
    case 'user-connected':
    case 'user-disconnected': {
      const on = f.event === 'user-connected';
      if (on) state.online.add(d.user_id); else state.online.delete(d.user_id);
      for (const li of $('people').children) if (li.dataset.userId === d.user_id) li.classList.toggle('online', on);
      break;
    }
    case 'typing':
      if (state.peer && d.from === state.peer.user_id) {
        $('typing').textContent = d.typing ? state.peer.username + ' is typing…' : '';
        // A lost typing:false must not leave it forever (the server
        // repeats typing:true every 5 s while it holds).
        clearTimeout(typingShown);
        if (d.typing) typingShown = setTimeout(() => { $('typing').textContent = ''; }, 7000);
      }
      break;
    case 'receipt':
      showReceipt(d);
      break;
    case 'timer-changed':
      for (const c of state.convs.values()) if (c.conversation_id === d.conversation_id) c.timer = { seconds: d.seconds, mode: d.mode };
      if (d.conversation_id === state.conv) showTimer(d);
      break;
    case 'msg-deleted':
      for (const id of d.ids || []) {
        const li = $('messages').querySelector('li[data-id="' + CSS.escape(id) + '"]');
        if (li) li.remove();
        state.shown.delete(id);
      }
      break;
    case 'conversation-destroyed':
      if (d.conversation_id === state.conv) $('messages').replaceChildren();
      for (const [k, c] of state.convs) if (c.conversation_id === d.conversation_id) state.convs.delete(k);
      renderList(null);
      break;
    case 'error':
      $('chat-error').textContent = d.msg || 'error';
      break;
  }
}

initExtras(() => state.me);
e2ee.initDevices(() => state.me);
e2ee.initVerify(() => state.peer, () => state.conv);
$('viewer-close').addEventListener('click', () => $('viewer').close());
if (getToken()) start().catch(() => logout(false));
else showMode(false);
