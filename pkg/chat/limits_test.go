package chat

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpo-go/dpo/internal/testrefs"
)

func renderSrc(t *testing.T, ctx context.Context, src string) (string, error) {
	t.Helper()
	tm, err := Compile(src)
	if err != nil {
		return "", err
	}
	if ctx != nil {
		tm = tm.WithContext(ctx)
	}
	return tm.Render([]Message{{Role: "user", Content: "hi"}}, RenderOptions{})
}

// range() agrees with jinja2's sandbox: the same lengths, and an
// OverflowError above MAX_RANGE (100,000) items.
func TestRangeMatchesSandbox(t *testing.T) {
	exprs := []string{
		"range(100000)|length", "range(100001)|length", "range(5)|list", "range(2, 9, 3)|list",
		"range(10, 0, -4)|list", "range(0, 200000, 2)|length", "range(0, 200001, 2)|length",
		"range(-100000, 0)|length", "range(-100001, 0)|length", "range(0, -300000, -3)|length",
		"range(0, -300001, -3)|length", "range(5, 5)|length", "range(1000000000)|length",
		"range(-5)|length", "range(3, 1)|list",
	}
	py := testrefs.Python(t, "jinja2")
	in, _ := json.Marshal(exprs)
	cmd := exec.Command(py, filepath.Join(testrefs.Root(), "tools", "oracle", "jinja_sandbox_range.py"))
	cmd.Stdin = strings.NewReader(string(in))
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []struct {
		OK    bool   `json:"ok"`
		Out   string `json:"out"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i, e := range exprs {
		got, err := renderSrc(t, nil, "{{ "+e+" }}")
		w := want[i]
		switch {
		case w.OK && err != nil:
			t.Errorf("%s: error %v, jinja2 renders %q", e, err, w.Out)
		case w.OK && got != w.Out:
			t.Errorf("%s: %q, jinja2 %q", e, got, w.Out)
		case !w.OK && err == nil:
			t.Errorf("%s: renders %q, jinja2 fails: %s", e, got, w.Error)
		case !w.OK && !strings.Contains(err.Error(), "MAX_RANGE (100000)"):
			t.Errorf("%s: error %v, jinja2: %s", e, err, w.Error)
		}
	}
}

// Runaway templates fail with an error, without exhausting the stack or
// memory.
func TestTemplateLimits(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"recursive macro", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError"},
		{"mutually recursive macros", "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n) }}{% endmacro %}{{ a(0) }}", "RecursionError"},
		{"huge tojson indent", "{{ messages|tojson(indent=100000000) }}", "tojson"},
		{"tojson indent within limits but output too big", "{{ [[[[[[[[1]]]]]]]]|tojson(indent=10000000) }}", "tojson"},
		{"rendered size", "{% for i in range(100000) %}{% for j in range(100000) %}" + strings.Repeat("x", 1000) + "{% endfor %}{% endfor %}", "exceeds"},
		{"rendered size through expressions", "{% for i in range(100000) %}{% for j in range(100000) %}{{ '" + strings.Repeat("y", 1000) + "' ~ i }}{% endfor %}{% endfor %}", "exceeds"},
		{"deeply nested brackets", "{{ " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + " }}", "nested deeper"},
		{"deeply nested blocks", strings.Repeat("{% if true %}", 300) + "x" + strings.Repeat("{% endif %}", 300), "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := renderSrc(t, nil, tc.src); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.want)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("no error after 60 s")
			}
		})
	}
	// Recursion within the limit still works.
	if got, err := renderSrc(t, nil, "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(50) }}"); err != nil || !strings.HasSuffix(got, "4950") {
		t.Errorf("depth-50 recursion: %q, %v", got, err)
	}
}

// A cancelled context stops a render that produces no output.
func TestRenderCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := renderSrc(t, ctx, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("cancellation took %v", el)
	}
}
