// Package vault is Crypt-Talk's envelope encryption.
//
// Master keys (KEK) are versioned ("v1", "v2", ...) in a Keyring with one
// active version. Data keys (DEK) are 256 random bits, one per conversation
// and one per file, stored only wrapped by a master key.
//
// Formats (all AEADs are XChaCha20-Poly1305, 24-byte random nonces, so
// random nonces never collide in practice):
//
//	sealed message:  0x01 | nonce(24) | ciphertext+tag
//	wrapped DEK:     0x01 | nonce(24) | ciphertext+tag,  AD = "ct-dek\x00" version "\x00" owner
//	file stream:     a sequence of chunks, each  nonce(24) | ciphertext+tag,
//	                 ChunkSize plaintext bytes (the last one shorter, possibly
//	                 empty), AD = "ct-chunk\x00" len(fileID) fileID index(8) last(1)
//
// The chunk AD binds each chunk to its file, its position and whether it is
// the last, so reordering, splicing from another file, truncation at a
// chunk boundary and appended data are all detected. Because each chunk has
// a fixed sealed size, a reader can start at any chunk (HTTP Range).
package vault
