package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// eosMarkers are end-of-sequence texts a decoded completion may end with.
var eosMarkers = []string{"<|eos|>", "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>"}

// Score returns the score of completion for the sort prompt: 1 when it is
// exactly the sorted letters, else the fraction of positions holding the
// right letter over the longer of the two.
func Score(prompt, completion string) (float64, error) {
	letters, err := promptLetters(prompt)
	if err != nil {
		return 0, err
	}
	want := []rune(letters)
	slices.Sort(want)
	got := []rune(cleanCompletion(completion))
	if slices.Equal(got, want) {
		return 1, nil
	}
	n := max(len(got), len(want))
	if n == 0 {
		return 0, nil
	}
	right := 0
	for i := range min(len(got), len(want)) {
		if got[i] == want[i] {
			right++
		}
	}
	return float64(right) / float64(n), nil
}

// promptLetters returns LETTERS from "sort: LETTERS\n".
func promptLetters(prompt string) (string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(prompt), "sort:")
	if !ok {
		return "", fmt.Errorf("prompt %q is not \"sort: LETTERS\"", clip(prompt))
	}
	return strings.TrimSpace(rest), nil
}

// cleanCompletion removes surrounding white space and a trailing EOS marker.
func cleanCompletion(s string) string {
	s = strings.TrimSpace(s)
	for _, m := range eosMarkers {
		if t, ok := strings.CutSuffix(s, m); ok {
			return strings.TrimSpace(t)
		}
	}
	return s
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// promptText returns the prompt's text: a string, the last user message of a
// list of messages, or of a string holding the JSON of one (as dpo-sample
// writes conversations).
func promptText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
			if u, err := lastUser(json.RawMessage(t)); err == nil {
				return u, nil
			}
		}
		return s, nil
	}
	return lastUser(raw)
}

func lastUser(raw json.RawMessage) (string, error) {
	var msgs []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return "", fmt.Errorf("field prompt: want a string or a list of {role, content} messages")
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content, nil
		}
	}
	return "", fmt.Errorf("field prompt: no user message")
}

// field is one key and raw value of a JSON object, in input order.
type field struct {
	key string
	val json.RawMessage
}

// objectFields returns the members of a JSON object in order.
func objectFields(line []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var fs []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		fs = append(fs, field{t.(string), v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return fs, nil
}

// run judges every line of r and writes the scored lines to w.
func run(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 1<<16)
	bw := bufio.NewWriter(w)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			out, jerr := judgeLine(line)
			if jerr != nil {
				return fmt.Errorf("line %d: %w", n, jerr)
			}
			bw.Write(out)
			bw.WriteByte('\n')
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading line %d: %w", n, err)
		}
	}
	return bw.Flush()
}

// judgeLine returns the line's object with "score" set (replaced where it
// was present, else added last).
func judgeLine(line []byte) ([]byte, error) {
	fs, err := objectFields(line)
	if err != nil {
		return nil, err
	}
	var prompt, completion json.RawMessage
	for _, f := range fs {
		switch f.key {
		case "prompt":
			prompt = f.val
		case "completion":
			completion = f.val
		}
	}
	if prompt == nil {
		return nil, fmt.Errorf("field prompt: missing")
	}
	var comp string
	if completion == nil || json.Unmarshal(completion, &comp) != nil {
		return nil, fmt.Errorf("field completion: want a string")
	}
	p, err := promptText(prompt)
	if err != nil {
		return nil, err
	}
	score, err := Score(p, comp)
	if err != nil {
		return nil, fmt.Errorf("field prompt: %w", err)
	}
	sv := json.RawMessage(strconv.FormatFloat(score, 'g', -1, 64))
	var b bytes.Buffer
	b.WriteByte('{')
	set := false
	for i, f := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		b.Write(k)
		b.WriteByte(':')
		if f.key == "score" {
			b.Write(sv)
			set = true
			continue
		}
		b.Write(f.val)
	}
	if !set {
		if len(fs) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"score":`)
		b.Write(sv)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
