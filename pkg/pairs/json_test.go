package pairs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func jsonArray(lines []string) []byte {
	return []byte("[\n  " + strings.Join(lines, ",\n  ") + "\n]\n")
}

func TestJSONArray(t *testing.T) {
	for _, tc := range jsonCases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "data.json", jsonArray(tc.lines))
			r, err := Open(p, nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			gots, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			check(t, p, gots, tc.want, false)
			for i, g := range gots {
				var re *RowError
				if errors.As(g.err, &re) && !strings.Contains(string(re.Raw), "{") && !strings.Contains(string(re.Raw), tc.lines[i]) {
					t.Errorf("row %d: Raw %q is not the record", i, re.Raw)
				}
			}
		})
	}
}

func TestJSONArrayFatal(t *testing.T) {
	good := `{"prompt": "p", "chosen": "a", "rejected": "b"}`
	for _, tc := range []struct {
		name   string
		data   string
		format string
		rows   int    // examples before the fatal error
		msg    string // substring of the fatal error; "" means io.EOF
	}{
		{"empty array", "[]", "", 0, ""},
		{"empty array with space", " \n[ \n ]\n", "", 0, ""},
		{"bom", "\xef\xbb\xbf[" + good + "]", "", 1, ""},
		{"syntax error in second element", "[" + good + ", {\"chosen\": }, " + good + "]", "", 1, "malformed JSON in row 1"},
		{"missing comma", "[" + good + " " + good + "]", "", 1, "malformed JSON"},
		{"unterminated", "[" + good + ",", "", 1, "unexpected EOF"},
		{"unterminated no comma", "[" + good, "", 1, "malformed JSON"},
		{"trailing data", "[" + good + "] {}", "", 1, "unexpected data after the JSON array"},
		{"not an array", `{"a": 1}`, "json", 0, "expected a JSON array of objects"},
		{"scalar", `5`, "json", 0, "expected a JSON array of objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open("-", strings.NewReader(tc.data), Options{Format: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			gots, err := readAll(t, r)
			if len(gots) != tc.rows {
				t.Errorf("got %d rows before the end, want %d", len(gots), tc.rows)
			}
			if tc.msg == "" {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			var re *RowError
			if err == nil || errors.As(err, &re) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), StdinName) {
				t.Errorf("got error %v, want a fatal error naming %s and containing %q", err, StdinName, tc.msg)
			}
			// The error is sticky.
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("second Next: %v, want %v", err2, err)
			}
		})
	}
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCompression reads gzip and zstd inputs, whatever their file names
// say, from files and from stdin.
func TestCompression(t *testing.T) {
	lines := jsonCases[0].lines
	jsonl := []byte(strings.Join(lines, "\n") + "\n")
	first := jsonCases[0].want
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"data.jsonl.gz", gz(t, jsonl)},
		{"data.json.gz", gz(t, jsonArray(lines))},
		{"data.jsonl.zst", zst(t, jsonl)},
		{"data.zst", zst(t, jsonArray(lines))},
		{"misnamed.jsonl", zst(t, jsonArray(lines))},
		{"misnamed.json", gz(t, jsonl)},
		{"concatenated.jsonl.gz", append(gz(t, jsonl), gz(t, jsonl)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wants := first
			if strings.HasPrefix(tc.name, "concatenated") {
				second := *first[0].ex
				second.Row, second.ID = 1, "1"
				wants = []want{first[0], ok(second)}
			}
			p := writeFile(t, dir, tc.name, tc.data)
			for _, stdin := range []bool{false, true} {
				path, file, in := p, p, io.Reader(nil)
				if stdin {
					path, file, in = "-", StdinName, bytes.NewReader(tc.data)
				}
				r, err := Open(path, in, Options{})
				if err != nil {
					t.Fatal(err)
				}
				gots, err := readAll(t, r)
				if err != nil {
					t.Fatal(err)
				}
				check(t, file, gots, wants, false)
				if err := r.Close(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// A corrupt compressed stream is a fatal error, not a row error.
func TestCorruptCompression(t *testing.T) {
	jsonl := []byte(strings.Repeat(`{"prompt": "p", "chosen": "a", "rejected": "b"}`+"\n", 200))
	for name, data := range map[string][]byte{"gzip": gz(t, jsonl), "zstd": zst(t, jsonl)} {
		t.Run(name, func(t *testing.T) {
			bad := bytes.Clone(data)
			bad = bad[:len(bad)*2/3] // truncated
			r, err := Open("-", bytes.NewReader(bad), Options{})
			if err != nil {
				return // detected at open: fine
			}
			defer r.Close()
			_, err = readAll(t, r)
			var re *RowError
			if err == nil || errors.As(err, &re) {
				t.Fatalf("got %v, want a fatal error", err)
			}
			if !strings.Contains(err.Error(), StdinName) {
				t.Errorf("error %q does not name the input", err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("/nonexistent/data.jsonl", nil, Options{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/data.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open("-", strings.NewReader("{}"), Options{Format: "csv"}); err == nil || !strings.Contains(err.Error(), `unknown format "csv"`) {
		t.Errorf("bad format: %v", err)
	}
	if _, err := Open("-", strings.NewReader("hello world"), Options{}); err == nil || !strings.Contains(err.Error(), "cannot detect the format") {
		t.Errorf("unknown content: %v", err)
	}
	if _, err := Open("-", nil, Options{}); err == nil {
		t.Errorf("nil stdin: no error")
	}
}
