package train

import (
	"os"
	"path/filepath"
	"testing"
)

// TestAbandon: Abandon releases what a run holds as a failed run would:
// an --out the run created (holding only the lock file) is removed, one
// that existed before keeps everything but the lock file, and a released
// --out is no longer held (a second Abandon touches nothing).
func TestAbandon(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "new", "run")
	existing := filepath.Join(dir, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	var outs []*outDir
	for _, out := range []string{created, existing} {
		o, err := prepareOut(&Config{Out: out})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	if _, err := os.Stat(filepath.Join(created, LockFile)); err != nil {
		t.Fatalf("the run's lock file: %v", err)
	}
	Abandon()
	if _, err := os.Stat(created); !os.IsNotExist(err) {
		t.Errorf("the --out the run created is still there (%v)", err)
	}
	if _, err := os.Stat(existing); err != nil {
		t.Errorf("the --out that existed before: %v", err)
	}
	for _, o := range outs {
		if o.owned || o.lock != nil {
			t.Errorf("%s still held after Abandon", o.path)
		}
	}
	n := 0
	liveOuts.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Errorf("%d --out still registered after Abandon", n)
	}
	// A run that ends normally unregisters too.
	o, err := prepareOut(&Config{Out: filepath.Join(dir, "ok")})
	if err != nil {
		t.Fatal(err)
	}
	o.release(true)
	liveOuts.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Error("a released --out is still registered")
	}
}
