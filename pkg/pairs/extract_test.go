package pairs

import (
	"errors"
	"reflect"
	"testing"

	"github.com/dpo-go/dpo/pkg/chat"
)

func msgs(rc ...string) []chat.Message {
	m := make([]chat.Message, 0, len(rc)/2)
	for i := 0; i+1 < len(rc); i += 2 {
		m = append(m, chat.Message{Role: rc[i], Content: rc[i+1]})
	}
	return m
}

func s(v string) Text             { return Text{Str: v} }
func m(rc ...string) Text         { return Text{Messages: msgs(rc...)} }
func triple(p, c, r Text) [3]Text { return [3]Text{p, c, r} }

// The expected values are derived by hand from TRL's extract_prompt
// (trl/data_utils.py): walk both sequences to the first index where they
// differ; if the previous element is the one-character string " ", step
// back by one; prompt = chosen[:idx], completions = the rests.
func TestExtractPrompt(t *testing.T) {
	tests := []struct {
		name             string
		chosen, rejected Text
		want             [3]Text
		err              error
	}{
		// TRL's own docs example: the space before the completions stays with them.
		{"space boundary", s("The sky is blue."), s("The sky is green."), triple(s("The sky is"), s(" blue."), s(" green.")), nil},
		{"space boundary QA", s("Q: 2+2? A: 4"), s("Q: 2+2? A: 5"), triple(s("Q: 2+2? A:"), s(" 4"), s(" 5")), nil},
		{"no space at boundary", s("abc1"), s("abc2"), triple(s("abc"), s("1"), s("2")), nil},
		// Only one space moves: "Hi  x" differs at index 4, index 3 is " ".
		{"two spaces", s("Hi  x"), s("Hi  y"), triple(s("Hi "), s(" x"), s(" y")), nil},
		{"newline is not moved", s("Q:\nyes"), s("Q:\nno"), triple(s("Q:\n"), s("yes"), s("no")), nil},
		{"tab is not moved", s("Q:\tyes"), s("Q:\tno"), triple(s("Q:\t"), s("yes"), s("no")), nil},
		{"nbsp is not moved", s("Q:\u00a0yes"), s("Q:\u00a0no"), triple(s("Q:\u00a0"), s("yes"), s("no")), nil},
		// Python compares code points: é (C3 A9) and è (C3 A8) share a first
		// byte but differ at code point 3.
		{"code points not bytes", s("café au lait"), s("cafè noir"), triple(s("caf"), s("é au lait"), s("è noir")), nil},
		{"multibyte then space", s("日本 語"), s("日本 人"), triple(s("日本"), s(" 語"), s(" 人")), nil},
		{"emoji", s("ok 😀!"), s("ok 😡!"), triple(s("ok"), s(" 😀!"), s(" 😡!")), nil},
		{"differ at first char", s("Yes"), s("No"), triple(s(""), s("Yes"), s("No")), nil},
		// TRL's chosen[idx-1] with idx 0 is chosen[-1] in Python (the last
		// character); we do not wrap around.
		{"differ at first char, chosen ends with space", s("Yes "), s("No"), triple(s(""), s("Yes "), s("No")), nil},
		{"identical strings", s("same"), s("same"), [3]Text{}, ErrNoPrompt},
		{"chosen prefix of rejected", s("abc"), s("abcd"), [3]Text{}, ErrNoPrompt},
		{"rejected prefix of chosen", s("abc d"), s("abc"), [3]Text{}, ErrNoPrompt},
		{"mixed kinds", s("abc"), m("user", "abc"), [3]Text{}, ErrMixedKinds},

		// TRL's maybe_extract_prompt docstring example.
		{"messages docs example",
			m("user", "What color is the sky?", "assistant", "It is blue."),
			m("user", "What color is the sky?", "assistant", "It is green."),
			triple(m("user", "What color is the sky?"), m("assistant", "It is blue."), m("assistant", "It is green.")), nil},
		{"messages multi-turn",
			m("system", "Be brief.", "user", "Hi", "assistant", "Hello", "user", "2+2?", "assistant", "4"),
			m("system", "Be brief.", "user", "Hi", "assistant", "Hello", "user", "2+2?", "assistant", "5"),
			triple(m("system", "Be brief.", "user", "Hi", "assistant", "Hello", "user", "2+2?"), m("assistant", "4"), m("assistant", "5")), nil},
		{"messages differ in several turns",
			m("user", "Q", "assistant", "a", "user", "more", "assistant", "b"),
			m("user", "Q", "assistant", "c"),
			triple(m("user", "Q"), m("assistant", "a", "user", "more", "assistant", "b"), m("assistant", "c")), nil},
		// Equality is on whole messages: same content, another role differs.
		{"messages role differs",
			m("user", "Q", "assistant", "A"),
			m("user", "Q", "tool", "A"),
			triple(m("user", "Q"), m("assistant", "A"), m("tool", "A")), nil},
		// A trailing space inside a message's content is not a " " element.
		{"messages content with trailing space",
			m("user", "Q ", "assistant", "A"),
			m("user", "Q ", "assistant", "B"),
			triple(m("user", "Q "), m("assistant", "A"), m("assistant", "B")), nil},
		{"messages identical", m("user", "Q", "assistant", "A"), m("user", "Q", "assistant", "A"), [3]Text{}, ErrNoPrompt},
		{"messages prefix", m("user", "Q"), m("user", "Q", "assistant", "A"), [3]Text{}, ErrNoPrompt},
		{"messages differ at first", m("user", "Q1", "assistant", "A"), m("user", "Q2", "assistant", "A"), [3]Text{}, ErrNoPrompt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, c, r, err := ExtractPrompt(tc.chosen, tc.rejected)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := triple(p, c, r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			// The split loses nothing.
			if !p.IsChat() && (p.Str+c.Str != tc.chosen.Str || p.Str+r.Str != tc.rejected.Str) {
				t.Errorf("prompt+completion does not rebuild the input")
			}
		})
	}
}
