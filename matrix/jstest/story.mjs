// The matrix-js-sdk story against a running node: two users sign in,
// reach sync state PREPARED, one opens a DM with the other, who joins, and
// both see each other's message. Run by test/e2e TestMatrixJSSDK with
// MX_BASE, MX_DIR (where matrix-js-sdk is installed), MX_A, MX_B (user
// names) and MX_PASS.
import { pathToFileURL } from "node:url";

// js-sdk 43 targets Node 22; Node 20 lacks only this.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  };
}

const { MX_BASE: baseUrl, MX_DIR: dir, MX_A: userA, MX_B: userB, MX_PASS: pass } = process.env;
const sdk = await import(pathToFileURL(`${dir}/node_modules/matrix-js-sdk/lib/index.js`).href);
sdk.logger?.setLevel?.("warn");

const fail = (msg) => { console.error(`matrix-js-sdk story: FAIL: ${msg}`); process.exit(1); };
setTimeout(() => fail("timed out"), 60_000).unref();

function waitFor(what, cond) {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (cond()) { clearInterval(t); resolve(); }
    }, 50);
    setTimeout(() => { clearInterval(t); fail(`never: ${what}`); }, 30_000).unref();
  });
}

async function signIn(user) {
  const anon = sdk.createClient({ baseUrl });
  const r = await anon.loginWithPassword(user, pass); // the deprecated top-level "user"
  const c = sdk.createClient({ baseUrl, accessToken: r.access_token, userId: r.user_id, deviceId: r.device_id });
  const prepared = new Promise((resolve) => {
    c.on(sdk.ClientEvent.Sync, (state) => { if (state === "PREPARED") resolve(); });
  });
  await c.startClient({ initialSyncLimit: 10 });
  await prepared;
  return c;
}

const saw = (c, roomId, text) => () =>
  (c.getRoom(roomId)?.getLiveTimeline().getEvents() ?? []).some((e) => e.getContent()?.body === text);

const a = await signIn(userA);
const b = await signIn(userB);
console.log("both clients PREPARED");
const { room_id: roomId } = await a.createRoom({ invite: [b.getUserId()], is_direct: true, preset: "trusted_private_chat" });
await waitFor("bob is invited", () => b.getRoom(roomId)?.getMyMembership() === "invite");
await b.joinRoom(roomId);
await waitFor("bob has joined", () => b.getRoom(roomId)?.getMyMembership() === "join");
await a.sendTextMessage(roomId, "hello from js-sdk alice");
await waitFor("bob sees alice's message", saw(b, roomId, "hello from js-sdk alice"));
await b.sendTextMessage(roomId, "hello from js-sdk bob");
await waitFor("alice sees bob's message", saw(a, roomId, "hello from js-sdk bob"));
a.stopClient();
b.stopClient();
console.log(`matrix-js-sdk story: ok ${roomId}`);
process.exit(0);
