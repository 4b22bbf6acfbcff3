package chat

import (
	"encoding/json"
	"os"
	"testing"
)

func TestProbe(t *testing.T) {
	data, _ := os.ReadFile("/tmp/probe/py.json")
	var rs []struct {
		Src string
		Out *string
		Err string
	}
	json.Unmarshal(data, &rs)
	msgs := []Message{{"system", "sys"}, {"user", "Hi there"}, {"assistant", "Yo"}}
	for _, r := range rs {
		tm, err := Compile(r.Src)
		var got string
		if err == nil {
			got, err = tm.Render(msgs, RenderOptions{BOSToken: "<s>"})
		}
		switch {
		case r.Out == nil && err != nil:
		case r.Out == nil:
			t.Logf("SRC %s\n   py ERR %s\n   go %q", r.Src, r.Err, got)
		case err != nil:
			t.Logf("SRC %s\n   py %q\n   go ERR %v", r.Src, *r.Out, err)
		case got != *r.Out:
			t.Logf("SRC %s\n   py %q\n   go %q", r.Src, *r.Out, got)
		}
	}
}
