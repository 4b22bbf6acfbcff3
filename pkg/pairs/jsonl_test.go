package pairs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// want is one expected outcome of Next: an Example or a row error.
type want struct {
	ex    *Example
	err   error  // an Err* kind for a RowError
	field string // RowError.Field
	line  int64  // RowError.Line (JSON Lines only)
	msg   string // a substring of the error message
}

func ok(ex Example) want { return want{ex: &ex} }

func rowErr(field string, kind error, msg string) want {
	return want{err: kind, field: field, msg: msg}
}

// got is one outcome of Next.
type got struct {
	ex  Example
	err error
}

// readAll calls Next until io.EOF or a fatal error, which it returns.
func readAll(t testing.TB, r Reader) ([]got, error) {
	t.Helper()
	var out []got
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("reader does not end")
		}
		ex, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			return out, err
		}
		out = append(out, got{ex, err})
	}
}

// check compares outcomes; lines says whether RowError.Line is checked.
func check(t *testing.T, file string, gots []got, wants []want, lines bool) {
	t.Helper()
	if len(gots) != len(wants) {
		for _, g := range gots {
			t.Logf("got %+v %v", g.ex, g.err)
		}
		t.Fatalf("got %d outcomes, want %d", len(gots), len(wants))
	}
	for i, w := range wants {
		g := gots[i]
		if w.ex != nil {
			if g.err != nil {
				t.Errorf("row %d: unexpected error %v", i, g.err)
				continue
			}
			if !reflect.DeepEqual(g.ex, *w.ex) {
				t.Errorf("row %d:\n got  %#v\n want %#v", i, g.ex, *w.ex)
			}
			continue
		}
		var re *RowError
		if !errors.As(g.err, &re) {
			t.Errorf("row %d: got %#v, want a RowError %v", i, g.ex, w.err)
			continue
		}
		if !errors.Is(re, w.err) {
			t.Errorf("row %d: error %q is not %v", i, re, w.err)
		}
		if re.Field != w.field {
			t.Errorf("row %d: field %q, want %q (%v)", i, re.Field, w.field, re)
		}
		if re.Row != int64(i) || g.ex.Row != int64(i) {
			t.Errorf("row %d: RowError.Row = %d, Example.Row = %d", i, re.Row, g.ex.Row)
		}
		if re.File != file {
			t.Errorf("row %d: file %q, want %q", i, re.File, file)
		}
		if !lines && re.Line != 0 {
			t.Errorf("row %d: line %d, want 0", i, re.Line)
		}
		if lines && w.line != 0 && re.Line != w.line {
			t.Errorf("row %d: line %d, want %d", i, re.Line, w.line)
		}
		if !strings.Contains(re.Error(), w.msg) {
			t.Errorf("row %d: error %q does not contain %q", i, re.Error(), w.msg)
		}
	}
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonCase is a set of JSON records (one per line, no blank lines) and
// what reading them must give; it runs as JSON Lines and as a JSON array.
type jsonCase struct {
	name  string
	lines []string
	want  []want
}

var jsonCases = []jsonCase{
	{"standard", []string{
		`{"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}`,
	}, []want{ok(Example{ID: "0", Prompt: s("The sky is"), Chosen: s(" blue."), Rejected: s(" green.")})}},
	{"standard empty prompt", []string{
		`{"prompt": "", "chosen": "a", "rejected": "b"}`,
	}, []want{ok(Example{ID: "0", Prompt: s(""), Chosen: s("a"), Rejected: s("b")})}},
	{"conversational", []string{
		`{"prompt": [{"role": "user", "content": "What color is the sky?"}], "chosen": [{"role": "assistant", "content": "It is blue."}], "rejected": [{"role": "assistant", "content": "It is green."}]}`,
		`{"prompt": [{"role": "system", "content": ""}, {"role": "user", "content": "Hi", "name": "x"}], "chosen": [{"content": "Hello", "role": "assistant"}], "rejected": [{"role": "assistant", "content": "Go away"}, {"role": "user", "content": "?"}]}`,
	}, []want{
		ok(Example{ID: "0", Prompt: m("user", "What color is the sky?"), Chosen: m("assistant", "It is blue."), Rejected: m("assistant", "It is green.")}),
		ok(Example{ID: "1", Row: 1, Prompt: withExtra(m("system", "", "user", "Hi"), 1, `{"name":"x"}`), Chosen: m("assistant", "Hello"), Rejected: m("assistant", "Go away", "user", "?")}),
	}},
	{"implicit prompt", []string{
		`{"chosen": "The sky is blue.", "rejected": "The sky is green."}`,
		`{"chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "B"}]}`,
		`{"prompt": null, "chosen": "abc1", "rejected": "abc2"}`,
	}, []want{
		ok(Example{ID: "0", Prompt: s("The sky is"), Chosen: s(" blue."), Rejected: s(" green."), ImplicitPrompt: true}),
		ok(Example{ID: "1", Row: 1, Prompt: m("user", "Q"), Chosen: m("assistant", "A"), Rejected: m("assistant", "B"), ImplicitPrompt: true}),
		ok(Example{ID: "2", Row: 2, Prompt: s("abc"), Chosen: s("1"), Rejected: s("2"), ImplicitPrompt: true}),
	}},
	// TRL's maybe_extract_prompt: a string prompt beside conversational
	// completions is ignored and the prompt extracted from them.
	{"string prompt with full conversations", []string{
		`{"prompt": "Q", "chosen": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "B"}]}`,
		`{"prompt": "Q", "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]}`,
		`{"prompt": [{"role": "user", "content": "Q"}], "chosen": "Q A", "rejected": "Q B"}`,
		`{"prompt": [{"role": "user", "content": "Q"}], "chosen": "A", "rejected": "B"}`,
	}, []want{
		ok(Example{ID: "0", Prompt: m("user", "Q"), Chosen: m("assistant", "A"), Rejected: m("assistant", "B"), ImplicitPrompt: true}),
		rowErr("prompt", ErrMixedKinds, `field "prompt": prompt is a string but chosen and rejected are a list of messages`),
		ok(Example{ID: "2", Row: 2, Prompt: s("Q"), Chosen: s(" A"), Rejected: s(" B"), ImplicitPrompt: true}),
		rowErr("prompt", ErrMixedKinds, `prompt is a list of messages but chosen and rejected are a string`),
	}},
	{"ids", []string{
		`{"id": "abc", "chosen": "Q a", "rejected": "Q b"}`,
		`{"id": 42, "chosen": "Q a", "rejected": "Q b"}`,
		`{"id": -7, "chosen": "Q a", "rejected": "Q b"}`,
		`{"id": 123456789012345678901234567890, "chosen": "Q a", "rejected": "Q b"}`,
		`{"id": null, "chosen": "Q a", "rejected": "Q b"}`,
		`{"chosen": "Q a", "rejected": "Q b", "extra": {"nested": [1, 2]}, "score": 0.5}`,
		`{"id": 1.5, "chosen": "Q a", "rejected": "Q b"}`,
		`{"id": true, "chosen": "Q a", "rejected": "Q b"}`,
		`{"id": 1e3, "chosen": "Q a", "rejected": "Q b"}`,
	}, []want{
		ok(Example{ID: "abc", Prompt: s("Q"), Chosen: s(" a"), Rejected: s(" b"), ImplicitPrompt: true}),
		ok(Example{ID: "42", Row: 1, Prompt: s("Q"), Chosen: s(" a"), Rejected: s(" b"), ImplicitPrompt: true}),
		ok(Example{ID: "-7", Row: 2, Prompt: s("Q"), Chosen: s(" a"), Rejected: s(" b"), ImplicitPrompt: true}),
		ok(Example{ID: "123456789012345678901234567890", Row: 3, Prompt: s("Q"), Chosen: s(" a"), Rejected: s(" b"), ImplicitPrompt: true}),
		ok(Example{ID: "4", Row: 4, Prompt: s("Q"), Chosen: s(" a"), Rejected: s(" b"), ImplicitPrompt: true}),
		ok(Example{ID: "5", Row: 5, Prompt: s("Q"), Chosen: s(" a"), Rejected: s(" b"), ImplicitPrompt: true}),
		rowErr("id", ErrType, "expected a string or an integer, got number 1.5"),
		rowErr("id", ErrType, "got boolean"),
		rowErr("id", ErrType, "got number 1e3"),
	}},
	{"unicode", []string{
		`{"prompt": "\u00e9\ud83d\ude00", "chosen": "\\ud800 is text", "rejected": "日本"}`,
		`{"prompt": "x", "chosen": "\ud800", "rejected": "b"}`,
		`{"prompt": "x", "chosen": "a", "rejected": "\udc00\ud800"}`,
		`{"prompt": "x", "chosen": "a", "rejected": "b\ud83dx"}`,
	}, []want{
		ok(Example{ID: "0", Prompt: s("é😀"), Chosen: s(`\ud800 is text`), Rejected: s("日本")}),
		rowErr("chosen", ErrInvalidUTF8, `unpaired UTF-16 surrogate escape \ud800`),
		rowErr("rejected", ErrInvalidUTF8, `\udc00`),
		rowErr("rejected", ErrInvalidUTF8, `\ud83d`),
	}},
	{"type errors", []string{
		`{"prompt": "p", "chosen": 5, "rejected": "b"}`,
		`{"prompt": "p", "chosen": "a", "rejected": true}`,
		`{"prompt": {"role": "user"}, "chosen": "a", "rejected": "b"}`,
		`{"prompt": "p", "chosen": ["a"], "rejected": "b"}`,
		`{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}, {"content": "b"}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": "p", "chosen": [{"role": "assistant"}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": "p", "chosen": [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": "p", "chosen": [{"role": "assistant", "content": null}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": "p", "chosen": [{"role": 1, "content": "a"}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": "p", "chosen": [{"role": "", "content": "a"}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "c"}, null]}`,
	}, []want{
		rowErr("chosen", ErrType, `field "chosen": expected a string or a list of messages, got number`),
		rowErr("rejected", ErrType, "got boolean"),
		rowErr("prompt", ErrType, "got object"),
		rowErr("chosen[0]", ErrType, "expected a message object with role and content, got string"),
		rowErr("chosen[1].role", ErrMissing, "missing"),
		rowErr("chosen[0].content", ErrMissing, "missing"),
		rowErr("chosen[0].content[0].type", ErrType, `content part of type "image_url" cannot be represented`),
		rowErr("chosen[0].content", ErrMissing, "is null and the message has no tool_calls"),
		rowErr("chosen[0].role", ErrType, "expected a string, got number"),
		rowErr("chosen[0].role", ErrEmpty, "empty role"),
		rowErr("rejected[1]", ErrType, "got null"),
	}},
	{"missing and empty", []string{
		`{"prompt": "p", "rejected": "b"}`,
		`{"prompt": "p", "chosen": "a"}`,
		`{"prompt": "p", "chosen": null, "rejected": "b"}`,
		`{"prompt": "p", "chosen": "", "rejected": "b"}`,
		`{"prompt": "p", "chosen": "a", "rejected": ""}`,
		`{"prompt": [{"role": "user", "content": "q"}], "chosen": [], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"prompt": [], "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{}`,
	}, []want{
		rowErr("chosen", ErrMissing, `field "chosen": missing`),
		rowErr("rejected", ErrMissing, `field "rejected": missing`),
		rowErr("chosen", ErrMissing, "is null"),
		rowErr("chosen", ErrEmpty, "empty completion"),
		rowErr("rejected", ErrEmpty, "empty completion"),
		rowErr("chosen", ErrEmpty, "empty list of messages"),
		rowErr("prompt", ErrEmpty, "empty list of messages"),
		rowErr("chosen", ErrMissing, "missing"),
	}},
	{"kinds and extraction errors", []string{
		`{"prompt": "p", "chosen": "a", "rejected": [{"role": "assistant", "content": "c"}]}`,
		`{"chosen": [{"role": "assistant", "content": "c"}], "rejected": "b"}`,
		`{"chosen": "same", "rejected": "same"}`,
		`{"chosen": "abc", "rejected": "abcd"}`,
		`{"chosen": [{"role": "user", "content": "Q"}], "rejected": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}`,
		`{"chosen": [{"role": "user", "content": "Q1"}], "rejected": [{"role": "user", "content": "Q2"}]}`,
	}, []want{
		rowErr("rejected", ErrMixedKinds, "chosen is a string but rejected is a list of messages"),
		rowErr("rejected", ErrMixedKinds, "chosen is a list of messages but rejected is a string"),
		rowErr("", ErrNoPrompt, "chosen and rejected are identical"),
		rowErr("", ErrNoPrompt, "chosen is a prefix of rejected"),
		rowErr("", ErrNoPrompt, "chosen is a prefix of rejected"),
		rowErr("", ErrNoPrompt, "differ from their first message"),
	}},
	{"not objects", []string{
		`[1, 2]`,
		`"text"`,
		`null`,
		`{"prompt": "p", "chosen": "a", "rejected": "b"}`,
	}, []want{
		rowErr("", ErrType, "expected a JSON object, got array"),
		rowErr("", ErrType, "got string"),
		rowErr("", ErrType, "got null"),
		ok(Example{ID: "3", Row: 3, Prompt: s("p"), Chosen: s("a"), Rejected: s("b")}),
	}},
}

func TestJSONL(t *testing.T) {
	for _, tc := range jsonCases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(strings.Join(tc.lines, "\n") + "\n")
			p := writeFile(t, t.TempDir(), "data.jsonl", data)
			r, err := Open(p, nil, Options{Format: "jsonl"})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			gots, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			wants := slicesClone(tc.want)
			for i := range wants {
				wants[i].line = int64(i + 1)
			}
			check(t, p, gots, wants, true)
		})
	}
}

