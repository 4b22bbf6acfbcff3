package arrowio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// maxMetadataBytes bounds one message's flatbuffer metadata.
const maxMetadataBytes = 16 << 20

// messageReader reads IPC stream framing itself so each message's metadata
// can be verified (verifyMessage) before arrow-go decodes it. It implements
// ipc.MessageReader: a message is valid until the next call to Message.
type messageReader struct {
	r    io.Reader
	mem  memory.Allocator
	msg  *ipc.Message
	refs atomic.Int64
	n    int // messages read
}

func newMessageReader(r io.Reader, mem memory.Allocator) *messageReader {
	m := &messageReader{r: r, mem: mem}
	m.refs.Add(1)
	return m
}

func (m *messageReader) Retain() { m.refs.Add(1) }

func (m *messageReader) Release() {
	if m.refs.Add(-1) == 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

func readPart(r io.Reader, buf []byte) error {
	_, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Message returns the next message, or io.EOF at the end-of-stream marker
// or at the end of input between messages.
func (m *messageReader) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	idx := m.n
	m.n++
	var hdr [4]byte
	if _, err := io.ReadFull(m.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("message %d: reading header: %w", idx, err)
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	switch n {
	case 0: // legacy end-of-stream
		return nil, io.EOF
	case 0xFFFFFFFF:
		if err := readPart(m.r, hdr[:]); err != nil {
			return nil, fmt.Errorf("message %d: reading length: %w", idx, err)
		}
		n = binary.LittleEndian.Uint32(hdr[:])
		if n == 0 {
			return nil, io.EOF
		}
	}
	if n < 8 || n > maxMetadataBytes {
		return nil, fmt.Errorf("message %d: invalid metadata length %d", idx, n)
	}
	meta := make([]byte, n)
	if err := readPart(m.r, meta); err != nil {
		return nil, fmt.Errorf("message %d: reading metadata: %w", idx, err)
	}
	bodyLen, err := verifyMessage(meta)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", idx, err)
	}
	body := memory.NewResizableBuffer(m.mem)
	defer body.Release()
	body.Resize(int(bodyLen))
	if err := readPart(m.r, body.Bytes()); err != nil {
		return nil, fmt.Errorf("message %d: reading %d-byte body: %w", idx, bodyLen, err)
	}
	metaBuf := memory.NewBufferBytes(meta)
	defer metaBuf.Release()
	m.msg = ipc.NewMessage(metaBuf, body)
	return m.msg, nil
}
