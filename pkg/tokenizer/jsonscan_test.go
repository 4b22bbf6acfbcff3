package tokenizer

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestParseVocabMerges compares the hand-written scanner with
// encoding/json on escapes, surrogates and both merges formats.
func TestParseVocabMerges(t *testing.T) {
	vocabs := []string{
		`{}`, `{"a":0,"b":1}`, ` { "\u0120a" : 5 , "\"q\\" : 7, "\/": 8 }`,
		`{"\ud83e\udd17":1,"\n\t\r\b\f":2}`, `{"é":3}`,
	}
	for _, v := range vocabs {
		got, err := parseVocab(json.RawMessage(v))
		var want map[string]int32
		if err2 := json.Unmarshal([]byte(v), &want); err2 != nil || err != nil {
			t.Fatalf("%s: %v / %v", v, err, err2)
		}
		if !maps.Equal(got, want) {
			t.Errorf("parseVocab(%s) = %v, want %v", v, got, want)
		}
	}
	merges := []struct {
		in   string
		want [][2]string
	}{
		{`["a b", "\u0120 t"]`, [][2]string{{"a", "b"}, {"Ġ", "t"}}},
		{`[["a","b"],["c d","e"]]`, [][2]string{{"a", "b"}, {"c d", "e"}}},
		{`["a b c"]`, [][2]string{{"a", "b c"}}},
		{`[]`, nil},
	}
	for _, c := range merges {
		got, err := parseMerges(json.RawMessage(c.in))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseMerges(%s) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`{"a":}`, `{"a":1.5}`, `{"a" 1}`, `{"a":1`, `{"a":"x"}`, `{"\x":1}`, `{"\u12":1}`} {
		if _, err := parseVocab(json.RawMessage(bad)); err == nil {
			t.Errorf("parseVocab(%s) accepted bad input", bad)
		}
	}
	for _, bad := range []string{`["ab"]`, `[["a"]]`, `[1]`, `["a b"`, `[["a","b","c"]]`} {
		if _, err := parseMerges(json.RawMessage(bad)); err == nil {
			t.Errorf("parseMerges(%s) accepted bad input", bad)
		}
	}
}
