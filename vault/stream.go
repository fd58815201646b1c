package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// ChunkSize is the plaintext size of every chunk but the last.
const ChunkSize = 64 * 1024

// SealedChunkSize is the stored size of a full chunk.
const SealedChunkSize = nonceSize + ChunkSize + tagSize

// SealedSize is the stored size of a plaintext of n bytes.
func SealedSize(n int64) int64 {
	if n > 0 && n%ChunkSize == 0 {
		return n / ChunkSize * SealedChunkSize // the last chunk is a full one
	}
	return n/ChunkSize*SealedChunkSize + nonceSize + n%ChunkSize + tagSize
}

func chunkAD(fileID string, index uint64, last bool) []byte {
	b := make([]byte, 0, len("ct-chunk")+4+len(fileID)+9)
	b = append(b, "ct-chunk"...)
	b = appendString(b, fileID)
	b = binary.BigEndian.AppendUint64(b, index)
	if last {
		return append(b, 1)
	}
	return append(b, 0)
}

type sealWriter struct {
	w      io.Writer
	aead   cipher.AEAD
	fileID string
	index  uint64
	buf    []byte // plaintext of the chunk being filled
	out    []byte
	err    error
	closed bool
}

// NewSealWriter seals everything written to it into w, chunk by chunk.
// Close writes the last chunk (an empty file is one empty last chunk); a
// stream without it is detected as truncated.
func NewSealWriter(w io.Writer, dek []byte, fileID string) io.WriteCloser {
	aead, err := chacha20poly1305.NewX(dek)
	return &sealWriter{w: w, aead: aead, fileID: fileID, err: err,
		buf: make([]byte, 0, ChunkSize), out: make([]byte, 0, SealedChunkSize)}
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.closed {
		return 0, errors.New("vault: write after close")
	}
	n := 0
	for len(p) > 0 {
		// A full buffer is sealed only when more data follows, so the
		// last chunk is always known to be last.
		if len(s.buf) == ChunkSize {
			if err := s.flush(false); err != nil {
				return n, err
			}
		}
		c := copy(s.buf[len(s.buf):ChunkSize], p)
		s.buf = s.buf[:len(s.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

func (s *sealWriter) flush(last bool) error {
	nonce := s.out[:nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		s.err = err
		return err
	}
	sealed := s.aead.Seal(nonce, nonce, s.buf, chunkAD(s.fileID, s.index, last))
	if _, err := s.w.Write(sealed); err != nil {
		s.err = err
		return err
	}
	s.index++
	s.buf = s.buf[:0]
	return nil
}

func (s *sealWriter) Close() error {
	if s.err != nil || s.closed {
		return s.err
	}
	s.closed = true
	return s.flush(true)
}

type openReader struct {
	r      io.Reader
	aead   cipher.AEAD
	fileID string
	index  uint64
	buf    []byte // sealed bytes read ahead: up to one chunk plus one byte
	eof    bool
	plain  []byte // authenticated plaintext not yet returned
	pbuf   []byte
	done   bool
	err    error
}

// NewOpenReader decrypts a sealed stream whose reader starts at chunk
// firstChunk. It returns only authenticated plaintext; any tampering,
// truncation, reordering or trailing data ends it with ErrDecrypt.
func NewOpenReader(r io.Reader, dek []byte, fileID string, firstChunk int64) io.Reader {
	aead, err := chacha20poly1305.NewX(dek)
	return &openReader{r: r, aead: aead, fileID: fileID, index: uint64(firstChunk), err: err,
		buf: make([]byte, 0, SealedChunkSize+1), pbuf: make([]byte, 0, ChunkSize)}
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.done {
			return 0, io.EOF
		}
		o.err = o.next()
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}

// next opens one chunk. It reads one byte past a full chunk to know
// whether the chunk must carry the last-chunk flag.
func (o *openReader) next() error {
	for len(o.buf) < SealedChunkSize+1 && !o.eof {
		n, err := o.r.Read(o.buf[len(o.buf):cap(o.buf)])
		o.buf = o.buf[:len(o.buf)+n]
		if errors.Is(err, io.EOF) {
			o.eof = true
		} else if err != nil {
			return err
		}
	}
	last := len(o.buf) <= SealedChunkSize
	chunk := o.buf
	if !last {
		chunk = o.buf[:SealedChunkSize]
	}
	if len(chunk) < nonceSize+tagSize {
		return fmt.Errorf("%w: stream truncated", ErrDecrypt)
	}
	plain, err := o.aead.Open(o.pbuf[:0], chunk[:nonceSize], chunk[nonceSize:], chunkAD(o.fileID, o.index, last))
	if err != nil {
		return fmt.Errorf("%w: chunk %d", ErrDecrypt, o.index)
	}
	if last {
		o.done = true
		o.buf = o.buf[:0]
	} else {
		o.buf = o.buf[:copy(o.buf, o.buf[SealedChunkSize:])]
	}
	o.index++
	o.plain = plain
	return nil
}
