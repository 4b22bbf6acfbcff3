package pairs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/dpo-go/dpo/internal/testrefs"
)

// pyDecode is run by Debian's /usr/bin/python3: for every JSON line it
// prints the prompt/chosen/rejected strings (or messages' role and content)
// as hex of their UTF-8, or {"bad": field} when a string holds a lone
// surrogate that cannot be encoded as UTF-8.
const pyDecode = `
import json, sys
def enc(s, field):
    try:
        return s.encode("utf-8").hex()
    except UnicodeEncodeError:
        raise ValueError(field)
def conv(v, field):
    if isinstance(v, str):
        return {"s": enc(v, field)}
    return {"m": [[enc(m["role"], "%s[%d].role" % (field, i)), enc(m["content"], "%s[%d].content" % (field, i))] for i, m in enumerate(v)]}
for line in sys.stdin.buffer.read().decode("utf-8").split("\n"):
    if not line.strip():
        continue
    ex = json.loads(line)
    try:
        out = {k: conv(ex[k], k) for k in ("prompt", "chosen", "rejected")}
    except ValueError as e:
        out = {"bad": str(e)}
    print(json.dumps(out))
`

// TestJSONDecodingMatchesPython decodes tricky JSON strings (escapes,
// surrogate pairs, lone surrogates, duplicate keys, raw UTF-8) and compares
// the text with what Python's json module, which TRL's datasets use, reads.
func TestJSONDecodingMatchesPython(t *testing.T) {
	py := testrefs.Path(t, "/usr/bin/python3")
	lines := []string{
		`{"prompt": "a\nb\tc\"d\\e\/f\b\f\r", "chosen": "\u00e9\u00E9", "rejected": "x"}`,
		`{"prompt": "\ud83d\ude00 \uD83D\uDE00", "chosen": "\u0000nul", "rejected": "日本語 ñ 😀"}`,
		`{"prompt": "\\ud800", "chosen": "\\\ud83d\ude00", "rejected": "\\\\u0041"}`,
		`{"prompt": "p", "chosen": "first", "rejected": "r", "chosen": "second"}`,
		`  {  "prompt" :  [ {"role":"user","content":"\u2028\u2029"} ] , "chosen":[{"content":"\ufeffbom","role":"assistant"}],"rejected":[{"role":"assistant","content":""}]}  `,
		`{"prompt": "\ud800", "chosen": "c", "rejected": "r"}`,
		`{"prompt": "p", "chosen": "\udfff\ud800", "rejected": "r"}`,
		`{"prompt": "p", "chosen": "c", "rejected": "\ud83d\u0041"}`,
		`{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "\udc00"}], "rejected": [{"role": "assistant", "content": "r"}]}`,
		`{"prompt": "p", "chosen": "c\ud83d", "rejected": "r"}`,
	}
	data := strings.Join(lines, "\n") + "\n"
	cmd := exec.Command(py, "-c", pyDecode)
	cmd.Stdin = strings.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	refs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(refs) != len(lines) {
		t.Fatalf("python printed %d lines, want %d", len(refs), len(lines))
	}

	r, err := Open("-", strings.NewReader(data), Options{Format: "jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	gots, err := readAll(t, r)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(x Text) any {
		if !x.IsChat() {
			return map[string]any{"s": hex.EncodeToString([]byte(x.Str))}
		}
		ms := []any{}
		for _, m := range x.Messages {
			ms = append(ms, []any{hex.EncodeToString([]byte(m.Role)), hex.EncodeToString([]byte(m.Content))})
		}
		return map[string]any{"m": ms}
	}
	for i, g := range gots {
		var ref map[string]any
		if err := json.Unmarshal([]byte(refs[i]), &ref); err != nil {
			t.Fatal(err)
		}
		if bad, ok := ref["bad"]; ok {
			var re *RowError
			if !errors.As(g.err, &re) || !errors.Is(re, ErrInvalidUTF8) || re.Field != bad {
				t.Errorf("line %d: Python cannot encode field %v as UTF-8; got %v", i+1, bad, g.err)
			}
			continue
		}
		if g.err != nil {
			t.Errorf("line %d: %v", i+1, g.err)
			continue
		}
		mine := map[string]any{"prompt": conv(g.ex.Prompt), "chosen": conv(g.ex.Chosen), "rejected": conv(g.ex.Rejected)}
		// Round-trip through JSON so both sides have the same Go types.
		b, _ := json.Marshal(mine)
		var norm map[string]any
		json.Unmarshal(b, &norm)
		if !reflect.DeepEqual(norm, ref) {
			t.Errorf("line %d:\n got    %s\n python %s", i+1, b, refs[i])
		}
	}
}
