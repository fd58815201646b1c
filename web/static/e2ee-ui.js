// The end-to-end parts of the page: starting the crypto module after login,
// the conversation's badge, decrypting messages into their placeholders
// (and again when keys arrive), sending encrypted text, and the device
// list. The wasm loads only here, lazily (import() after login).
import { api } from './net.js';
import { el } from './render.js';

const $ = (id) => document.getElementById(id);
// The text of the system message that turns the flag on (chat.E2EEOnText).
export const E2EE_ON_TEXT = 'end-to-end encryption turned on';

let cur = null;          // the Crypto of e2ee.js once started
let ready = null;        // promise of it
let failed = '';         // why it did not start
const e2eeConvs = new Set();     // conversation ids with the flag
const peerKeys = new Map();      // user id -> promise of "has a device with keys"
const plain = new Map();         // message id -> decrypted {body}
const root = document.documentElement;

// newE2EE: whether a new DM is end-to-end when the peer has keys. Off
// until attachments can be encrypted too: an end-to-end conversation takes
// no plaintext file, so turning it on by default would take files away.
const prefKey = (user) => 'ct_e2ee_new:' + user;
export function newE2EE(user) { return localStorage.getItem(prefKey(user)) === 'on'; }

// startCrypto loads the library and opens this device's keys; the page
// works without it (conversations encrypted on the server).
export function startCrypto(me, onKeys) {
  failed = '';
  root.dataset.e2ee = 'starting';
  const t0 = performance.now();
  const p = import('./e2ee.js')
    .then((m) => m.Crypto.start(me.user_id, { onKeys, onVerification: incoming, onDevices: () => refreshTrust() }))
    .then((c) => {
      // A logout while it started: stopCrypto has it from the promise.
      if (ready === p) {
        cur = c;
        root.dataset.e2ee = 'ready';
        root.dataset.e2eeMs = String(Math.round(performance.now() - t0)); // load, compile, open keys, upload
      }
      return c;
    })
    .catch((e) => {
      if (ready === p) {
        failed = e.message || String(e);
        root.dataset.e2ee = 'failed';
      }
      console.warn('end-to-end encryption unavailable:', e);
      return null;
    });
  ready = p;
  return p;
}

// stopCrypto: forget is true for a logout on purpose (the server deleted
// the device: its keys leave this browser too).
export async function stopCrypto(forget, me) {
  const was = ready;
  const had = cur;
  cur = null;
  ready = null;
  if (forget && me) {
    for (const k of Object.keys(localStorage)) {
      if (k.startsWith('ct_e2ee_') && k.includes(':' + me.user_id)) localStorage.removeItem(k);
    }
  }
  e2eeConvs.clear();
  peerKeys.clear();
  plain.clear();
  delete root.dataset.e2ee;
  const c = had || (was && await was);
  if (c) { if (forget) await c.forget(); else c.stop(); }
  else if (forget && me) await import('./e2ee.js').then((m) => m.forgetUser(me.user_id)).catch(() => {});
}

export const isE2EE = (convId) => !!convId && e2eeConvs.has(convId);

// note learns the flag from what passes by: the system message that turns
// it on, or any encrypted message.
export function note(m) {
  if (m.type === 'encrypted' || (m.type === 'system' && m.message === E2EE_ON_TEXT)) e2eeConvs.add(m.conversation_id);
}

export function markE2EE(convId) { if (convId) e2eeConvs.add(convId); }

function hasKeys(peer) {
  if (!peerKeys.has(peer)) {
    const p = (ready || Promise.resolve(null)).then((c) => (c ? c.peerHasKeys(peer) : false)).catch(() => false);
    // Only a yes is kept: a peer may log in with a new device later.
    p.then((yes) => { if (!yes && peerKeys.get(peer) === p) peerKeys.delete(peer); });
    peerKeys.set(peer, p);
  }
  return peerKeys.get(peer);
}

// decide answers whether the conversation with peer is (or, not started
// yet, will be) end-to-end, asking the server when it is not known.
export async function decide(me, peer, convId) {
  if (convId) {
    if (e2eeConvs.has(convId)) return true;
    const c = await ready;
    if (!c) return false;
    if (await c.isE2EE(convId).catch(() => false)) e2eeConvs.add(convId);
    return e2eeConvs.has(convId);
  }
  return newE2EE(me) && hasKeys(peer);
}

