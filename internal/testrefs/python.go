package testrefs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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

// RunOracle runs the oracle script tools/oracle/<script> with py, writes req
// as JSON on its stdin and decodes its stdout into resp. env entries
// ("K=V") are added to the environment. The script's stderr is shown when
// it fails; how long it ran is logged.
func RunOracle(tb testing.TB, py, script string, req, resp any, env ...string) {
	tb.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(py, OracleScript(script))
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	tb.Logf("oracle %s ran in %v", script, time.Since(start).Round(time.Millisecond))
	if err := json.Unmarshal(stdout.Bytes(), resp); err != nil {
		tb.Fatalf("%s output: %v\n%s", script, err, stderr.String())
	}
}
