//go:build xla && linux

package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDlopenGlobal builds two shared libraries: libdpoa.so.1 and libdpob.so,
// which needs libdpoa.so.1 but carries no RPATH to find it. Loading libdpob
// fails until libdpoa has been preloaded by absolute path, which is what
// preloadCUDA does for the NVIDIA libraries before the plugin is opened.
func TestDlopenGlobal(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build test libraries")
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dirA, "a.c"), "int dpo_a(void) { return 42; }\n")
	write(filepath.Join(dirB, "b.c"), "int dpo_a(void);\nint dpo_b(void) { return dpo_a() + 1; }\n")
	libA := filepath.Join(dirA, "libdpoa.so.1")
	libB := filepath.Join(dirB, "libdpob.so")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-Wl,-soname,libdpoa.so.1", "-o", libA, filepath.Join(dirA, "a.c")},
		{"-shared", "-fPIC", "-o", libB, filepath.Join(dirB, "b.c"), libA},
	} {
		if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %v: %v\n%s", args, err, out)
		}
	}
	errs := dlopenGlobal([]string{libB})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "libdpoa.so.1") {
		t.Fatalf("loading %s before its dependency: %v; want an error naming libdpoa.so.1", libB, errs)
	}
	if errs := dlopenGlobal([]string{libA, libB}); len(errs) != 0 {
		t.Fatalf("after preloading %s: %v", libA, errs)
	}
}

// TestPreloadCUDA checks that preloadCUDA picks, per soname, the first
// library directory holding it, and reports the files that fail to load.
func TestPreloadCUDA(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	fakeTree(t, d1, "libcudart.so.13")
	fakeTree(t, d2, "libcudart.so.13", "libcudnn.so.9")
	errs := preloadCUDA([]string{d1, d2})
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	s := strings.Join(got, "\n")
	if len(errs) != 2 || !strings.Contains(s, filepath.Join(d1, "libcudart.so.13")) || !strings.Contains(s, filepath.Join(d2, "libcudnn.so.9")) {
		t.Errorf("preloadCUDA errors:\n%s\nwant exactly %s and %s (fake files) to fail", s, filepath.Join(d1, "libcudart.so.13"), filepath.Join(d2, "libcudnn.so.9"))
	}
}
