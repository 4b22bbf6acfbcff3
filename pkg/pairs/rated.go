package pairs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/dpo-go/dpo/pkg/chat"
)

// Binarization modes (see [Binarize]).
const (
	BestWorst  = "best-worst"  // the best against the worst completion
	BestRandom = "best-random" // the best against a random other one (UltraFeedback's binarization)
	AllPairs   = "all"         // every ordered pair with a score gap
)

// Skip reasons of rated prompts that yield no pair (see [SkipError]).
const (
	SkipSingle = "single_completion" // fewer than two completions
	SkipTie    = "tied_scores"       // no pair's score gap exceeds MinScoreGap
)

// Binarize turns one prompt's scored completions into preference pairs.
//
//   - best-worst: chosen is the completion with the highest score, rejected
//     the one with the lowest (on equal scores the first in input order);
//   - best-random: chosen is the first completion with the highest score
//     and rejected is drawn uniformly among all the other completions, as
//     HuggingFaceH4/ultrafeedback_binarized was built ("one of the remaining
//     3 at random"); when the draw ties with the chosen score the prompt is
//     skipped as a tie, the filter argilla's cleaned UltraFeedback applies
//     ("filter out examples with chosen rating == rejected rating"). The draw
//     comes from a PCG generator seeded with (Seed, FNV-1a of the prompt's
//     id), so it depends on neither the order nor the other prompts;
//   - all: every ordered pair (i, j) whose score gap s_i − s_j exceeds
//     MinScoreGap, i then j in input order.
//
// A pair is kept only when its score gap exceeds MinScoreGap (0: any
// strictly better completion). A prompt with fewer than two completions, or
// with no qualifying pair, yields none and is reported as a [SkipError].
type Binarize struct {
	Mode        string  `json:"pairs"`         // BestWorst (""), BestRandom or AllPairs
	MinScoreGap float64 `json:"min_score_gap"` // a pair needs s_chosen − s_rejected > MinScoreGap (>= 0)
	Seed        uint64  `json:"seed"`          // best-random's seed
}

// Validate checks the mode and the gap.
func (b Binarize) Validate() error {
	switch b.Mode {
	case "", BestWorst, BestRandom, AllPairs:
	default:
		return fmt.Errorf("pairs: unknown pairing %q (want %s, %s or %s)", b.Mode, BestWorst, BestRandom, AllPairs)
	}
	if math.IsNaN(b.MinScoreGap) || math.IsInf(b.MinScoreGap, 0) || b.MinScoreGap < 0 {
		return fmt.Errorf("pairs: min score gap %v: want a finite number >= 0", b.MinScoreGap)
	}
	return nil
}

// Pairs returns the (chosen, rejected) indices into scores for the prompt
// id, or a skip reason (SkipSingle, SkipTie) when there are none. A score
// that is NaN or infinite is an error naming its index.
func (b Binarize) Pairs(id string, scores []float64) (pairs [][2]int, skip string, err error) {
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, "", fmt.Errorf("score %d is %v, want a finite number", i, s)
		}
	}
	if len(scores) < 2 {
		return nil, SkipSingle, nil
	}
	best := 0
	for i, s := range scores {
		if s > scores[best] {
			best = i
		}
	}
	switch b.Mode {
	case "", BestWorst:
		worst := 0
		for i, s := range scores {
			if s < scores[worst] {
				worst = i
			}
		}
		if scores[best]-scores[worst] > b.MinScoreGap {
			return [][2]int{{best, worst}}, "", nil
		}
	case BestRandom:
		h := fnv.New64a()
		h.Write([]byte(id))
		rng := rand.New(rand.NewPCG(b.Seed, h.Sum64()))
		r := rng.IntN(len(scores) - 1)
		if r >= best {
			r++
		}
		if scores[best]-scores[r] > b.MinScoreGap {
			return [][2]int{{best, r}}, "", nil
		}
	case AllPairs:
		for i, si := range scores {
			for j, sj := range scores {
				if si-sj > b.MinScoreGap {
					pairs = append(pairs, [2]int{i, j})
				}
			}
		}
		if len(pairs) > 0 {
			return pairs, "", nil
		}
	default:
		return nil, "", b.Validate()
	}
	return nil, SkipTie, nil
}

// SkipError reports a rated prompt that yields no pair (Reason is SkipSingle
// or SkipTie). Like a RowError it is recoverable; readers of pairs count it
// rather than fail.
type SkipError struct {
	File   string
	Row    int64 // the prompt's (first) row
	ID     string
	Reason string
	Detail string // e.g. "4 completions, scores [1 1 1 1]"
}

