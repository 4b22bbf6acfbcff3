package chat

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"

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
			go func() {
				// The value limits are what these templates must hit; on a
				// loaded machine the time budget could stop them first.
				tm, err := Compile(tc.src)
				if err == nil {
					_, err = tm.WithLimits(0, 5*time.Minute).Render([]Message{{Role: "user", Content: "hi"}}, RenderOptions{})
				}
				done <- err
			}()
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

// Templates that build huge values without output fail with an error
// naming the limit instead of exhausting memory.
func TestValueLimits(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"string repetition", "{{ 'ab' * 1000000000 }}", "operator *"},
		{"repetition in set", "{% set x = 'ab' * 100000000 %}{{ x|length }}", "operator *"},
		{"repetition under concatenation", "{{ 'x' ~ 'ab' * 1000000000 }}", "operator *"},
		{"repetition in a call argument", "{{ ('ab' * 1000000000)|length }}", "operator *"},
		{"doubling with ~", "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}", "operator ~"},
		{"doubling with +", "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}", "operator +"},
		{"list doubling", "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}", "operator +"},
		{"list doubling in a macro", "{% macro d(l, n) %}{% if n > 0 %}{{ d(l + l, n - 1) }}{% endif %}{% endmacro %}{{ d([1, 2], 60) }}", "operator +"},
		{"many large strings", "{% set ns = namespace(l=[], s='x' * 30000000) %}{% for i in range(100000) %}{% set ns.l = ns.l + [ns.s ~ i] %}{% endfor %}{{ ns.l|length }}", "in all"},
		{"append in nested loops", "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% for j in range(100000) %}{% set _ = ns.l.append(i) %}{% endfor %}{% endfor %}", "append"},
		{"join of a long list", "{% set ns = namespace(l=['x' * 1000]) %}{% for i in range(11) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|join('y' * 100000)|length }}", "join"},
		{"join with a huge separator", "{{ range(100000)|join('x' * 10000000) }}", "join"},
		{"replace filter doubling", "{% set ns = namespace(s='ab') %}{% for i in range(100) %}{% set ns.s = ns.s|replace('a', 'aa') %}{% endfor %}{{ ns.s|length }}", "replace"},
		{"replace method with an empty pattern", "{% set s = 'x' * 10000000 %}{{ s.replace('', s)|length }}", "replace"},
		{"indent width", "{{ 'a\nb'|indent(10000000000) }}", "indent"},
		{"format doubling", "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = '{}{}'.format(ns.s, ns.s) %}{% endfor %}{{ ns.s|length }}", "format"},
		{"list that contains itself printed", "{% set l = [] %}{% set _ = l.append(l) %}{{ l }}", "nested deeper"},
		{"list that contains itself concatenated", "{% set l = [] %}{% set _ = l.append(l) %}{{ (l ~ '')|length }}", "nested deeper"},
		{"string to list", "{% set s = 'x' * 60000000 %}{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set _ = ns.l.append(s|list) %}{% endfor %}{{ ns.l|length }}", "list"},
		{"string split", "{% set s = 'x ' * 30000000 %}{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set _ = ns.l.append(s.split()) %}{% endfor %}{{ ns.l|length }}", "split"},
		{"string split on a separator", "{% set s = 'x,' * 30000000 %}{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set _ = ns.l.append(s.rsplit(',')) %}{% endfor %}{{ ns.l|length }}", "rsplit"},
		{"new large strings appended", "{% set s = 'x' * 60000000 %}{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set _ = ns.l.append(s.upper()) %}{% endfor %}{{ ns.l|length }}", "in all"},
		{"new large strings added to a list", "{% set s = 'x' * 60000000 %}{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [s|lower] %}{% endfor %}{{ ns.l|length }}", "in all"},
		{"dict growth", "{% set s = 'x' * 60000000 %}{% set d = {} %}{% for i in range(100000) %}{% set _ = d.update({'k': s|upper}) %}{% endfor %}{{ d|length }}", "in all"},
		{"new large strings held by recursive macro calls", "{% macro f(s, n) %}{% if n > 0 %}{{ f(s|lower, n - 1) }}{% endif %}{% endmacro %}{{ f('x' * 20000000, 199) }}", "macro call"},
		{"new large strings held by many variables", "{% set s = 'x' * 60000000 %}" + strings.Repeat("{% set a = s|upper %}{% set b = s[::-1] %}{% set c = [s.title(), a|lower] %}", 30), "built by a call, filter or subscript"},
		{"huge list printed", "{% set ns = namespace(l=['x' * 600]) %}{% for i in range(17) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l }}", "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				// The value limits are what these templates must hit; on a
				// loaded machine the time budget could stop them first.
				tm, err := Compile(tc.src)
				if err == nil {
					_, err = tm.WithLimits(0, 5*time.Minute).Render([]Message{{Role: "user", Content: "hi"}}, RenderOptions{})
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "nested deeper") {
					t.Fatalf("err %v, want one naming the limit and %q", err, tc.want)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("no error after 60 s")
			}
		})
	}
}