func slicesClone(w []want) []want { return append([]want(nil), w...) }

// TestJSONLLines checks line numbers, blank lines, CRLF, a BOM, a last
// line without a newline, malformed lines, and recovery after row errors.
func TestJSONLLines(t *testing.T) {
	data := "\xef\xbb\xbf" + `{"prompt": "p", "chosen": "a", "rejected": "b"}` + "\r\n" +
		"\r\n" +
		"   \n" +
		`{"prompt": "p", "chosen": 1, "rejected": "b"}` + "\n" +
		`{"prompt": "p", "chosen": "a", ` + "\n" +
		"\n" +
		`{"prompt": "p", "chosen": "a` + "\xff" + `b", "rejected": "b"}` + "\n" +
		`{"id": 9, "prompt": "p", "chosen": "a", "rejected": "b"}`
	p := writeFile(t, t.TempDir(), "data.jsonl", []byte(data))
	r, err := Open(p, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gots, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, p, gots, []want{
		{ex: &Example{ID: "0", Prompt: s("p"), Chosen: s("a"), Rejected: s("b")}},
		{err: ErrType, field: "chosen", line: 4, msg: p + `:4: field "chosen": expected a string or a list of messages, got number`},
		{err: ErrSyntax, field: "", line: 5, msg: p + ":5: malformed JSON"},
		{err: ErrInvalidUTF8, field: "chosen", line: 7, msg: `:7: field "chosen": invalid UTF-8 (byte 0xff at offset 1 of the string)`},
		{ex: &Example{ID: "9", Row: 4, Prompt: s("p"), Chosen: s("a"), Rejected: s("b")}},
	}, true)
	var re *RowError
	errors.As(gots[2].err, &re)
	if string(re.Raw) != `{"prompt": "p", "chosen": "a", ` {
		t.Errorf("Raw = %q", re.Raw)
	}
	if gots[1].ex.ID != "1" {
		t.Errorf("ID of a bad row = %q, want the row number", gots[1].ex.ID)
	}
}