func (e *SkipError) Error() string {
	return fmt.Sprintf("%s: row %d (id %q): skipped (%s): %s", e.File, e.Row, e.ID, e.Reason, e.Detail)
}

// RatedStats counts the rated input a reader has seen.
type RatedStats struct {
	Prompts     int64 `json:"prompts"`     // rated prompts (rows, or groups of flat rows)
	Completions int64 `json:"completions"` // scored completions
	Pairs       int64 `json:"pairs"`       // pairs produced
}

// ratedNames are the dataset's names of the rated roles.
type ratedNames struct {
	completions, scores, completion, score, sampleIndex string
}

func resolveRatedNames(m map[string]string) ratedNames {
	n := ratedNames{"completions", "scores", "completion", "score", "sample_index"}
	for role, dst := range map[string]*string{"completions": &n.completions, "scores": &n.scores, "completion": &n.completion, "score": &n.score, "sample_index": &n.sampleIndex} {
		if v, ok := m[role]; ok && v != "" {
			*dst = v
		}
	}
	return n
}

// rawRecords yields JSON records: their bytes (valid until the next call),
// row and line (0 when not JSON Lines).
type rawRecords interface {
	nextRaw() ([]byte, int64, int64, error)
	Close() error
}

// Shapes of a JSON input, decided from its first record.
const (
	shapeUndecided = iota
	shapePairs
	shapeGrouped
	shapeFlat
)

// ratedReader reads a JSON input that may hold rated completions: grouped
// rows {prompt, completions, scores}, flat rows {id, prompt, completion,
// score} (grouped by id), or ordinary preference pairs (passed through).
type ratedReader struct {
	name     string
	src      rawRecords
	names    columns
	rn       ratedNames
	b        Binarize
	shape    int
	queue    []queued
	flatRows []flatRow // flat rows buffered until the input ends
	flat     bool      // the flat rows were all read
	first    int64
	rows     int64 // records consumed
	stats    RatedStats
	err      error
	closed   bool
	seen     jsonSeen // mapped columns the records had (see jsonSeen)
	// groupedIDs is where each id of a grouped row was first seen: a
	// repeated id would give two prompts the same pair ids.
	groupedIDs map[string]string
}

type queued struct {
	ex  Example
	err error
}

func newRatedReader(name string, src rawRecords, names columns, rn ratedNames, b Binarize) *ratedReader {
	return &ratedReader{name: name, src: src, names: names, rn: rn, b: b}
}

func (r *ratedReader) setFirstRow(n int64) {
	r.first = n
	if fr, ok := r.src.(firstRow); ok {
		fr.setFirstRow(n)
	}
}

func (r *ratedReader) rowsRead() int64 { return r.rows }

// RatedStats returns the counts so far.
func (r *ratedReader) RatedStats() RatedStats { return r.stats }

func (r *ratedReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	return r.src.Close()
}

func (r *ratedReader) Next() (Example, error) {
	for {
		if len(r.queue) > 0 {
			q := r.queue[0]
			r.queue = r.queue[1:]
			return q.ex, q.err
		}
		if r.err != nil {
			return Example{}, r.err
		}
		if r.shape == shapeFlat {
			if r.flat {
				r.err = io.EOF
				if err := r.seen.check(r.name, r.names); err != nil {
					r.err = err
				}
				return Example{}, r.err
			}
			r.readFlat()
			continue
		}
		raw, row, line, err := r.src.nextRaw()
		if err == io.EOF {
			if cerr := r.seen.check(r.name, r.names); cerr != nil {
				err = cerr
			}
		}
		if err != nil {
			r.err = err
			return Example{}, err
		}
		r.rows++
		if r.shape == shapeUndecided {
			r.shape = r.detect(raw)
		}
		switch r.shape {
		case shapePairs:
			return exampleFromJSON(raw, row, r.name, line, true, r.names, &r.seen)
		case shapeGrouped:
			r.grouped(raw, row, line)
		case shapeFlat:
			r.flatRows = append(r.flatRows, flatRow{raw: slices.Clone(raw), row: row, line: line})
		}
	}
}

// detect decides the input's shape from its first record: a completions
// field makes it grouped, completion and score fields without chosen make it
// flat, anything else is read as preference pairs.
func (r *ratedReader) detect(raw []byte) int {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return shapePairs // the pairs decoder reports the error
	}
	_, hasCompletions := obj[r.rn.completions]
	_, hasCompletion := obj[r.rn.completion]
	_, hasScore := obj[r.rn.score]
	_, hasChosen := obj[r.names[colChosen]]
	switch {
	case hasCompletions:
		return shapeGrouped
	case hasCompletion && hasScore && !hasChosen:
		return shapeFlat
	}
	return shapePairs
}

