package testrefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Venv returns the oracles' virtual environment: $DPO_ORACLE_VENV, or
// .oracle-venv under the repository root (made by tools/install-test-deps.sh
// from tools/oracle/requirements.txt).
func Venv() string {
	if d := os.Getenv("DPO_ORACLE_VENV"); d != "" {
		return d
	}
	return filepath.Join(Root(), ".oracle-venv")
}

var (
	importMu sync.Mutex
	imported = map[string]error{}
)

// Python returns the oracle virtualenv's python after checking that it
// imports modules (e.g. "torch", "transformers"). When it cannot, the test
// is skipped, or failed under DPO_REQUIRE_REFS=1.
func Python(tb testing.TB, modules ...string) string {
	tb.Helper()
	py := filepath.Join(Venv(), "bin", "python")
	key := strings.Join(modules, ",")
	importMu.Lock()
	err, seen := imported[key]
	if !seen {
		out, e := exec.Command(py, "-c", "import "+strings.Join(append([]string{"sys"}, modules...), ", ")).CombinedOutput()
		if e != nil {
			err = fmt.Errorf("%v: %s", e, strings.TrimSpace(string(out)))
		}
		imported[key] = err
	}
	importMu.Unlock()
	if err != nil {
		msg := fmt.Sprintf("oracle python %s with %v unavailable (run `bash tools/install-test-deps.sh`): %v", py, modules, err)
		if os.Getenv("DPO_REQUIRE_REFS") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return py
}

// OracleScript returns the path of a script under tools/oracle.
func OracleScript(name string) string {
	return filepath.Join(Root(), "tools", "oracle", name)
}
