// Package vault is Crypt-Talk's envelope encryption: master keys wrap data
// keys, data keys seal messages and files. It imports nothing of ours.
//
// # Keys
//
// Master keys (KEKs) are versioned ("v1", "v2", ...) in a Keyring with one
// active version, which wraps new data keys; older versions only unwrap
// until they are retired. Data keys (DEKs) are 256 random bits, one per
// conversation and one per file, stored only wrapped. Rotation is: add a
// version (WithKey), rewrap every DEK, drop the old version (Without).
// Key material never appears in errors or in any printed form of a
// Keyring; only Spec (and the key file) hold it.
//
// # Formats
//
// Every AEAD here is XChaCha20-Poly1305 with a random 24-byte nonce: with
// 192-bit nonces random choice never collides in practice, so no nonce
// state has to be kept or coordinated across nodes. Every sealed item
// starts with a format byte (0x01) so a later format can be told apart.
//
//	sealed message   0x01 | nonce(24) | ciphertext | tag(16)
//	                 AD = MessageAD: "ct-msg" | len32 conv | seq64 | len32 sender
//	wrapped DEK      0x01 | nonce(24) | ciphertext(32) | tag(16)
//	                 AD = "ct-dek" 0x00 version 0x00 owner
//	key check        0x01 | nonce(24) | ciphertext | tag(16), a known value
//	                 AD = "ct-keycheck" 0x00 version (see SealCheck)
//	file stream      chunk 0 | chunk 1 | ... | last chunk
//	chunk            0x01 | nonce(24) | ciphertext | tag(16)
//	                 AD = "ct-chunk" | len32 fileID | index64 | last(1)
//
// Integers are big-endian; len32 is a length prefix, so no two different
// tuples have the same AD. Each AD starts with a distinct label, so an
// item of one kind never opens as another.
//
// Every chunk but the last holds exactly ChunkSize plaintext bytes, so
// chunk i starts at i*SealedChunkSize and a download can begin at any
// chunk (HTTP Range) and reads with constant memory: writer and reader
// each hold one chunk. The last chunk holds 0 to ChunkSize bytes; an
// empty file is a single empty last chunk. Binding the file id, the index
// and the last flag into each chunk's AD is what detects chunks reordered
// or spliced from another file, a stream cut at a chunk boundary (its new
// final chunk was sealed as not last) and data appended after the last
// chunk (the reader reads one byte ahead, and a chunk followed by data
// must not be flagged last). Nonces stay random rather than derived from
// the index because the AD already fixes the position.
//
// A reader returns each chunk's plaintext only after that chunk
// authenticates, but a stream damaged at chunk n still yields chunks
// 0..n-1 first: a caller that needs all or nothing must read to the end
// before acting on the data.
package vault