// badge shows which protection the open conversation has.
export function badge(kind) {
  $('verify-button').hidden = kind !== 'e2ee' || !cur;
  const b = $('e2ee-badge');
  if (b.dataset.kind === (kind || '') && !b.hidden === !!kind) return; // every shown message says it again
  b.hidden = !kind;
  b.dataset.kind = kind || '';
  trustShown(null, null);
  if (kind === 'e2ee') {
    b.textContent = '🔒 end-to-end';
    b.title = 'End-to-end encrypted: only the devices of the two of you can read it, not the server.';
    refreshTrust();
  } else if (kind === 'server') {
    b.textContent = 'encrypted on server';
    b.title = 'Encrypted at rest on the server: the server can read it.';
  }
  offerTurnOn(kind);
}

// offerTurnOn shows "Turn on end-to-end" in a conversation encrypted on
// the server when the peer has a device with keys. It is one way, so it
// takes a second press to confirm.
async function offerTurnOn(kind) {
  const btn = $('e2ee-on');
  disarm();
  btn.hidden = true;
  const peer = getPeer();
  if (kind !== 'server' || !peer || !cur || !getConv()) return;
  if (await hasKeys(peer.user_id) && getPeer() === peer && $('e2ee-badge').dataset.kind === 'server') btn.hidden = false;
}

export function offer() { offerTurnOn($('e2ee-badge').dataset.kind); }

let armTimer = null;
function disarm() {
  clearTimeout(armTimer);
  $('e2ee-on').dataset.armed = '';
  $('e2ee-on').textContent = 'Turn on end-to-end';
}

async function turnOn() {
  const btn = $('e2ee-on');
  if (btn.dataset.armed !== '1') {
    btn.dataset.armed = '1';
    btn.textContent = 'Confirm: it cannot be turned off';
    armTimer = setTimeout(disarm, 6000);
    return;
  }
  disarm();
  const conv = getConv();
  if (!conv || !cur) return;
  btn.disabled = true;
  try {
    await cur.enable(conv);
    e2eeConvs.add(conv);
    badge('e2ee');
  } catch (e) {
    $('chat-error').textContent = 'End-to-end not turned on: ' + e.message;
  } finally {
    btn.disabled = false;
  }
}

// refreshTrust shows whether the open end-to-end conversation's peer
// has devices verified here, and warns when a device appeared next to a
// verified one (the server, or someone with the password, may have added
// it).
let getPeer = () => null;
let getConv = () => null;
async function refreshTrust() {
  const peer = getPeer();
  if (!peer || !cur || $('e2ee-badge').dataset.kind !== 'e2ee') return;
  try {
    const t = await cur.trust(peer.user_id);
    if (getPeer() === peer) trustShown(peer, t);
  } catch (e) {
    console.warn('e2ee: devices of', peer.user_id, e);
  }
}

function trustShown(peer, t) {
  const b = $('e2ee-badge');
  const w = $('e2ee-warning');
  b.dataset.trust = '';
  w.hidden = true;
  if (!peer || !t || !t.verified) return;
  if (!t.unverified.length) {
    b.dataset.trust = 'verified';
    b.textContent = '🔒 end-to-end · verified';
    return;
  }
  b.dataset.trust = 'warning';
  b.textContent = '🔒 end-to-end · ⚠ new device';
  w.textContent = '⚠ ' + peer.username + ' has a device you have not verified (' + t.unverified.join(', ') +
    '), next to one you verified. Messages go to it too: verify it, or ask ' + peer.username + ' whether it is theirs.';
  w.hidden = false;
}

// sendText encrypts and stores one outbox entry; convId is null for a
// new DM, which is made end-to-end first. It answers the conversation id.
export async function sendText(it, convId) {
  const c = await ready;
  if (!c) throw new Error('end-to-end encryption is not available in this browser' + (failed ? ': ' + failed : ''));
  if (!convId) convId = await c.openE2EE(it.to);
  e2eeConvs.add(convId);
  await c.sendText(convId, it.to, it.msg, it.txn_id);
  return convId;
}

