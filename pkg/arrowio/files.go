package arrowio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

const ioBufferSize = 1 << 20

// InputName returns the name used for path in errors: "stdin" for "-" or "".
func InputName(path string) string {
	if path == "" || path == "-" {
		return "stdin"
	}
	return path
}

// InputsName names a list of inputs in messages: their InputNames joined
// by " + ", stdin for none.
func InputsName(inputs []string) string {
	if len(inputs) == 0 {
		return InputName("-")
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = InputName(in)
	}
	return strings.Join(names, " + ")
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
// the target path is untouched. A symlink is followed: the temp file is made
// beside the link's final target, which is replaced, and the link kept.
// Devices, FIFOs and sockets (/dev/null, a named pipe) and descriptor
// aliases (/dev/stdout, /dev/fd/N, /proc/self/fd/N) are opened and written
// directly, never replaced. Typical use:
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
	tmp    string   // temp path; "" for stdout and direct outputs
	target string
	direct bool // f is the destination itself (device, FIFO, /dev/stdout)
	done   bool
	err    error
}

// maxSymlinks bounds symlink resolution, as the kernel's ELOOP limit.
const maxSymlinks = 40

// ResolveOutput follows path's symlinks, including a dangling final link,
// and returns the path of the file a write replaces. A path that does not
// exist is returned as is.
func ResolveOutput(path string) (string, error) {
	p := path
	for range maxSymlinks {
		st, err := os.Lstat(p)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("arrowio: %s: %w", path, err)
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return "", fmt.Errorf("arrowio: %s: too many levels of symbolic links", path)
}

// fdAlias matches the paths that name an open descriptor of the process
// (/dev/stdout, /dev/fd/3, /proc/self/fd/1): written in place even when the
// descriptor is a regular file (stdout redirected to one).
var fdAlias = regexp.MustCompile(`^/(dev/(stdout|stderr|fd/[0-9]+)|proc/(self|thread-self|[0-9]+)/fd/[0-9]+)$`)

// IsDirectOutput reports whether path is written in place rather than
// replaced through a temp file: an existing non-regular file (device, FIFO,
// socket), or a descriptor alias such as /dev/stdout or /dev/fd/1.
func IsDirectOutput(path string) bool {
	if abs, err := filepath.Abs(path); err == nil && fdAlias.MatchString(abs) {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// CreateOutput creates path for writing; "-" or "" means stdout.
func CreateOutput(path string, stdout io.Writer) (*Output, error) {
	if path == "" || path == "-" {
		if stdout == nil {
			return nil, errors.New("arrowio: writing stdout: no stdout")
		}
		return &Output{name: "stdout", bw: bufio.NewWriterSize(wholeWriter{stdout}, ioBufferSize)}, nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("arrowio: %s: is a directory", path)
	}
	if IsDirectOutput(path) {
		// O_APPEND: /dev/stdout redirected to a file (> or >>) is written
		// after what it holds, as the shell's own descriptor would be.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("arrowio: creating %s: %w", path, err)
		}
		return &Output{name: path, bw: bufio.NewWriterSize(wholeWriter{f}, ioBufferSize), f: f, target: path, direct: true}, nil
	}
	target, err := ResolveOutput(path)
	if err != nil {
		return nil, err
	}
	dir, base := filepath.Split(target)
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
	return &Output{name: path, bw: bufio.NewWriterSize(wholeWriter{f}, ioBufferSize), f: f, tmp: f.Name(), target: target}, nil
}

// IPCFileExts are the output name extensions (compared case-insensitively)
// for which the tools write the Arrow IPC file format rather than a stream:
// the names Polars' read_ipc, pandas' read_feather and pyarrow's
// ipc.open_file users give files. Every other name (".arrows" by
// convention), stdout, pipes and devices get a stream.
var IPCFileExts = []string{".arrow", ".feather", ".ipc"}

// IPCFile reports whether the output is a regular file whose name asks for
// the Arrow IPC file format (see IPCFileExts). Stdout, devices, FIFOs and
// descriptor aliases (/dev/stdout) are streamed: a reader of a pipe cannot
// seek to a footer.
func (o *Output) IPCFile() bool {
	if o.f == nil || o.direct {
		return false
	}
	// The name given, not a symlink's target: it says what the user asked for.
	return slices.Contains(IPCFileExts, strings.ToLower(filepath.Ext(o.name)))
}

// WantsIPCFile reports whether w is an [Output] that wants the Arrow IPC
// file format ([Output.IPCFile]); the tools set [WriterOptions].File from it.
func WantsIPCFile(w io.Writer) bool {
	o, ok := w.(*Output)
	return ok && o.IPCFile()
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

// WriteUnit writes p so that no flush splits it: what reaches the
// destination before Commit (stdout, a pipe) ends at a unit boundary, so a
// failure mid-stream leaves whole units (lines) only. A flush that fails
// part-way into a regular file (stdout redirected to a full disk) is cut
// back to where it started; see [LineWriter].
func (o *Output) WriteUnit(p []byte) (int, error) {
	if !o.done && o.err == nil && len(p) > o.bw.Available() && o.bw.Buffered() > 0 {
		if err := o.bw.Flush(); err != nil {
			o.err = fmt.Errorf("arrowio: writing %s: %w", o.name, err)
			return 0, o.err
		}
	}
	return o.Write(p)
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
	if o.direct {
		if err1 := o.f.Close(); err == nil && err1 != nil {
			err = fmt.Errorf("arrowio: closing %s: %w", o.name, err1)
		}
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
	if o.direct {
		if err != nil {
			return fmt.Errorf("arrowio: discarding %s: %w", o.name, err)
		}
		return nil
	}
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
