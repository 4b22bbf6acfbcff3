package arrowio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const ioBufferSize = 1 << 20

// InputName returns the name used for path in errors: "stdin" for "-" or "".
func InputName(path string) string {
	if path == "" || path == "-" {
		return "stdin"
	}
	return path
}

// OpenInput opens path for reading, buffered; "-" or "" means stdin, which
// Close leaves open.
func OpenInput(path string, stdin io.Reader) (io.ReadCloser, error) {
	if path == "" || path == "-" {
		if stdin == nil {
			return nil, errors.New("arrowio: reading stdin: no stdin")
		}
		return struct {
			io.Reader
			io.Closer
		}{bufio.NewReaderSize(stdin, ioBufferSize), io.NopCloser(nil)}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("arrowio: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("arrowio: %s: is a directory, want a stream file", path)
	}
	return struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(f, ioBufferSize), f}, nil
}

// Output is a destination for a stream: stdout, or a file written
// atomically. Bytes go to a temp file in the target's directory; Commit
// flushes, fsyncs and renames it into place, Abort removes it. Until Commit
// the target path is untouched. Typical use:
//
//	out, err := arrowio.CreateOutput(path, stdout)
//	if err != nil { return err }
//	defer out.Abort() // no-op after Commit
//	... write to out ...
//	return out.Commit()
type Output struct {
	name   string
	bw     *bufio.Writer
	f      *os.File // nil for stdout
	tmp    string   // temp path; "" for stdout
	target string
	done   bool
	err    error
}

// CreateOutput creates path for writing; "-" or "" means stdout.
func CreateOutput(path string, stdout io.Writer) (*Output, error) {
	if path == "" || path == "-" {
		if stdout == nil {
			return nil, errors.New("arrowio: writing stdout: no stdout")
		}
		return &Output{name: "stdout", bw: bufio.NewWriterSize(stdout, ioBufferSize)}, nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("arrowio: %s: is a directory", path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("arrowio: creating %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; an output is a normal file.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("arrowio: creating %s: %w", path, err)
	}
	return &Output{name: path, bw: bufio.NewWriterSize(f, ioBufferSize), f: f, tmp: f.Name(), target: path}, nil
}

// Name returns the output's name for messages ("stdout" or the path).
func (o *Output) Name() string { return o.name }

// Write writes to the buffered output.
func (o *Output) Write(p []byte) (int, error) {
	if o.done {
		return 0, fmt.Errorf("arrowio: %s: write after Commit or Abort", o.name)
	}
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.bw.Write(p)
	if err != nil {
		o.err = fmt.Errorf("arrowio: writing %s: %w", o.name, err)
	}
	return n, o.err
}

// Commit flushes the output; for a file it also fsyncs, closes and renames
// the temp file onto the target and syncs the directory. On any error the
// temp file is removed and the target left untouched.
func (o *Output) Commit() error {
	if o.done {
		return fmt.Errorf("arrowio: %s: Commit after Commit or Abort", o.name)
	}
	o.done = true
	err := o.err
	if err == nil {
		if err = o.bw.Flush(); err != nil {
			err = fmt.Errorf("arrowio: writing %s: %w", o.name, err)
		}
	}
	if o.f == nil {
		return err
	}
	if err == nil {
		if err = o.f.Sync(); err != nil {
			err = fmt.Errorf("arrowio: syncing %s: %w", o.name, err)
		}
	}
	if err1 := o.f.Close(); err == nil && err1 != nil {
		err = fmt.Errorf("arrowio: closing %s: %w", o.name, err1)
	}
	if err == nil {
		if err = os.Rename(o.tmp, o.target); err != nil {
			err = fmt.Errorf("arrowio: %w", err)
		}
	}
	if err != nil {
		os.Remove(o.tmp)
		return err
	}
	syncDir(filepath.Dir(o.target))
	return nil
}

// Abort discards a file output (closing and removing the temp file). For
// stdout it discards nothing already flushed. It is a no-op after Commit,
// so it can be deferred.
func (o *Output) Abort() error {
	if o.done {
		return nil
	}
	o.done = true
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	if err1 := os.Remove(o.tmp); err1 != nil && !errors.Is(err1, os.ErrNotExist) {
		err = err1
	}
	if err != nil {
		return fmt.Errorf("arrowio: discarding %s: %w", o.name, err)
	}
	return nil
}

// syncDir makes a rename durable; failures (e.g. unsupported on the
// platform or file system) are ignored as the rename itself succeeded.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
