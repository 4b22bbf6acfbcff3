package chat

import (
	"strings"
	"testing"
	"time"
)

const runaway = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"

// A template's loops and macro calls are bounded by a step budget and a
// time budget, with an error naming the template; a 1e10-step double loop
// used to render until killed.
func TestRenderBudgets(t *testing.T) {
	tmpl, err := Compile(runaway)
	if err != nil {
		t.Fatal(err)
	}
	tmpl = tmpl.WithName("evil.jinja")
	for _, c := range []struct {
		name string
		t    *Template
		want string
	}{
		{"default steps", tmpl, "step limit"},
		{"time", tmpl.WithLimits(1<<60, 300*time.Millisecond), "time limit"},
		{"macro steps", mustCompile(t, "{% macro f() %}{% endmacro %}{% for i in range(100000) %}{{ f() }}{% endfor %}").WithLimits(5000, 0), "step limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.t.Render([]Message{{Role: "user", Content: "hi"}}, RenderOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if c.name != "macro steps" && !strings.Contains(err.Error(), "evil.jinja (sha256 ") {
				t.Errorf("error %q does not name the template", err)
			}
			if el := time.Since(start); el > MaxRenderTime+5*time.Second {
				t.Errorf("took %v", el)
			}
		})
	}
	// Unnamed, the error gives the template's hash.
	_, err = tmpl.WithName("").WithLimits(1000, 0).Render(nil, RenderOptions{})
	if err == nil || !strings.Contains(err.Error(), "sha256 "+tmpl.SHA256()[:12]) {
		t.Errorf("unnamed: %v", err)
	}
	// A template within the budgets renders.
	if _, err := mustCompile(t, "{% for i in range(1000) %}{% for j in range(100) %}{% endfor %}{% endfor %}ok").Render(nil, RenderOptions{}); err != nil {
		t.Errorf("1e5 steps: %v", err)
	}
}

func mustCompile(t *testing.T, src string) *Template {
	t.Helper()
	tmpl, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}
