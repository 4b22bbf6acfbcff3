package chat

import (
	"strings"
	"testing"
)

func BenchmarkRender(b *testing.B) {
	cfg, err := LoadConfig("testdata/templates/mistral_like")
	if err != nil {
		b.Fatal(err)
	}
	tm, err := Compile(cfg.ChatTemplate)
	if err != nil {
		b.Fatal(err)
	}
	for _, turns := range []int{2, 16} {
		var msgs []Message
		for i := range turns {
			role := "user"
			if i%2 == 1 {
				role = "assistant"
			}
			msgs = append(msgs, Message{Role: role, Content: strings.Repeat("some content ", 20)})
		}
		b.Run(map[int]string{2: "turns=2", 16: "turns=16"}[turns], func(b *testing.B) {
			opts := cfg.RenderOptions()
			out, err := tm.Render(msgs, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tm.Render(msgs, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
