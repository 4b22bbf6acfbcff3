package pairs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// JudgeScores are a judge's scores of completions (docs/judges.md): one
// JSON object per line with id, sample_index and score, keyed by the
// completion's (id, sample_index). dpo-score --rank --scores joins them to
// a completions stream with Take, and Unused names a line that matched no
// completion.
type JudgeScores struct {
	name string
	m    map[judgeKey]*judgeScore
}

type judgeKey struct {
	id     string
	sample int64
}

type judgeScore struct {
	score float64
	line  int
	used  bool
}

// ReadJudgeScoresFile reads a judge's JSON Lines file (ParseJudgeScores).
func ReadJudgeScoresFile(path string) (*JudgeScores, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseJudgeScores(f, path)
}

// ParseJudgeScores reads a judge's JSON Lines output from r, named name in
// errors: every non-blank line holds id (a string or an integer, read as
// pairs' ids are), sample_index (an integer) and score (a number). A
// missing or mistyped field, and an (id, sample_index) on two lines, are
// errors naming the line (both lines for a repeat).
func ParseJudgeScores(r io.Reader, name string) (*JudgeScores, error) {
	js := &JudgeScores{name: name, m: map[judgeKey]*judgeScore{}}
	br := bufio.NewReaderSize(r, 1<<16)
	for n := 1; ; n++ {
		line, rerr := br.ReadBytes('\n')
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var row struct {
				ID          json.RawMessage `json:"id"`
				SampleIndex *int64          `json:"sample_index"`
				Score       *float64        `json:"score"`
			}
			if err := json.Unmarshal(t, &row); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, n, err)
			}
			var id string
			var ok bool
			var fe *fieldError
			if len(row.ID) > 0 {
				id, ok, fe = decodeJSONID("id", row.ID)
			}
			switch {
			case fe != nil:
				return nil, fmt.Errorf("%s:%d: %w", name, n, fe)
			case !ok:
				return nil, fmt.Errorf("%s:%d: field id: missing or null", name, n)
			case row.SampleIndex == nil:
				return nil, fmt.Errorf("%s:%d: field sample_index: missing", name, n)
			case row.Score == nil:
				return nil, fmt.Errorf("%s:%d: field score: missing or null", name, n)
			}
			k := judgeKey{id, *row.SampleIndex}
			if prev, dup := js.m[k]; dup {
				return nil, fmt.Errorf("%s:%d: id %q sample %d scored twice (also on line %d)", name, n, id, k.sample, prev.line)
			}
			js.m[k] = &judgeScore{score: *row.Score, line: n}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("reading %s: %w", name, rerr)
		}
	}
	return js, nil
}

// Len is the number of scores.
func (js *JudgeScores) Len() int { return len(js.m) }

// Take returns the score of completion (id, sample) and marks it used.
func (js *JudgeScores) Take(id string, sample int64) (float64, bool) {
	s, ok := js.m[judgeKey{id, sample}]
	if !ok {
		return 0, false
	}
	s.used = true
	return s.score, true
}

// Unused returns an error naming the first line whose score no Take
// asked for (another run's samples, a wrong sample_index), or nil; in
// names what the completions came from.
func (js *JudgeScores) Unused(in string) error {
	var first *judgeKey
	for k, s := range js.m {
		if !s.used && (first == nil || s.line < js.m[*first].line) {
			first = &k
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("%s:%d: id %q sample %d: no such completion in %s (the judge scored other samples)", js.name, js.m[*first].line, first.id, first.sample, in)
}