// candidate is one scored completion of a prompt.
type candidate struct {
	text  Text
	score float64
	label string // the index used in pair ids
}

// grouped decodes one grouped row and queues its pairs, its skip, or its error.
func (r *ratedReader) grouped(raw []byte, row, line int64) {
	rowErr := func(ex Example, fe *fieldError) {
		r.queue = append(r.queue, queued{ex, &RowError{File: r.name, Row: row, Line: line, Field: fe.field, Err: fe.err, Raw: slices.Clone(raw)}})
	}
	rec, fe := decodeJSONRecord(raw, r.names)
	r.seen.add(rec)
	ex := Example{Row: row, ID: strconv.FormatInt(row, 10)}
	if rec != nil && rec.hasID {
		ex.ID = rec.id
	}
	if fe != nil {
		rowErr(ex, fe)
		return
	}
	if rec.hasID {
		where := fmt.Sprintf("row %d", row)
		if line > 0 {
			where = fmt.Sprintf("line %d", line)
		}
		if other, dup := r.groupedIDs[rec.id]; dup {
			rowErr(ex, ferr(r.names[colID], ErrDuplicate, "id %q is also the id of %s: a prompt's completions belong in one row (or use flat rows, which are grouped by id)", rec.id, other))
			return
		}
		if r.groupedIDs == nil {
			r.groupedIDs = map[string]string{}
		}
		r.groupedIDs[rec.id] = where
	}
	var obj map[string]json.RawMessage
	_ = json.Unmarshal(raw, &obj) // decodeJSONRecord succeeded
	cands, fe := r.decodeCandidates(obj)
	if fe != nil {
		rowErr(ex, fe)
		return
	}
	prompt, cands, fe := r.reconcile(rec, cands)
	if fe != nil {
		rowErr(ex, fe)
		return
	}
	r.emit(ex, rec, prompt, cands)
}

// decodeCandidates reads a grouped row's completions and scores.
func (r *ratedReader) decodeCandidates(obj map[string]json.RawMessage) ([]candidate, *fieldError) {
	cf := r.rn.completions
	raw := bytes.TrimSpace(obj[cf])
	if k := jsonKind(raw); k != "array" {
		return nil, ferr(cf, ErrType, "expected a list of completions, got %s", k)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, ferr(cf, ErrSyntax, "%v", err)
	}
	var scores []json.RawMessage
	sraw, hasScores := obj[r.rn.scores]
	if hasScores && jsonKind(sraw) != "null" {
		sraw = bytes.TrimSpace(sraw)
		if k := jsonKind(sraw); k != "array" {
			return nil, ferr(r.rn.scores, ErrType, "expected a list of numbers, got %s", k)
		}
		if err := json.Unmarshal(sraw, &scores); err != nil {
			return nil, ferr(r.rn.scores, ErrSyntax, "%v", err)
		}
		if len(scores) != len(elems) {
			return nil, ferr(r.rn.scores, ErrType, "has %d scores for %d completions", len(scores), len(elems))
		}
	} else {
		hasScores = false
	}
	cands := make([]candidate, len(elems))
	for i, e := range elems {
		path := fmt.Sprintf("%s[%d]", cf, i)
		e = bytes.TrimSpace(e)
		c := candidate{label: strconv.Itoa(i)}
		var scoreRaw json.RawMessage
		scorePath := fmt.Sprintf("%s[%d]", r.rn.scores, i)
		if jsonKind(e) == "object" {
			// A completion object: raw UltraFeedback's {response,
			// overall_score, ...} with --columns completion=response,score=overall_score.
			var o map[string]json.RawMessage
			if err := json.Unmarshal(e, &o); err != nil {
				return nil, ferr(path, ErrSyntax, "%v", err)
			}
			t, ok := o[r.rn.completion]
			if !ok {
				return nil, ferr(path+"."+r.rn.completion, ErrMissing, "missing (map the completion text with --columns completion=NAME)")
			}
			e = t
			path += "." + r.rn.completion
			if !hasScores {
				scoreRaw, ok = o[r.rn.score]
				scorePath = fmt.Sprintf("%s[%d].%s", cf, i, r.rn.score)
				if !ok {
					return nil, ferr(scorePath, ErrMissing, "missing, and the row has no %q list (map the score with --columns score=NAME)", r.rn.scores)
				}
			}
		} else if !hasScores {
			return nil, ferr(r.rn.scores, ErrMissing, "missing: completions that are not objects need a parallel list of scores")
		}
		if hasScores {
			scoreRaw = scores[i]
		}
		v, fe := decodeCompletionText(path, e)
		if fe != nil {
			return nil, fe
		}
		c.text = v
		if c.score, fe = decodeScore(scorePath, scoreRaw); fe != nil {
			return nil, fe
		}
		cands[i] = c
	}
	return cands, nil
}

