package pairs

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func seedJSON(f *testing.F, array bool) {
	for _, tc := range jsonCases {
		if array {
			f.Add(jsonArray(tc.lines))
		} else {
			f.Add([]byte(strings.Join(tc.lines, "\n")))
		}
		for _, l := range tc.lines {
			if array {
				f.Add([]byte("[" + l + "]"))
			} else {
				f.Add([]byte(l))
			}
		}
	}
}

// checkExample asserts the invariants every Example must satisfy.
func checkExample(t *testing.T, ex Example, row int64) {
	t.Helper()
	if ex.Row != row {
		t.Fatalf("Row = %d, want %d", ex.Row, row)
	}
	kind := ex.Chosen.IsChat()
	if ex.Rejected.IsChat() != kind || ex.Prompt.IsChat() != kind {
		t.Fatalf("mixed kinds: %#v", ex)
	}
	for _, x := range []Text{ex.Chosen, ex.Rejected} {
		if (kind && len(x.Messages) == 0) || (!kind && x.Str == "") {
			t.Fatalf("empty completion: %#v", ex)
		}
	}
	if kind && len(ex.Prompt.Messages) == 0 {
		t.Fatalf("empty conversational prompt: %#v", ex)
	}
	for _, x := range []Text{ex.Prompt, ex.Chosen, ex.Rejected} {
		if !utf8.ValidString(x.Str) {
			t.Fatalf("invalid UTF-8 in %q", x.Str)
		}
		for _, m := range x.Messages {
			if m.Role == "" || !utf8.ValidString(m.Role) || !utf8.ValidString(m.Content) {
				t.Fatalf("bad message %#v", m)
			}
		}
	}
}

// fuzzRead reads everything; fatal errors are allowed only when allowFatal.
func fuzzRead(t *testing.T, data []byte, format string, allowFatal bool) {
	r, err := Open("-", bytes.NewReader(data), Options{Format: format})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for row := int64(0); ; row++ {
		ex, err := r.Next()
		if err == io.EOF {
			return
		}
		var re *RowError
		switch {
		case err == nil:
			checkExample(t, ex, row)
		case errors.As(err, &re):
			if re.Row != row || ex.Row != row {
				t.Fatalf("RowError.Row = %d, Example.Row = %d, want %d", re.Row, ex.Row, row)
			}
			if re.Err == nil || re.Error() == "" {
				t.Fatal("empty RowError")
			}
		default:
			if !allowFatal {
				t.Fatalf("fatal error from in-memory JSON Lines: %v", err)
			}
			return
		}
	}
}

func FuzzJSONL(f *testing.F) {
	seedJSON(f, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, data, "jsonl", false)
	})
}

func FuzzJSONArray(f *testing.F) {
	seedJSON(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, data, "json", true)
	})
}

// FuzzExtractPrompt checks the extraction rule's invariants on strings.
func FuzzExtractPrompt(f *testing.F) {
	f.Add("The sky is blue.", "The sky is green.")
	f.Add("café", "cafè")
	f.Add("a ", "b")
	f.Fuzz(func(t *testing.T, c, r string) {
		if !utf8.ValidString(c) || !utf8.ValidString(r) {
			return
		}
		p, cr, rr, err := ExtractPrompt(s(c), s(r))
		if err != nil {
			if !errors.Is(err, ErrNoPrompt) || !(strings.HasPrefix(c, r) || strings.HasPrefix(r, c)) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if p.Str+cr.Str != c || p.Str+rr.Str != r || cr.Str == "" || rr.Str == "" {
			t.Fatalf("bad split %q %q %q", p.Str, cr.Str, rr.Str)
		}
		if !utf8.ValidString(p.Str) || !utf8.ValidString(cr.Str) {
			t.Fatalf("split inside a code point")
		}
		// The completions differ at their first code point, or right after
		// a moved space.
		c0, _ := utf8.DecodeRuneInString(cr.Str)
		r0, _ := utf8.DecodeRuneInString(rr.Str)
		if c0 == r0 {
			c1, _ := utf8.DecodeRuneInString(cr.Str[1:])
			r1, _ := utf8.DecodeRuneInString(rr.Str[1:])
			if c0 != ' ' || c1 == r1 {
				t.Fatalf("completions %q and %q start alike", cr.Str, rr.Str)
			}
		}
	})
}
