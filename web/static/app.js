// Crypt-Talk web client: plain JavaScript, no build step. Every text from
// the server is set with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('ct_token'),
  me: null,
  peer: null,
  ws: null,
  since: {},        // conversation_id -> highest seq seen, for replay on reconnect
  shown: new Set(), // message ids on screen
  nextId: 1,
  typingSent: 0,
  typingTimer: null,
};

async function api(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.msg || 'HTTP ' + res.status);
  return data;
}

async function authenticate(register) {
  $('auth-error').textContent = '';
  const body = { username: $('username').value.trim(), password: $('password').value };
  if (register) body.email = $('email').value.trim();
  try {
    const data = await api('POST', register ? '/api/auth/register' : '/api/auth/login', body);
    state.token = data.token;
    sessionStorage.setItem('ct_token', data.token);
    await start();
  } catch (e) {
    $('auth-error').textContent = e.message;
  }
}

async function start() {
  const data = await api('GET', '/api/auth/me');
  state.me = data.user;
  $('auth').hidden = true;
  $('chat').hidden = false;
  $('me').textContent = state.me.username;
  await loadPeople('');
  connect();
}

async function loadPeople(q) {
  const users = await api('GET', '/api/auth/allusers/' + encodeURIComponent(state.me._id) + '?q=' + encodeURIComponent(q));
  const list = $('people');
  list.replaceChildren();
  for (const u of users) {
    const li = document.createElement('li');
    li.dataset.userId = u.user_id;
    li.className = u.online ? 'online' : '';
    const dot = document.createElement('span');
    dot.className = 'dot';
    li.append(dot, document.createTextNode(u.username));
    li.addEventListener('click', () => openPeer(u));
    list.append(li);
  }
}

async function openPeer(u) {
  state.peer = u;
  state.shown.clear();
  for (const li of $('people').children) li.classList.toggle('active', li.dataset.userId === u.user_id);
  $('peer-name').textContent = u.username;
  $('messages').replaceChildren();
  $('text').disabled = false;
  $('send').disabled = false;
  const msgs = await api('POST', '/api/messages/getmsg', { to: u.user_id, limit: 50 });
  msgs.forEach(show);
  markRead(msgs[msgs.length - 1]);
}

function withPeer(m) {
  return state.peer && (m.from === state.peer.user_id || m.to === state.peer.user_id);
}

function show(m) {
  state.since[m.conversation_id] = Math.max(state.since[m.conversation_id] || 0, m.seq);
  if (!withPeer(m) || state.shown.has(m._id)) return;
  state.shown.add(m._id);
  const li = document.createElement('li');
  li.dataset.seq = m.seq;
  if (m.fromSelf) li.className = 'mine';
  li.textContent = m.file ? '[' + m.type + '] ' + m.file.filename : m.message;
  $('messages').append(li);
  li.scrollIntoView({ block: 'end' });
}

// newTxnID makes a send idempotent across a retried frame; it needs no
// secure context (crypto.randomUUID does).
function newTxnID() {
  return Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
}

function send(event, data) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify({ event, data, id: String(state.nextId++) }));
  }
}

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
    for (const [conversation_id, seq] of pendingRead) send('read', { conversation_id, seq });
    pendingRead.clear();
  }, 250);
}

function setOnline(userId, online) {
  for (const li of $('people').children) {
    if (li.dataset.userId === userId) li.classList.toggle('online', online);
  }
}

function onFrame(f) {
  switch (f.event) {
    case 'msg-recieve':
    case 'file-recieve':
    case 'voice-recieve':
      show(f.data);
      if (withPeer(f.data)) markRead(f.data);
      break;
    case 'user-connected':
      setOnline(f.data.user_id, true);
      break;
    case 'user-disconnected':
      setOnline(f.data.user_id, false);
      break;
    case 'typing':
      if (state.peer && f.data.from === state.peer.user_id) {
        $('typing').textContent = f.data.typing ? state.peer.username + ' is typing…' : '';
      }
      break;
    case 'conversation-destroyed':
    case 'msg-deleted':
      if (state.peer) openPeer(state.peer);
      break;
    case 'error':
      $('chat-error').textContent = f.data.msg;
      break;
  }
}

function connect() {
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ event: 'auth', data: { token: state.token, since: state.since } }));
  ws.onmessage = (e) => {
    try { onFrame(JSON.parse(e.data)); } catch (err) { console.error(err); }
  };
  ws.onclose = (e) => {
    if (e.code === 4001) return logout(false);
    setTimeout(connect, 1000); // resume with since: nothing missed
  };
}

async function logout(callServer) {
  if (callServer) await api('POST', '/api/auth/logout').catch(() => {});
  sessionStorage.removeItem('ct_token');
  location.reload();
}

$('auth-form').addEventListener('submit', (e) => { e.preventDefault(); authenticate(false); });
$('register').addEventListener('click', () => authenticate(true));
$('logout').addEventListener('click', () => logout(true));
$('search').addEventListener('input', (e) => loadPeople(e.target.value));
$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text || !state.peer) return;
  send('send-msg', { to: state.peer.user_id, msg: text, txn_id: newTxnID() });
  $('text').value = '';
});
$('text').addEventListener('input', () => {
  if (!state.peer) return;
  if (Date.now() - state.typingSent > 2000) {
    send('typing', { to: state.peer.user_id, typing: true });
    state.typingSent = Date.now();
  }
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => send('typing', { to: state.peer.user_id, typing: false }), 3000);
});

if (state.token) start().catch(() => logout(false));
