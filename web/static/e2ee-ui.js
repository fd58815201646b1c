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
  ready = import('./e2ee.js')
    .then((m) => m.Crypto.start(me.user_id, { onKeys }))
    .then((c) => { cur = c; root.dataset.e2ee = 'ready'; return c; })
    .catch((e) => {
      failed = e.message || String(e);
      root.dataset.e2ee = 'failed';
      console.warn('end-to-end encryption unavailable:', e);
      return null;
    });
  return ready;
}

// stopCrypto: forget is true for a logout on purpose (the server deleted
// the device: its keys leave this browser too).
export async function stopCrypto(forget, me) {
  const c = cur || (ready && await ready);
  cur = null;
  ready = null;
  e2eeConvs.clear();
  peerKeys.clear();
  plain.clear();
  delete root.dataset.e2ee;
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
    peerKeys.set(peer, (ready || Promise.resolve(null)).then((c) => (c ? c.peerHasKeys(peer) : false)).catch(() => false));
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
  const b = $('e2ee-badge');
  b.hidden = !kind;
  b.dataset.kind = kind || '';
  if (kind === 'e2ee') {
    b.textContent = '🔒 end-to-end';
    b.title = 'End-to-end encrypted: only the devices of the two of you can read it, not the server.';
  } else if (kind === 'server') {
    b.textContent = 'encrypted on server';
    b.title = 'Encrypted at rest on the server: the server can read it.';
  }
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
      list.append(li);
    }
  } catch (e) {
    $('devices-error').textContent = 'Devices not loaded: ' + e.message;
  }
}
