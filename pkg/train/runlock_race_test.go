//go:build unix

package train_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dpo-go/dpo/pkg/train"
)

// Two runs started together into one new --out: in every round exactly
// one wins and finishes with its files in place; the other fails at once
// saying the directory is in use, and touches nothing (its cleanup used
// to delete the lock file and the directory the winner was using).
func TestOutRace(t *testing.T) {
	_, _, cfg := smallRun(t)
	dir := t.TempDir()
	const rounds = 12
	for round := range rounds {
		out := filepath.Join(dir, fmt.Sprintf("out-%d", round), "run")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = train.Run(context.Background(), cfg(out), "test", nil, nil)
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !strings.Contains(err.Error(), "in use by another dpo-train run"):
				t.Errorf("round %d: the loser failed with %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d winners (%v)", round, won, errs)
		}
		for _, f := range []string{train.TrainConfigFile, "model.safetensors", train.MetricsFile} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("round %d: the winner's %s: %v", round, f, err)
			}
		}
	}
}
