package arrowio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

// The Arrow IPC file format is "ARROW1" and two padding bytes, the stream
// format (schema, dictionaries, record batches, usually an end-of-stream
// marker), a flatbuffer footer, the footer's int32 length and "ARROW1".
// Some writers (Polars) put the schema only in the footer, so files are read
// through the footer with arrow-go's file reader and handed to Reader as a
// stream.
var (
	magicIPCFile = []byte("ARROW1")
	magicZstd    = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicGzip    = []byte{0x1f, 0x8b}
	magicParquet = []byte("PAR1")
)

// openSource returns a reader over the IPC stream of in (named name in
// errors), which it owns: for an Arrow IPC file, its batches read through
// the footer and re-written as a stream (a pipe or stdin is first copied to
// a temporary file, which close removes). Inputs that are plainly not Arrow
// IPC (JSON, Parquet, whole-file compression) get an error saying what they
// are and what to do.
func openSource(name string, in io.ReadCloser) (src io.Reader, closer io.Closer, ipcFile bool, err error) {
	br := bufio.NewReaderSize(in, ioBufferSize)
	head, err := br.Peek(8)
	if err != nil && err != io.EOF {
		in.Close()
		return nil, nil, false, fmt.Errorf("arrowio: %s: %w", name, err)
	}
	if err := notIPC(name, head); err != nil {
		in.Close()
		return nil, nil, false, err
	}
	if !bytes.HasPrefix(head, magicIPCFile) {
		return br, in, false, nil
	}
	// An Arrow IPC file: find its footer.
	f, isFile := fileOf(in)
	var tmp *os.File
	if !isFile || !regular(f) {
		// stdin or a pipe: copy to a temporary file for the footer.
		if tmp, err = os.CreateTemp("", "dpo-ipcfile-*"); err != nil {
			in.Close()
			return nil, nil, false, fmt.Errorf("arrowio: %s: %w", name, err)
		}
		_, err = io.Copy(tmp, br)
		in.Close()
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return nil, nil, false, fmt.Errorf("arrowio: %s: copying the Arrow IPC file to a temporary file: %w", name, err)
		}
		f = tmp
		in = tmpCloser{tmp}
	}
	end, err := ipcFileStreamEnd(f)
	if err == nil {
		err = checkFooterBlocks(f, end)
	}
	if err != nil {
		in.Close()
		return nil, nil, false, fmt.Errorf("arrowio: %s: %w", name, err)
	}
	src, closer = ipcFileAsStream(f, in)
	return src, closer, true, nil
}

// ipcFileAsStream reads the Arrow IPC file f through its footer (some
// writers, Polars among them, put the schema only there) and re-writes its
// batches, uncompressed, as an IPC stream that the returned reader yields;
// errors reach the reader. Closing the closer stops the copy and closes in.
func ipcFileAsStream(f *os.File, in io.Closer) (io.Reader, io.Closer) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(copyIPCFile(f, pw))
	}()
	return pr, closerFunc(func() error {
		pr.Close() // unblocks the writer
		<-done
		return in.Close()
	})
}

func copyIPCFile(f *os.File, w io.Writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt Arrow IPC file: %v", p)
		}
	}()
	fr, err := ipc.NewFileReader(f)
	if err != nil {
		return fmt.Errorf("reading Arrow IPC file: %w", err)
	}
	defer fr.Close()
	sw := ipc.NewWriter(w, ipc.WithSchema(fr.Schema()))
	for i := 0; i < fr.NumRecords(); i++ {
		rec, err := fr.RecordBatchAt(i)
		if err != nil {
			return fmt.Errorf("reading Arrow IPC file batch %d: %w", i, err)
		}
		err = sw.Write(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return sw.Close()
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }

// ipcFileStreamEnd checks the trailing magic of an Arrow IPC file and
// returns the offset where its footer starts.
func ipcFileStreamEnd(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size < 8+10 {
		return 0, errors.New("Arrow IPC file too short (truncated?)")
	}
	var tail [10]byte
	if _, err := f.ReadAt(tail[:], size-10); err != nil {
		return 0, fmt.Errorf("reading the Arrow IPC file footer: %w", err)
	}
	if !bytes.Equal(tail[4:], magicIPCFile) {
		return 0, fmt.Errorf("Arrow IPC file without its trailing %q magic: truncated or still being written", magicIPCFile)
	}
	flen := int64(int32(binary.LittleEndian.Uint32(tail[:4])))
	end := size - 10 - flen
	if flen <= 0 || end < 8 {
		return 0, fmt.Errorf("Arrow IPC file footer length %d is invalid for a %d-byte file", flen, size)
	}
	return end, nil
}

// notIPC returns an error for first bytes that are plainly not an Arrow IPC
// stream or file.
func notIPC(name string, head []byte) error {
	rest := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case bytes.HasPrefix(head, magicParquet):
		return fmt.Errorf("arrowio: %s is a Parquet file, not an Arrow IPC stream: this stage reads dpo-tokenize's output (Parquet datasets of text pairs go to dpo-tokenize)", name)
	case bytes.HasPrefix(head, magicZstd), bytes.HasPrefix(head, magicGzip):
		return fmt.Errorf("arrowio: %s is compressed as a whole (gzip or zstd), not an Arrow IPC stream: decompress it first (dpo streams compress their buffers inside, as Arrow IPC does)", name)
	case len(rest) > 0 && (rest[0] == '{' || rest[0] == '['):
		return fmt.Errorf("arrowio: %s looks like JSON or JSON Lines, not an Arrow IPC stream: run dpo-tokenize on it first (dpo-tokenize --tokenizer DIR %s > pairs.arrow)", name, name)
	}
	return nil
}

func fileOf(rc io.ReadCloser) (*os.File, bool) {
	s, ok := rc.(struct {
		io.Reader
		io.Closer
	})
	if !ok {
		return nil, false
	}
	f, ok := s.Closer.(*os.File)
	return f, ok
}

func regular(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

type tmpCloser struct{ f *os.File }

func (t tmpCloser) Read(p []byte) (int, error) { return t.f.Read(p) }
func (t tmpCloser) Close() error {
	err := t.f.Close()
	return errors.Join(err, os.Remove(t.f.Name()))
}

// SchemaOf returns the schema of an Arrow IPC stream or file from its
// first bytes (the schema message comes first in both; compressed or not),
// or false when head does not start one.
func SchemaOf(head []byte) (*arrow.Schema, bool) {
	if bytes.HasPrefix(head, magicIPCFile) {
		head = head[min(8, len(head)):] // the magic, padded; the stream format follows
	}
	rd, err := ipc.NewReader(bytes.NewReader(head))
	if err != nil {
		return nil, false
	}
	defer rd.Release()
	return rd.Schema(), true
}