// TestJSONLLongLine reads a line longer than the read buffer.
func TestJSONLLongLine(t *testing.T) {
	long := strings.Repeat("x", 3*bufSize+17)
	data := `{"prompt": "` + long + `", "chosen": "a", "rejected": "b"}` + "\n" + `{"prompt": "q", "chosen": "a", "rejected": "b"}`
	r, err := Open("-", strings.NewReader(data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gots, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	check(t, StdinName, gots, []want{
		ok(Example{ID: "0", Prompt: s(long), Chosen: s("a"), Rejected: s("b")}),
		ok(Example{ID: "1", Row: 1, Prompt: s("q"), Chosen: s("a"), Rejected: s("b")}),
	}, true)
}

func TestRowErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    RowError
		want string
	}{
		{RowError{File: "data.jsonl", Row: 16, Line: 17, Field: "chosen", Err: errors.New("expected a string or a list of messages, got number")},
			`data.jsonl:17: field "chosen": expected a string or a list of messages, got number`},
		{RowError{File: "d.parquet", Row: 3, Field: "chosen[1].content", Err: errors.New("is null")},
			`d.parquet: row 3: field "chosen[1].content": is null`},
		{RowError{File: "d.json", Row: 0, Err: errors.New("malformed JSON")}, `d.json: row 0: malformed JSON`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestJSONLEmpty(t *testing.T) {
	for _, data := range []string{"", "\n\n", "  \r\n"} {
		r, err := Open("-", strings.NewReader(data), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%q: got %v, want io.EOF", data, err)
		}
		r.Close()
	}
}

// withExtra sets message i's Extra (other keys, kept for the template).
func withExtra(t Text, i int, extra string) Text {
	t.Messages[i].Extra = extra
	return t
}
