package arrowio

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A symlinked output is followed: the link stays a link and its target gets
// the bytes; the temp file is made beside the target.
func TestOutputFollowsSymlink(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	target := filepath.Join(other, "real.arrows")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.arrows")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	// A chain: link2 -> link (relative) -> target.
	link2 := filepath.Join(dir, "link2.arrows")
	if err := os.Symlink("link.arrows", link2); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, link2} {
		out, err := CreateOutput(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write([]byte("new " + p)); err != nil {
			t.Fatal(err)
		}
		if err := out.Commit(); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a symlink: %v %v", p, st.Mode(), err)
		}
		if got, _ := os.ReadFile(target); string(got) != "new "+p {
			t.Errorf("target holds %q", got)
		}
	}
	// A dangling link creates its target.
	dangling := filepath.Join(dir, "dangling.arrows")
	newTarget := filepath.Join(other, "created.arrows")
	if err := os.Symlink(newTarget, dangling); err != nil {
		t.Fatal(err)
	}
	out, err := CreateOutput(dangling, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("x"))
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(newTarget); string(got) != "x" {
		t.Errorf("dangling link target holds %q", got)
	}
	if st, _ := os.Lstat(dangling); st.Mode()&os.ModeSymlink == 0 {
		t.Error("dangling link replaced by a file")
	}
	if n := dirEntries(t, dir); len(n) != 3 {
		t.Errorf("link directory holds %v", n)
	}
}

// A FIFO is written directly (its reader gets the bytes) and stays a FIFO.
func TestOutputFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip("no FIFOs:", err)
	}
	rd, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	out, err := CreateOutput(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Write([]byte("through the pipe")); err != nil {
		t.Fatal(err)
	}
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(p); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is no longer a FIFO: %v %v", p, st.Mode(), err)
	}
	buf := make([]byte, 64)
	n, _ := rd.Read(buf)
	if string(buf[:n]) != "through the pipe" {
		t.Errorf("reader got %q", buf[:n])
	}
	if n := dirEntries(t, filepath.Dir(p)); len(n) != 1 {
		t.Errorf("directory holds %v", n)
	}
}

// /dev/null stays a character device; Abort on a device discards nothing
// and removes nothing.
func TestOutputDevice(t *testing.T) {
	for _, commit := range []bool{true, false} {
		out, err := CreateOutput("/dev/null", nil)
		if err != nil {
			t.Skip(err)
		}
		out.Write([]byte("x"))
		if commit {
			err = out.Commit()
		} else {
			err = out.Abort()
		}
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat("/dev/null"); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("/dev/null is %v (%v)", st.Mode(), err)
		}
	}
}

// /dev/fd/N (here a regular file held open) is written in place, appended.
func TestOutputDevFD(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("head ")
	p := "/dev/fd/" + itoa(int(f.Fd()))
	if _, err := os.Stat(p); err != nil {
		t.Skip(err)
	}
	out, err := CreateOutput(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("tail"))
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Name()); string(got) != "head tail" {
		t.Errorf("file holds %q", got)
	}
	if n := dirEntries(t, filepath.Dir(f.Name())); len(n) != 1 {
		t.Errorf("directory holds %v", n)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// Which paths are written in place: descriptor aliases and existing
// non-regular files, not regular files under /dev (such as /dev/shm).
func TestIsDirectOutput(t *testing.T) {
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/dev/stdout", true}, {"/dev/stderr", true}, {"/dev/fd/1", true}, {"/proc/self/fd/2", true},
		{"/proc/123/fd/4", true}, {"/dev/null", true},
		{"/dev/shm/out.arrows", false}, {"/proc/self/status.arrows", false},
		{filepath.Join(t.TempDir(), "x.arrows"), false},
	} {
		if got := IsDirectOutput(tc.path); got != tc.want {
			t.Errorf("IsDirectOutput(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