// decryptInto fills an encrypted message's placeholder; without the key
// yet it says so and is tried again when keys arrive (retry).
export async function decryptInto(li, m) {
  const text = li.querySelector('.text');
  if (!text) return;
  const done = plain.get(m._id);
  if (done) { reveal(li, text, done.body); return; }
  const c = await ready;
  if (!c) { waiting(li, text, 'This browser cannot decrypt end-to-end messages.'); return; }
  try {
    const d = await c.decrypt(m);
    plain.set(m._id, d);
    reveal(li, text, d.body);
  } catch (e) {
    waiting(li, text, '🔒 Waiting for the key to decrypt this message', e.message);
  }
}

function reveal(li, text, body) {
  text.textContent = body;
  li.classList.remove('utd');
  li.dataset.decrypted = '1';
}

function waiting(li, text, why, detail) {
  text.textContent = why;
  text.title = detail || '';
  li.classList.add('utd');
}

// retry decrypts again what is waiting for a key.
export function retry() {
  for (const li of document.querySelectorAll('#messages li.utd')) if (li.message) decryptInto(li, li.message);
}

// preview of an encrypted message for the list and notices.
export function previewOf(m) {
  const d = plain.get(m._id);
  return d ? d.body : '🔒 encrypted message';
}

// ---- devices ----------------------------------------------------------

export function initDevices(getMe) {
  $('devices-button').addEventListener('click', async () => {
    const me = getMe();
    if (!me) return;
    $('e2ee-new').checked = newE2EE(me.user_id);
    $('devices-error').textContent = '';
    $('devices-dialog').showModal();
    await listDevices();
  });
  $('devices-close').addEventListener('click', () => $('devices-dialog').close());
  $('e2ee-new').addEventListener('change', () => {
    const me = getMe();
    if (me) localStorage.setItem(prefKey(me.user_id), $('e2ee-new').checked ? 'on' : 'off');
  });
}

async function listDevices() {
  const list = $('devices-list');
  list.replaceChildren();
  const c = cur;
  $('e2ee-identity').textContent = c
    ? 'This device (' + c.deviceId + ') signs with key ' + c.identity().replace(/(.{4})/g, '$1 ').trim()
    : 'End-to-end encryption is not running in this browser' + (failed ? ': ' + failed : '.');
  try {
    const ds = await api('GET', '/api/devices');
    for (const d of ds) {
      const li = el('li', d.current ? 'current' : '');
      li.dataset.deviceId = d.device_id;
      li.append(el('span', 'name', d.display_name || d.device_id));
      li.append(el('span', 'muted', ' ' + d.device_id + (d.current ? ' · this browser' : '') +
        (d.last_seen_at ? ' · last seen ' + new Date(d.last_seen_at).toLocaleString() : '')));
      if (!d.current && c) {
        // One's own new device is verified like anyone's: emoji on both.
        const b = el('button', 'verify-own', 'Verify');
        b.type = 'button';
        b.setAttribute('aria-label', 'Verify device ' + d.device_id);
        b.addEventListener('click', () => {
          $('devices-dialog').close();
          startVerify('Verify your device ' + d.device_id, () => cur.verifyDevice(c.userId, d.device_id));
        });
        li.append(' ', b);
      }
      list.append(li);
    }
  } catch (e) {
    $('devices-error').textContent = 'Devices not loaded: ' + e.message;
  }
}

// ---- emoji verification ---------------------------------------------------

let flow = null; // {req, sas, busy}

export function initVerify(peerOf, convOf) {
  getPeer = peerOf;
  getConv = convOf;
  $('e2ee-on').addEventListener('click', turnOn);
  $('verify-button').addEventListener('click', async () => {
    const peer = getPeer();
    if (!peer || !cur) return;
    startVerify('Verify ' + peer.username, () => cur.verifyDevice(peer.user_id));
  });
  $('verify-accept').addEventListener('click', () => guard(async () => {
    $('verify-accept').hidden = true;
    await cur.accept(flow.req);
  }));
  $('verify-match').addEventListener('click', () => guard(async () => {
    $('verify-match').hidden = $('verify-mismatch').hidden = true;
    setVerify('Waiting for the other device to confirm…', 'confirmed');
    await cur.out(await flow.sas.confirm());
  }));
  $('verify-mismatch').addEventListener('click', () => guard(async () => {
    await cur.out(flow.sas.cancelWithCode('m.mismatched_sas'));
  }));
  $('verify-close').addEventListener('click', () => {
    const f = flow;
    flow = null;
    $('verify-dialog').close();
    if (f && cur && !f.req.isDone() && !f.req.isCancelled()) cur.out(f.req.cancel()).catch(() => {});
  });
}