// decodeCompletionText reads a completion: a string (empty allowed: a
// sampled completion may be nothing but EOS) or a non-empty list of messages.
func decodeCompletionText(path string, raw json.RawMessage) (Text, *fieldError) {
	v, fe := decodeJSONText(path, raw)
	if fe != nil {
		return Text{}, fe
	}
	switch v.kind {
	case absent, null:
		return Text{}, ferr(path, ErrMissing, "is null")
	case messages:
		if len(v.msgs) == 0 {
			return Text{}, ferr(path, ErrEmpty, "empty completion (empty list of messages)")
		}
	}
	return v.text(), nil
}

// decodeScore reads a finite JSON number.
func decodeScore(path string, raw json.RawMessage) (float64, *fieldError) {
	raw = bytes.TrimSpace(raw)
	if k := jsonKind(raw); k != "number" {
		return 0, ferr(path, ErrType, "expected a number (the score), got %s", k)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, ferr(path, ErrType, "score %s is not a finite float64", raw)
	}
	return f, nil
}

// reconcile returns the prompt and the completions of one kind: a prompt
// that is a list of messages (or a string holding the JSON of one, as
// dpo-sample writes conversations) makes string completions assistant
// messages; message-list completions need a message-list prompt.
func (r *ratedReader) reconcile(rec *record, cands []candidate) (Text, []candidate, *fieldError) {
	pf := r.names[colPrompt]
	var prompt Text
	switch rec.prompt.kind {
	case absent, null:
		return Text{}, nil, ferr(pf, ErrMissing, "missing: rated completions need an explicit prompt")
	case messages:
		if len(rec.prompt.msgs) == 0 {
			return Text{}, nil, ferr(pf, ErrEmpty, "empty list of messages")
		}
		prompt = rec.prompt.text()
	case str:
		prompt = Text{Str: rec.prompt.str}
		if msgs, ok := messagesInString(rec.prompt.str); ok {
			prompt = Text{Messages: msgs}
		}
	}
	for i := range cands {
		c := &cands[i]
		switch {
		case prompt.IsChat() && !c.text.IsChat():
			c.text = Text{Messages: []chat.Message{{Role: "assistant", Content: c.text.Str}}}
		case !prompt.IsChat() && c.text.IsChat():
			return Text{}, nil, ferr(fmt.Sprintf("%s[%d]", r.rn.completions, i), ErrMixedKinds, "completion is a list of messages but the prompt is a string")
		}
	}
	return prompt, cands, nil
}

// messagesInString reports whether s is the JSON of a non-empty list of
// {role, content} messages (dpo-sample's prompt column for conversations).
func messagesInString(s string) ([]chat.Message, bool) {
	t := bytes.TrimSpace([]byte(s))
	if len(t) < 2 || t[0] != '[' {
		return nil, false
	}
	v, fe := decodeJSONText("prompt", t)
	if fe != nil || v.kind != messages || len(v.msgs) == 0 {
		return nil, false
	}
	return v.msgs, true
}

// emit binarizes one prompt's candidates and queues the pairs or the skip.
func (r *ratedReader) emit(ex Example, rec *record, prompt Text, cands []candidate) {
	r.stats.Prompts++
	r.stats.Completions += int64(len(cands))
	scores := make([]float64, len(cands))
	for i, c := range cands {
		scores[i] = c.score
	}
	idx, skip, err := r.b.Pairs(ex.ID, scores)
	if err != nil { // scores were checked finite when decoded
		r.queue = append(r.queue, queued{ex, &RowError{File: r.name, Row: ex.Row, Field: r.rn.scores, Err: err}})
		return
	}
	if skip != "" {
		r.queue = append(r.queue, queued{ex, &SkipError{File: r.name, Row: ex.Row, ID: ex.ID, Reason: skip,
			Detail: fmt.Sprintf("%d completion(s), scores %v", len(cands), scores)}})
		return
	}
	for _, p := range idx {
		c, j := cands[p[0]], cands[p[1]]
		r.queue = append(r.queue, queued{ex: Example{
			ID:       ex.ID + "/" + c.label + "-" + j.label,
			Row:      ex.Row,
			Prompt:   prompt,
			Chosen:   c.text,
			Rejected: j.text,
			System:   rec.system,
			Tools:    rec.tools,
		}})
		r.stats.Pairs++
	}
}