// The guarded operators compute what the engine computes unguarded, with
// the engine's grouping ("~" binds looser than "+", "*" tighter).
func TestGuardedOperatorsUnchanged(t *testing.T) {
	for _, e := range []string{
		"'ab' * 3", "3 * 4 + 2", "2 + 3 * 4", "'a' ~ 2 + 3", "'a' ~ 'b' * 2 ~ 'c'", "'x' + 'y' ~ 'z' * 2",
		"1 - 2 - 3 + 4", "-2 * 3 + 1", "(2 ** 3 * 2)|int", "(10 / 4 * 2)|int", "7 // 2 + 7 % 3 * 2", "(1 + 2) * 3",
		"[1, 2] + [3]|length", "([1, 2] + [3] + [4 * 2])|join(',')", "'a' if 1 + 1 == 2 else 'b' * 2",
		"'b' * 2 if 1 + 1 == 3 else 'c' ~ 'd' * 3", "{'k': 'v' * 2}['k'] ~ 'q'", "'x' * 2 in 'axxb'",
		"'%s' ~ 'y' * 2", "messages[0].content ~ '!' * 2", "messages|map(attribute='role')|join('+' * 2) ~ 'x'",
		"not 1 + 1 == 3", "'ab'|replace('a', 'c' * 2) + 'x'", "' x '.strip() * 2 + 'y'", "'a{}b'.format(1 + 1) * 2",
		"range(3)|join('-') ~ range(2)|list|length", "6 is divisibleby(1 + 2)", "(2 * 3) is not divisibleby(4)", "'a' ~ 'b' is string",
		"messages[0]['content'][1:] ~ messages[0].content[::-1] * 2", "messages|selectattr('role', 'equalto', 'u' ~ 'ser')|list|length", "('ab'|list + 'c'|list)|join('.')", "'xy'|indent(2 * 2, true) + 'z'",
	} {
		src := "{{ " + e + " }}"
		ref, err := jinja.Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		want, werr := ref.RenderValues(map[string]jinja.Value{"messages": jinja.NewList([]jinja.Value{jinja.FromGoValue(map[string]any{"role": "user", "content": "hi"})})})
		got, gerr := renderSrc(t, nil, src)
		if (werr != nil) != (gerr != nil) || got != want {
			t.Errorf("%s: %q (%v), the engine unguarded: %q (%v)", e, got, gerr, want, werr)
		}
	}
}

// Guarded operators in statements (macro defaults, loop filters, block
// sets, call blocks, conditions) render as the engine renders them.
func TestGuardedStatementsUnchanged(t *testing.T) {
	msgs := jinja.NewList([]jinja.Value{jinja.FromGoValue(map[string]any{"role": "user", "content": "hi"})})
	for _, src := range []string{
		"{% macro f(x=1 + 2, y='a' ~ 'b') %}{{ x }}{{ y * 2 }}{% endmacro %}{{ f() }}{{ f(2 * 3) }}",
		"{% for i in [1] + [2, 3] if i * 2 > 2 %}{{ i ~ ',' }}{% endfor %}",
		"{% macro g() %}{{ caller() * 2 }}{% endmacro %}{% call g() %}{{ 'q' ~ 1 }}{% endcall %}",
		"{% set x %}{{ 'z' * 3 }}{% endset %}{{ x + '!' }}",
		"{% if 'a' ~ 'b' == 'ab' and 1 + 1 == 2 %}yes{% elif 2 * 2 %}no{% endif %}",
		"{% for m in messages %}{{ loop.index0 + 1 ~ m['role'] + ':' ~ m.content * 2 }}{% endfor %}",
		"{% set ns = namespace(l=[]) %}{% for i in range(3) %}{% set _ = ns.l.append(i * 2) %}{% set _ = ns.l.insert(0, i) %}{% endfor %}{{ ns.l|join(',') }}",
		"{% set d = {'a': 1} %}{% set _ = d.update({'b': 2, 'a': 3}) %}{{ d|tojson }}{{ d.items()|list|length }}",
	} {
		ref, err := jinja.Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		want, werr := ref.RenderValues(map[string]jinja.Value{"messages": msgs})
		got, gerr := renderSrc(t, nil, src)
		if werr != nil || gerr != nil || got != want {
			t.Errorf("%s: %q (%v), the engine unguarded: %q (%v)", src, got, gerr, want, werr)
		}
	}
}
