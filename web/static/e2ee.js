// End-to-end encryption in the page: vodozemac and matrix-sdk-crypto as
// wasm (vendor/matrix-sdk-crypto-wasm, see scripts/vendor-crypto-wasm.sh),
// speaking the server's Matrix key API with the Crypt-Talk token. The
// server stores and relays only what this module hands it: public keys,
// Olm-encrypted to-device messages and Megolm ciphertext. app.js imports
// this module lazily, after login, so the login page never loads the wasm.
import * as sdk from './vendor/matrix-sdk-crypto-wasm/index.mjs';
import { getToken, ApiError } from './net.js';

const MX = '/_matrix/client/v3';
export const MEGOLM = 'm.megolm.v1.aes-sha2';

async function mx(method, path, body, signal) {
  const headers = { Authorization: 'Bearer ' + getToken() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(MX + path, { method, headers, body, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'CT_NETWORK', 'the server cannot be reached');
  }
  const text = await res.text();
  if (!res.ok) {
    let d = {};
    try { d = JSON.parse(text); } catch (e) { /* not JSON */ }
    throw new ApiError(res.status, d.errcode, d.error || d.msg);
  }
  return text;
}

const enc = encodeURIComponent;
// UserId arrays are consumed by the wasm side (it takes ownership): every
// call gets fresh objects.
const userIds = (ids) => ids.map((u) => new sdk.UserId(u));

// storeName names the IndexedDB databases of one device of one user
// (the library adds "::matrix-sdk-crypto" and "::matrix-sdk-crypto-meta").
const storeName = (user, device) => 'ct-e2ee:' + user + ':' + device;

// Crypto is one device's end-to-end state: its OlmMachine, the request
// loop and the /sync long-poll that brings to-device messages and
// device-list changes. hooks: onKeys() when new room keys may have
// arrived (retry what could not be decrypted).
export class Crypto {
  static async start(userId, hooks) {
    await sdk.initAsync();
    const who = JSON.parse(await mx('GET', '/account/whoami'));
    if (who.user_id !== userId) throw new Error('whoami answered ' + who.user_id);
    const c = new Crypto(userId, who.device_id, hooks);
    // A duplicated tab has the same token, so the same device: only one
    // tab may run its machine (two on one store would fork its sessions).
    if (navigator.locks && !(await c.lock())) throw new Error('another tab runs this device');
    // The store's passphrase: the library encrypts what it keeps in
    // IndexedDB with it. Kept in this origin's localStorage, so it guards
    // against a copied IndexedDB folder, not against script in the page.
    const pk = 'ct_e2ee_pass:' + userId + ':' + c.deviceId;
    let pass = localStorage.getItem(pk);
    if (!pass) {
      const b = new Uint8Array(32);
      crypto.getRandomValues(b);
      pass = btoa(String.fromCharCode(...b));
      localStorage.setItem(pk, pass);
    }
    c.machine = await sdk.OlmMachine.initialize(new sdk.UserId(userId), new sdk.DeviceId(c.deviceId), storeName(userId, c.deviceId), pass);
    // A failed first upload is not fatal: every sync flushes again.
    await c.flush().catch((e) => console.warn('e2ee: requests', e));
    c.syncLoop();
    return c;
  }

  constructor(userId, deviceId, hooks) {
    this.userId = userId;
    this.deviceId = deviceId;
    this.server = userId.slice(userId.indexOf(':') + 1);
    this.hooks = hooks || {};
    this.stopped = false;
    this.abort = new AbortController();
    this.sinceKey = 'ct_e2ee_since:' + userId + ':' + deviceId;
    this.since = localStorage.getItem(this.sinceKey) || '';
    this.queue = Promise.resolve(); // outgoing requests, one at a time
    this.rooms = new Map(); // room id -> promise of the last encryption
    this.joined = new Set();
  }

  roomOf(convId) { return convId + ':' + this.server; }

  // identity is this device's public ed25519 key, for the device list.
  identity() { return this.machine.identityKeys.ed25519.toBase64(); }

  stop() {
    this.stopped = true;
    this.abort.abort();
    if (this.unlock) this.unlock();
  }

  // lock holds the device's Web Lock until stop; false when another tab
  // holds it.
  lock() {
    return new Promise((resolve) => {
      navigator.locks.request(storeName(this.userId, this.deviceId), { ifAvailable: true }, (l) => {
        resolve(!!l);
        return l ? new Promise((release) => { this.unlock = release; }) : undefined;
      });
    });
  }

  // forget ends the device for good (logout deleted it on the server):
  // its keys and sessions leave this browser.
  async forget() {
    this.stop();
    try { this.machine.close(); } catch (e) { /* already closed */ }
    await forgetUser(this.userId);
  }

  // send does one outgoing request over HTTP and tells the machine.
  async send(req) {
    const T = sdk.RequestType;
    let res;
    switch (req.type) {
      case T.KeysUpload: res = await mx('POST', '/keys/upload', req.body); break;
      case T.KeysQuery: res = await mx('POST', '/keys/query', req.body); break;
      case T.KeysClaim: res = await mx('POST', '/keys/claim', req.body); break;
      case T.SignatureUpload: res = await mx('POST', '/keys/signatures/upload', req.body); break;
      case T.ToDevice: res = await mx('PUT', '/sendToDevice/' + enc(req.event_type) + '/' + enc(req.txn_id), req.body); break;
      case T.RoomMessage: res = await mx('PUT', '/rooms/' + enc(req.room_id) + '/send/' + enc(req.event_type) + '/' + enc(req.txn_id), req.body); break;
      default: return; // key backup: not offered (timed conversations must not be backed up)
    }
    if (req.id) await this.machine.markRequestAsSent(req.id, req.type, res);
  }

  // flush sends everything the machine has queued (key uploads, queries,
  // verification messages), one request at a time.
  flush() {
    return this.serial(async () => {
      for (let round = 0; round < 5; round++) {
        const reqs = await this.machine.outgoingRequests();
        if (!reqs.length) return;
        for (const r of reqs) await this.send(r);
      }
    });
  }

  // serial runs fn after every request already queued, failed or not, so
  // two callers never send the same queued request twice.
  serial(fn) {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  async syncLoop() {
    let delay = 1000;
    while (!this.stopped) {
      try {
        const q = '?timeout=' + (this.since ? 30000 : 0) + (this.since ? '&since=' + enc(this.since) : '');
        const r = JSON.parse(await mx('GET', '/sync' + q, undefined, this.abort.signal));
        if (this.stopped) return;
        await this.receive(r);
        this.since = r.next_batch;
        localStorage.setItem(this.sinceKey, this.since);
        delay = 1000;
      } catch (e) {
        if (this.stopped) return;
        if (e.status === 401) { this.stop(); return; }
        await new Promise((res) => setTimeout(res, delay));
        delay = Math.min(15000, delay * 2);
      }
    }
  }

  async receive(r) {
    const toDevice = (r.to_device && r.to_device.events) || [];
    const lists = r.device_lists || {};
    const counts = new Map(Object.entries(r.device_one_time_keys_count || {}));
    const fallback = new Set(r.device_unused_fallback_key_types || []);
    const processed = await this.machine.receiveSyncChanges(JSON.stringify(toDevice),
      new sdk.DeviceLists(userIds(lists.changed || []), userIds(lists.left || [])), counts, fallback);
    await this.flush();
    if (toDevice.length && this.hooks.onKeys) this.hooks.onKeys();
    if ((lists.changed || []).length && this.hooks.onDevices) this.hooks.onDevices(lists.changed);
    for (const p of processed || []) {
      if (!p.rawEvent) continue;
      const ev = JSON.parse(p.rawEvent);
      if (ev.type !== 'm.key.verification.request' || !ev.content) continue;
      const req = this.machine.getVerificationRequest(new sdk.UserId(ev.sender), String(ev.content.transaction_id));
      if (req && this.hooks.onVerification) this.hooks.onVerification(req);
    }
  }

  // ---- emoji verification (SAS) of another user's device ----------------

  // verifyDevice asks a device of peer (deviceId, else the first one not
  // verified yet) for an emoji verification; the answer is a
  // VerificationRequest. peer may be ourselves: a new device of our own.
  async verifyDevice(peer, deviceId) {
    await this.machine.updateTrackedUsers(userIds([peer]));
    await this.flush();
    const devices = (await this.machine.getUserDevices(new sdk.UserId(peer), 5)).devices()
      .filter((d) => !(peer === this.userId && d.deviceId.toString() === this.deviceId));
    const dev = deviceId ? devices.find((d) => d.deviceId.toString() === deviceId) : devices.find((d) => !d.isVerified()) || devices[0];
    if (!dev) throw new Error(deviceId ? 'device ' + deviceId + ' has no keys' : peer + ' has no device with keys');
    const [req, out] = dev.requestVerification([sdk.VerificationMethod.SasV1]);
    await this.out(out);
    return req;
  }

  // out sends a request a verification step returned (these are not in
  // outgoingRequests).
  async out(req) {
    if (!req) return;
    for (const r of Array.isArray(req) ? req : [req]) await this.serial(() => this.send(r));
  }

  accept(req) { return this.out(req.acceptWithMethods([sdk.VerificationMethod.SasV1])); }

  // startSas starts the emoji flow once the other side accepted.
  async startSas(req) {
    const r = await req.startSas();
    if (!r) return null;
    await this.out(r[1]);
    return r[0];
  }

  // trust says how far peer's devices (those with keys) are verified:
  // how many are, and the ids of those that are not.
  async trust(peer) {
    await this.machine.updateTrackedUsers(userIds([peer]));
    await this.flush();
    const devices = (await this.machine.getUserDevices(new sdk.UserId(peer), 5)).devices();
    const unverified = devices.filter((d) => !d.isVerified()).map((d) => d.deviceId.toString());
    return { verified: devices.length - unverified.length, unverified };
  }

  // peerHasKeys reports whether userId has a device with uploaded keys
  // (a new DM with them is end-to-end by default).
  async peerHasKeys(userId) {
    const r = JSON.parse(await mx('POST', '/keys/query', JSON.stringify({ device_keys: { [userId]: [] } })));
    return Object.keys((r.device_keys || {})[userId] || {}).length > 0;
  }

  // openE2EE makes (or finds) the DM with peer and turns end-to-end
  // encryption on in it for good; it answers the conversation id.
  async openE2EE(peer) {
    const r = JSON.parse(await mx('POST', '/createRoom', JSON.stringify({
      invite: [peer], is_direct: true, preset: 'trusted_private_chat',
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: MEGOLM } }],
    })));
    this.joined.add(r.room_id);
    return r.room_id.slice(0, r.room_id.lastIndexOf(':' + this.server));
  }

  // enable turns end-to-end encryption on in an existing conversation.
  async enable(convId) {
    const room = this.roomOf(convId);
    await this.join(room);
    await mx('PUT', '/rooms/' + enc(room) + '/state/m.room.encryption', JSON.stringify({ algorithm: MEGOLM }));
  }

  // isE2EE asks the server whether the conversation has the flag.
  async isE2EE(convId) {
    const room = this.roomOf(convId);
    await this.join(room);
    try {
      await mx('GET', '/rooms/' + enc(room) + '/state/m.room.encryption');
      return true;
    } catch (e) {
      if (e.status === 404) return false;
      throw e;
    }
  }

  // join accepts the invite a Matrix createRoom left (a no-op when the
  // caller is in the room already), so the room's Matrix routes take us.
  async join(room) {
    if (this.joined.has(room)) return;
    await mx('POST', '/rooms/' + enc(room) + '/join', '{}');
    this.joined.add(room);
  }

  // share makes sure every device of the peer and of ourselves has the
  // room's current Megolm key: query their devices, claim one-time keys
  // for devices without an Olm session, send the key over Olm.
  async share(room, peer) {
    const users = [peer, this.userId];
    await this.machine.updateTrackedUsers(userIds(users));
    await this.flush(); // the key query for users not seen before
    await this.serial(async () => {
      const claim = await this.machine.getMissingSessions(userIds(users));
      if (claim) await this.send(claim);
      const settings = new sdk.EncryptionSettings();
      const reqs = await this.machine.shareRoomKey(new sdk.RoomId(room), userIds(users), settings);
      for (const r of reqs) await this.send(r);
    });
  }

  // sendText encrypts a text message for the conversation and stores it
  // on the server; the same txn (an outbox retry) is stored once.
  async sendText(convId, peer, text, txn) {
    const room = this.roomOf(convId);
    await this.join(room);
    // Encryptions of one room in order: a second message waits for the
    // first's key share instead of sharing again.
    const prev = this.rooms.get(room) || Promise.resolve();
    const mine = prev.catch(() => {}).then(async () => {
      await this.share(room, peer);
      const content = JSON.stringify({ msgtype: 'm.text', body: text });
      return this.machine.encryptRoomEvent(new sdk.RoomId(room), 'm.room.message', content);
    });
    this.rooms.set(room, mine);
    const body = await mine;
    return JSON.parse(await mx('PUT', '/rooms/' + enc(room) + '/send/m.room.encrypted/' + enc(txn), body));
  }

  // decrypt opens a stored encrypted message (m.message holds the
  // m.room.encrypted content). It answers {body} or throws; a missing
  // room key throws with code 'MissingRoomKey' (retried on new keys).
  async decrypt(m) {
    const room = this.roomOf(m.conversation_id);
    const ev = JSON.stringify({
      type: 'm.room.encrypted', event_id: '$' + m._id, sender: m.from, room_id: room,
      origin_server_ts: Date.parse(m.createdAt) || 0, content: JSON.parse(m.message),
    });
    const d = await this.machine.decryptRoomEvent(ev, new sdk.RoomId(room), new sdk.DecryptionSettings(sdk.TrustRequirement.Untrusted));
    // The session's owner, not the server's "from", says who wrote it.
    if (d.sender.toString() !== m.from) throw new Error('the message was encrypted by ' + d.sender.toString() + ', not ' + m.from);
    const inner = JSON.parse(d.event);
    if (inner.type !== 'm.room.message' || !inner.content || typeof inner.content.body !== 'string') throw new Error('not a text message');
    return { body: inner.content.body, msgtype: inner.content.msgtype };
  }
}

// forgetUser removes every device store and setting of userId from this
// browser (also of a start that failed half way).
export async function forgetUser(userId) {
  for (const k of Object.keys(localStorage)) {
    if (k.startsWith('ct_e2ee_') && k.includes(':' + userId)) localStorage.removeItem(k);
  }
  const prefix = storeName(userId, '');
  const dbs = indexedDB.databases ? await indexedDB.databases().catch(() => []) : [];
  for (const db of dbs) if (db.name && db.name.startsWith(prefix)) indexedDB.deleteDatabase(db.name);
}