// flatRow is one buffered record of a flat input.
type flatRow struct {
	raw       []byte
	row, line int64
}

// readFlat reads every remaining flat row, groups them by id in order of
// first appearance and queues each group's pairs.
func (r *ratedReader) readFlat() {
	for {
		raw, row, line, err := r.src.nextRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.err = err
			return
		}
		r.rows++
		r.flatRows = append(r.flatRows, flatRow{raw: slices.Clone(raw), row: row, line: line})
	}
	r.flat = true
	type group struct {
		ex    Example
		rec   *record
		cands []candidate
		where map[string]string // label -> where its row is ("line 3", "row 2")
	}
	var order []*group
	byID := map[string]*group{}
	for _, fr := range r.flatRows {
		rowErr := func(id string, fe *fieldError) {
			r.queue = append(r.queue, queued{Example{Row: fr.row, ID: id}, &RowError{File: r.name, Row: fr.row, Line: fr.line, Field: fe.field, Err: fe.err, Raw: fr.raw}})
		}
		rec, fe := decodeJSONRecord(fr.raw, r.names)
		r.seen.add(rec)
		id := strconv.FormatInt(fr.row, 10)
		if rec != nil && rec.hasID {
			id = rec.id
		}
		if fe != nil {
			rowErr(id, fe)
			continue
		}
		if !rec.hasID {
			rowErr(id, ferr(r.names[colID], ErrMissing, "missing: flat rated rows are grouped by id"))
			continue
		}
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(fr.raw, &obj)
		text, fe := decodeCompletionText(r.rn.completion, obj[r.rn.completion])
		if fe != nil {
			rowErr(id, fe)
			continue
		}
		score, fe := decodeScore(r.rn.score, obj[r.rn.score])
		if fe != nil {
			rowErr(id, fe)
			continue
		}
		label := ""
		if si, ok := obj[r.rn.sampleIndex]; ok && jsonKind(si) != "null" {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(si)), 10, 64)
			if err != nil || n < 0 {
				rowErr(id, ferr(r.rn.sampleIndex, ErrType, "expected an integer >= 0, got %s", bytes.TrimSpace(si)))
				continue
			}
			label = strconv.FormatInt(n, 10)
		}
		g := byID[id]
		if g == nil {
			g = &group{ex: Example{Row: fr.row, ID: id}, rec: rec}
			byID[id] = g
			order = append(order, g)
		} else if !sameValue(g.rec.prompt, rec.prompt) {
			rowErr(id, ferr(r.names[colPrompt], ErrType, "differs from the prompt of the first row with id %q (row %d)", id, g.ex.Row))
			continue
		}
		explicit := label != ""
		if !explicit {
			label = strconv.Itoa(len(g.cands))
		}
		here := fmt.Sprintf("row %d", fr.row)
		if fr.line > 0 {
			here = fmt.Sprintf("line %d", fr.line)
		}
		if other, dup := g.where[label]; dup {
			if explicit {
				rowErr(id, ferr(r.rn.sampleIndex, ErrDuplicate, "id %q %s %s is also on %s", id, r.rn.sampleIndex, label, other))
			} else {
				rowErr(id, ferr(r.rn.sampleIndex, ErrDuplicate, "id %q: this row without %s is its group's completion %s, whose %s is also on %s", id, r.rn.sampleIndex, label, r.rn.sampleIndex, other))
			}
			continue
		}
		if g.where == nil {
			g.where = map[string]string{}
		}
		g.where[label] = here
		g.cands = append(g.cands, candidate{text: text, score: score, label: label})
	}
	r.flatRows = nil
	for _, g := range order {
		prompt, cands, fe := r.reconcile(g.rec, g.cands)
		if fe != nil {
			r.queue = append(r.queue, queued{g.ex, &RowError{File: r.name, Row: g.ex.Row, Field: fe.field, Err: fe.err}})
			continue
		}
		r.emit(g.ex, g.rec, prompt, cands)
	}
}

// sameValue reports whether two decoded prompts are equal (the same text or
// the same messages), however their JSON was written.
func sameValue(a, b value) bool {
	if a.kind != b.kind {
		return false
	}
	if a.kind == messages {
		return slices.Equal(a.msgs, b.msgs)
	}
	return a.str == b.str
}