async function startVerify(title, ask) {
  openVerify(title, 'Asking the other device…', 'waiting');
  try {
    track(await ask());
  } catch (e) {
    setVerify('Verification not started: ' + e.message, 'cancelled');
  }
}

// guard runs a step of the flow; a failure ends it on screen, not as an
// uncaught error.
async function guard(fn) {
  if (!flow || !cur) return;
  try { await fn(); } catch (e) { setVerify('Verification failed: ' + e.message, 'cancelled'); }
}

function openVerify(title, status, state) {
  $('verify-title').textContent = title;
  $('verify-emoji').replaceChildren();
  for (const id of ['verify-accept', 'verify-match', 'verify-mismatch']) $(id).hidden = true;
  setVerify(status, state);
  const d = $('verify-dialog');
  if (!d.open) d.showModal();
}

function setVerify(text, state) {
  $('verify-status').textContent = text;
  $('verify-dialog').dataset.state = state;
}

// incoming: another device asks this one to verify.
function incoming(req) {
  if (flow && !flow.req.isDone() && !flow.req.isCancelled()) return; // one at a time
  openVerify('Verification request', req.otherUserId.toString() + ' wants to verify this device with emoji.', 'incoming');
  $('verify-accept').hidden = false;
  track(req);
}

function track(req) {
  flow = { req, sas: null, busy: false };
  req.registerChangesCallback(async () => step(req));
  step(req);
}

async function step(req) {
  if (!flow || flow.req !== req || flow.busy) return;
  flow.busy = true;
  try {
    await advance(req);
  } catch (e) {
    setVerify('Verification failed: ' + e.message, 'cancelled');
  } finally {
    if (flow) flow.busy = false;
  }
}

async function advance(req) {
  if (req.isCancelled()) {
    const why = req.cancelInfo ? req.cancelInfo.reason : '';
    for (const id of ['verify-accept', 'verify-match', 'verify-mismatch']) $(id).hidden = true;
    setVerify('Verification cancelled' + (why ? ': ' + why : '.'), 'cancelled');
    return;
  }
  if (req.isDone()) {
    for (const id of ['verify-accept', 'verify-match', 'verify-mismatch']) $(id).hidden = true;
    setVerify('✓ Verified: ' + req.otherUserId.toString() + "'s device " + (req.otherDeviceId ? req.otherDeviceId.toString() : '') + ' is the one you compared.', 'done');
    refreshTrust();
    return;
  }
  if (req.isReady() && req.weStarted() && !flow.sas) {
    flow.sas = await cur.startSas(req);
    if (flow.sas) flow.sas.registerChangesCallback(async () => step(req));
  }
  const v = req.getVerification();
  if (!flow.sas && v && typeof v.emoji === 'function') {
    flow.sas = v;
    v.registerChangesCallback(async () => step(req));
    if (!v.weStarted()) await cur.out(v.accept());
  }
  const sas = flow.sas;
  if (!sas) {
    if (req.weStarted()) setVerify('Waiting for the other device to accept…', 'waiting');
    return;
  }
  if (sas.haveWeConfirmed()) return;
  const emoji = sas.canBePresented() && sas.emoji();
  if (emoji && !$('verify-emoji').children.length) {
    for (const e of emoji) {
      const li = el('li', 'emoji-sas');
      li.append(el('span', 'symbol', e.symbol), el('span', 'desc', e.description));
      $('verify-emoji').append(li);
    }
    $('verify-match').hidden = $('verify-mismatch').hidden = false;
    setVerify('Compare: the other screen must show the same emoji in the same order.', 'emoji');
  }
}
