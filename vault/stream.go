package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ChunkSize is the plaintext size of every chunk of a sealed file but the
// last, which holds the rest: 0 to ChunkSize bytes.
const ChunkSize = 64 * 1024

// SealedChunkSize is the stored size of a full chunk. Chunk i of a sealed
// file starts at byte i*SealedChunkSize, which is how a reader seeks.
const SealedChunkSize = ChunkSize + overhead

// SealedSize is the stored size of a plaintext of plain (>= 0) bytes.
func SealedSize(plain int64) int64 {
	chunks := (plain + ChunkSize - 1) / ChunkSize
	if chunks == 0 {
		chunks = 1 // an empty file is one empty last chunk
	}
	return plain + chunks*overhead
}

var errWriteAfterClose = errors.New("vault: write to a closed seal writer")

// chunker is what sealing and opening share: the AEAD, the position and a
// reused additional-data buffer, so that allocations do not grow with the
// file size.
type chunker struct {
	aead   cipher.AEAD
	fileID string
	index  uint64
	ad     []byte
}

// chunkAD binds a chunk to its file, its index and whether it is the last.
func (c *chunker) chunkAD(last bool) []byte {
	c.ad = append(c.ad[:0], "ct-chunk"...)
	c.ad = appendString(c.ad, c.fileID)
	c.ad = binary.BigEndian.AppendUint64(c.ad, c.index)
	if last {
		return append(c.ad, 1)
	}
	return append(c.ad, 0)
}

type sealWriter struct {
	chunker
	w io.Writer
	// buf is version | nonce | plaintext gathered so far; the chunk is
	// sealed in place, so one chunk is all the memory the writer holds.
	buf    []byte
	err    error // sticky: after a failure the stream is unusable
	closed bool
}

// NewSealWriter returns a writer that seals what it is given into w, in
// chunks of ChunkSize plaintext bytes, for the file fileID (see the
// package doc for the format). Close must be called: it writes the final
// chunk, without which readers report the stream as truncated, and it
// does not close w. An invalid dek makes every call fail.
func NewSealWriter(w io.Writer, dek []byte, fileID string) io.WriteCloser {
	aead, err := newAEAD(dek)
	return &sealWriter{
		chunker: chunker{aead: aead, fileID: fileID},
		w:       w,
		buf:     make([]byte, headerSize, SealedChunkSize),
		err:     err,
	}
}

// Write buffers p and seals every chunk that is complete and followed by
// more data.
func (s *sealWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errWriteAfterClose
	}
	n := 0
	for s.err == nil && len(p) > 0 {
		// A full chunk is sealed only once more data arrives, so the
		// chunk still buffered at Close is the last one.
		if len(s.buf) == headerSize+ChunkSize {
			s.err = s.seal(false)
			continue
		}
		c := copy(s.buf[len(s.buf):headerSize+ChunkSize], p)
		s.buf = s.buf[:len(s.buf)+c]
		p = p[c:]
		n += c
	}
	return n, s.err
}

// Close seals and writes the final chunk. Calling it again is harmless.
func (s *sealWriter) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.err == nil {
		s.err = s.seal(true)
	}
	s.buf = nil // a closed writer holds no memory
	return s.err
}

// seal encrypts the buffered chunk in place and writes it out.
func (s *sealWriter) seal(last bool) error {
	s.buf[0] = formatV1
	nonce := s.buf[1:headerSize]
	_, _ = rand.Read(nonce) // never fails, see NewDataKey
	sealed := s.aead.Seal(s.buf[:headerSize], nonce, s.buf[headerSize:], s.chunkAD(last))
	if _, err := s.w.Write(sealed); err != nil {
		return fmt.Errorf("vault: write chunk %d: %w", s.index, err)
	}
	s.index++
	s.buf = s.buf[:headerSize]
	return nil
}

type openReader struct {
	chunker
	r io.Reader
	// buf holds one sealed chunk plus one byte read ahead; chunks are
	// opened in place, so plain aliases it.
	buf   []byte
	used  int    // bytes at the start of buf that belong to the opened chunk
	plain []byte // authenticated plaintext not yet returned
	eof   bool   // r is exhausted
	err   error  // sticky; io.EOF once the last chunk is opened
}

// NewOpenReader returns a reader of the plaintext of the sealed file
// fileID, given r positioned at the start of chunk firstChunk (byte
// firstChunk*SealedChunkSize of the sealed file). It only ever returns
// authenticated plaintext, chunk by chunk: tampering, truncation (the
// stream ends without its last chunk), reordered chunks, chunks from
// another file and data after the last chunk all end it with an error
// wrapping ErrDecrypt, possibly after the plaintext of earlier, authentic
// chunks. Errors from r are returned wrapped.
func NewOpenReader(r io.Reader, dek []byte, fileID string, firstChunk int64) io.Reader {
	aead, err := newAEAD(dek)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	if firstChunk < 0 {
		err = fmt.Errorf("vault: first chunk %d is negative", firstChunk)
	}
	return &openReader{
		chunker: chunker{aead: aead, fileID: fileID, index: uint64(firstChunk)},
		r:       r,
		buf:     make([]byte, 0, SealedChunkSize+1),
		err:     err,
	}
}

// Read returns plaintext of chunks already authenticated, opening the next
// chunk when those run out.
func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil || len(p) == 0 {
			return 0, o.err
		}
		o.err = o.next()
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

// next opens the next chunk in place and returns io.EOF with the last
// one. It reads one byte past a full chunk because a chunk is the last
// exactly when nothing follows it, and its sealed last flag must agree:
// that is what detects truncation at a chunk boundary and appended data.
func (o *openReader) next() error {
	o.buf = o.buf[:copy(o.buf, o.buf[o.used:])]
	if err := o.fill(); err != nil {
		return err
	}
	last := len(o.buf) <= SealedChunkSize
	o.used = min(len(o.buf), SealedChunkSize)
	chunk := o.buf[:o.used]
	if len(chunk) < overhead || chunk[0] != formatV1 {
		return fmt.Errorf("%w: chunk %d is truncated or of an unknown format", ErrDecrypt, o.index)
	}
	plain, err := o.aead.Open(chunk[headerSize:headerSize], chunk[1:headerSize], chunk[headerSize:], o.chunkAD(last))
	if err != nil {
		return fmt.Errorf("%w: chunk %d", ErrDecrypt, o.index)
	}
	o.index++
	o.plain = plain
	if last {
		return io.EOF
	}
	return nil
}

// fill tops buf up to one chunk plus one byte, or to the end of r.
func (o *openReader) fill() error {
	if o.eof {
		return nil
	}
	n, err := io.ReadFull(o.r, o.buf[len(o.buf):cap(o.buf)])
	o.buf = o.buf[:len(o.buf)+n]
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		o.eof = true
	case err != nil:
		return fmt.Errorf("vault: read sealed stream: %w", err)
	}
	return nil
}
