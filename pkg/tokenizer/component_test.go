package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// componentCase mirrors one entry of testdata/components/cases.json: a real
// base tokenizer.json with some top-level components and model fields
// replaced.
type componentCase struct {
	Name     string                     `json:"name"`
	Base     string                     `json:"base"`
	Override map[string]json.RawMessage `json:"override"`
	Model    map[string]json.RawMessage `json:"model"`
	Texts    []string                   `json:"texts"`
}

type componentExpected struct {
	Case        string  `json:"case"`
	Text        string  `json:"text"`
	IDs         []int32 `json:"ids"`
	IDsSpecial  []int32 `json:"ids_special"`
	Decoded     string  `json:"decoded"`
	DecodedSkip string  `json:"decoded_skip"`
}

// buildCase builds the tokenizer.json of a case exactly as gen.js does.
func buildCase(t *testing.T, c componentCase) []byte {
	t.Helper()
	data, err := os.ReadFile(testrefs.Tokenizer(t, c.Base))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	for k, v := range c.Override {
		top[k] = v
	}
	if len(c.Model) > 0 {
		var model map[string]json.RawMessage
		if err := json.Unmarshal(top["model"], &model); err != nil {
			t.Fatal(err)
		}
		for k, v := range c.Model {
			model[k] = v
		}
		if top["model"], err = json.Marshal(model); err != nil {
			t.Fatal(err)
		}
	}
	out, err := json.Marshal(top)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestComponentsAgainstHF checks every normalizer, pre-tokenizer, split
// behavior, added-token flag, post-processor, decoder and BPE option
// variant in testdata/components/cases.json against the outputs HF's Rust
// tokenizers produced for the same files (expected.jsonl, written by
// gen.js; regenerate with `node pkg/tokenizer/testdata/components/gen.js`).
func TestComponentsAgainstHF(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "components", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Cases []componentCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "components", "expected.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string][]componentExpected{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e componentExpected
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		want[e.Case] = append(want[e.Case], e)
	}
	for _, c := range spec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			tk, err := FromJSON(buildCase(t, c), c.Name)
			if err != nil {
				t.Fatalf("FromJSON: %v", err)
			}
			if len(want[c.Name]) == 0 {
				t.Fatal("no expected outputs; regenerate expected.jsonl")
			}
			for _, e := range want[c.Name] {
				if got := tk.Encode(e.Text, false); !slices.Equal(got, e.IDs) {
					t.Errorf("Encode(%q, false)\n got %v\nwant %v", e.Text, got, e.IDs)
				}
				if got := tk.Encode(e.Text, true); !slices.Equal(got, e.IDsSpecial) {
					t.Errorf("Encode(%q, true)\n got %v\nwant %v", e.Text, got, e.IDsSpecial)
				}
				if got := tk.Decode(e.IDsSpecial, false); got != e.Decoded {
					t.Errorf("Decode(ids of %q, false) = %q, want %q", e.Text, got, e.Decoded)
				}
				if got := tk.Decode(e.IDsSpecial, true); got != e.DecodedSkip {
					t.Errorf("Decode(ids of %q, true) = %q, want %q", e.Text, got, e.DecodedSkip)
				}
			}
		})
	}
}
