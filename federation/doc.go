// Package federation is server-to-server Crypt-Talk, Matrix-style:
// servers trust each other through ed25519 signatures, not configuration.
//
// What is here (docs/FEDERATION.md is the protocol text):
//
//   - events: SignEvent builds, hashes and signs one; Verifier.VerifyEvent
//     checks an inbound one (canonical JSON, size, sender of the origin,
//     recipient local, conversation id, clock, content hash, signature
//     with a key valid at the event's time, event id);
//   - requests: SignRequest makes the X-CryptTalk Authorization header,
//     Verifier.VerifyRequest checks one (origin owns the key, destination
//     is us, key valid now within MaxSkew);
//   - key documents: BuildServerKeys serves GET /_crypttalk/key/v1/server,
//     ParseServerKeys checks a fetched one, StaticKeys holds keys;
//   - transactions: BuildTransaction, Verifier.ParseTransaction (envelope)
//     and Verifier.VerifyTransactionEvent (an event of the txn's origin);
//   - ids: DMConversationID, ServerOf, ValidTxnID;
//   - canonical JSON in the subpackage canonicaljson.
//
// Refusals are *Error values carrying an HTTP status, an errcode and one
// of the Err* reasons. The signing key itself lives in vault.
//
// The running part (issue 10):
//
//   - Node (node.go): New(Options), Start/Stop, Routes (inbound.go: the key
//     document, PUT /send/{txnId} with per-origin limit, dedupe by (origin,
//     txnId) and per-event results, /query/profile), and chat.Outbound
//     (Wake, Ephemeral, QueryProfile);
//   - the sender per destination (sender.go): lease, batches of 50,
//     deterministic txn ids, backoff with jitter, metrics;
//   - discovery (discovery.go): static peers, .well-known, allow/deny lists,
//     addresses checked and pinned against SSRF; Client (client.go) signs
//     every request; KeyFetcher (keyfetch.go) fetches and caches keys.
package federation
